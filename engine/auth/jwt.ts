/**
 * Access tokens: compact JWS (RFC 7515/7519) signed with HMAC-SHA256, built on node:crypto alone.
 *
 * Verification trusts nothing in the token before the signature is checked, and pins the algorithm:
 * the header's `alg` must be exactly "HS256" (anything else, "none" included, is 'bad_alg'); it never
 * selects how the signature is checked. The key is selected by `kid` from a keyring: `current` signs,
 * `current` and `previous` verify, so keys rotate by moving current into previous, waiting one
 * access-token lifetime, then dropping it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../../protocol/ids.ts';

export interface JwtKey {
  /** Key id written to the header; unique within a keyring. */
  kid: string;
  /** HMAC key: a string is taken as UTF-8 bytes. At least 32 bytes. */
  secret: string | Uint8Array;
}

export interface JwtKeyring {
  current: JwtKey;
  previous?: readonly JwtKey[];
}

/** The claims of an access token. Times are NumericDate: seconds since the epoch. */
export interface AccessTokenClaims {
  /** User id. */
  sub: string;
  /** Session id. */
  sid: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export type TokenErrorReason =
  | 'malformed' | 'bad_signature' | 'expired' | 'wrong_audience' | 'wrong_issuer' | 'unknown_kid' | 'bad_alg';

/** Why a token was refused. 'malformed' also covers claims that are missing, mistyped or from the future. */
export class TokenError extends Error {
  constructor(readonly reason: TokenErrorReason, message: string = reason) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface JwtOptions {
  keyring: JwtKeyring;
  issuer: string;
  audience: string;
  clock?: Clock;
  /** Allowed clock difference between servers, applied to exp, nbf and iat. Default 5000 ms. */
  clockToleranceMs?: number;
}

const MIN_SECRET_BYTES = 32;
const MAX_TOKEN_CHARS = 4096;
const SEGMENT_RE = /^[A-Za-z0-9_-]+$/;

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function parseSegment(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('malformed', 'segment is not base64url JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenError('malformed', 'segment is not a JSON object');
  return value as Record<string, unknown>;
}

const isNonEmptyString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isNumericDate = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Signs and verifies HS256 access tokens for one issuer and audience. */
export class JwtCodec {
  private readonly keys = new Map<string, Buffer>();
  private readonly currentKid: string;
  private readonly clock: Clock;
  private readonly toleranceMs: number;

  /** Throws RangeError for a secret shorter than 32 bytes, an empty kid or a kid used twice. */
  constructor(private readonly opts: JwtOptions) {
    for (const key of [opts.keyring.current, ...(opts.keyring.previous ?? [])]) {
      if (!isNonEmptyString(key.kid)) throw new RangeError('kid must be a non-empty string');
      if (this.keys.has(key.kid)) throw new RangeError(`duplicate kid ${key.kid}`);
      const secret = typeof key.secret === 'string' ? Buffer.from(key.secret, 'utf8') : Buffer.from(key.secret);
      if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`secret of kid ${key.kid} is shorter than ${MIN_SECRET_BYTES} bytes`);
      this.keys.set(key.kid, secret);
    }
    this.currentKid = opts.keyring.current.kid;
    this.clock = opts.clock ?? systemClock;
    this.toleranceMs = opts.clockToleranceMs ?? 5000;
  }

  /** A token for `sub`/`sid`, issued now and expiring after ttlMs (≥ 1000), signed with the current key. */
  sign(subject: { sub: string; sid: string }, ttlMs: number): string {
    if (!Number.isFinite(ttlMs) || ttlMs < 1000) throw new RangeError('ttlMs must be at least 1000');
    const now = this.clock.now();
    const claims: AccessTokenClaims = {
      sub: subject.sub,
      sid: subject.sid,
      iat: Math.floor(now / 1000),
      exp: Math.floor((now + ttlMs) / 1000),
      iss: this.opts.issuer,
      aud: this.opts.audience,
    };
    const input = `${b64urlJson({ alg: 'HS256', typ: 'JWT', kid: this.currentKid })}.${b64urlJson(claims)}`;
    return `${input}.${this.mac(this.keys.get(this.currentKid)!, input)}`;
  }

  /** The claims of a valid token; otherwise throws TokenError (never anything else). */
  verify(token: string): AccessTokenClaims {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_CHARS) throw new TokenError('malformed');
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => SEGMENT_RE.test(p))) throw new TokenError('malformed', 'not a compact JWS');
    const [h, p, s] = parts as [string, string, string];

    const header = parseSegment(h);
    if (header.alg !== 'HS256') throw new TokenError('bad_alg', `alg ${JSON.stringify(header.alg)} is not accepted`);
    if (header.typ !== undefined && header.typ !== 'JWT') throw new TokenError('malformed', 'typ is not JWT');
    if (header.crit !== undefined) throw new TokenError('malformed', 'crit extensions are not supported');
    const key = typeof header.kid === 'string' ? this.keys.get(header.kid) : undefined;
    if (!key) throw new TokenError('unknown_kid');

    const expected = Buffer.from(this.mac(key, `${h}.${p}`), 'latin1');
    const given = Buffer.from(s, 'latin1');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('bad_signature');

    const c = parseSegment(p);
    if (!isNonEmptyString(c.sub) || !isNonEmptyString(c.sid) || !isNumericDate(c.iat) || !isNumericDate(c.exp)
      || typeof c.iss !== 'string' || !(typeof c.aud === 'string' || Array.isArray(c.aud))) {
      throw new TokenError('malformed', 'missing or mistyped claims');
    }
    if (c.iss !== this.opts.issuer) throw new TokenError('wrong_issuer');
    const audiences: unknown[] = Array.isArray(c.aud) ? c.aud : [c.aud];
    if (!audiences.includes(this.opts.audience)) throw new TokenError('wrong_audience');

    const now = this.clock.now();
    if (c.exp <= c.iat) throw new TokenError('malformed', 'exp is not after iat');
    if (c.iat * 1000 > now + this.toleranceMs) throw new TokenError('malformed', 'iat is in the future');
    if (c.nbf !== undefined && (!isNumericDate(c.nbf) || c.nbf * 1000 > now + this.toleranceMs)) {
      throw new TokenError('malformed', 'not valid yet');
    }
    if (now >= c.exp * 1000 + this.toleranceMs) throw new TokenError('expired');

    return { sub: c.sub, sid: c.sid, iat: c.iat, exp: c.exp, iss: c.iss, aud: this.opts.audience };
  }

  private mac(key: Buffer, input: string): string {
    return createHmac('sha256', key).update(input, 'ascii').digest('base64url');
  }
}
