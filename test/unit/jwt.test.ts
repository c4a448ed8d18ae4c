import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { JwtCodec, TokenError, type JwtKeyring, type TokenErrorReason } from '../../engine/auth/jwt.ts';

const SECRET_A = 'a'.repeat(32) + '-secret-of-key-A';
const SECRET_B = 'b'.repeat(32) + '-secret-of-key-B';
const T0 = 1_800_000_000_000;

function setup(keyring: JwtKeyring = { current: { kid: 'k1', secret: SECRET_A } }) {
  const clock = { t: T0, now() { return this.t; } };
  const codec = new JwtCodec({ keyring, issuer: 'guildhall', audience: 'guildhall-api', clock, clockToleranceMs: 0 });
  return { clock, codec };
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const claims = (over: Record<string, unknown> = {}) => ({
  sub: '1', sid: '2', iat: T0 / 1000, exp: T0 / 1000 + 900, iss: 'guildhall', aud: 'guildhall-api', ...over,
});

/** Builds a token by hand, signing with HMAC-SHA256 (or with `sig` verbatim). */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, secret = SECRET_A, sig?: string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sig ?? createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function rejects(codec: JwtCodec, token: string, reason: TokenErrorReason) {
  assert.throws(() => codec.verify(token), (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected TokenError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

describe('JwtCodec', () => {
  it('round-trips sub/sid with iat, exp, iss, aud and a kid header', () => {
    const { codec } = setup();
    const token = codec.sign({ sub: '42', sid: '77' }, 15 * 60_000);
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString());
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', kid: 'k1' });
    assert.deepEqual(codec.verify(token), {
      sub: '42', sid: '77', iat: T0 / 1000, exp: T0 / 1000 + 900, iss: 'guildhall', aud: 'guildhall-api',
    });
  });

  it('accepts a hand-made HS256 token (interoperable encoding)', () => {
    const { codec } = setup();
    assert.equal(codec.verify(forge({ alg: 'HS256', typ: 'JWT', kid: 'k1' }, claims())).sub, '1');
  });

  it('rejects a forged or tampered signature', () => {
    const { codec } = setup();
    rejects(codec, forge({ alg: 'HS256', kid: 'k1' }, claims(), 'x'.repeat(48)), 'bad_signature');
    const good = codec.sign({ sub: '1', sid: '2' }, 60_000);
    const [h, , s] = good.split('.');
    rejects(codec, `${h}.${b64(claims({ sub: 'admin' }))}.${s}`, 'bad_signature');
    rejects(codec, `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`, 'bad_signature');
    rejects(codec, `${good}AA`, 'bad_signature');
  });

  it('rejects alg none, with or without a signature', () => {
    const { codec } = setup();
    rejects(codec, `${b64({ alg: 'none', kid: 'k1' })}.${b64(claims())}.`, 'malformed');
    rejects(codec, forge({ alg: 'none', kid: 'k1' }, claims()), 'bad_alg');
    rejects(codec, forge({ alg: 'None', kid: 'k1' }, claims()), 'bad_alg');
    rejects(codec, forge({ kid: 'k1' }, claims()), 'bad_alg');
  });

  it('rejects other algorithms in the header even when the HMAC matches', () => {
    const { codec } = setup();
    rejects(codec, forge({ alg: 'HS512', kid: 'k1' }, claims()), 'bad_alg');
    rejects(codec, forge({ alg: 'RS256', kid: 'k1' }, claims()), 'bad_alg');
    rejects(codec, forge({ alg: 'hs256', kid: 'k1' }, claims()), 'bad_alg');
  });

  it('rejects the wrong audience and the wrong issuer', () => {
    const { codec } = setup();
    rejects(codec, forge({ alg: 'HS256', kid: 'k1' }, claims({ aud: 'other' })), 'wrong_audience');
    rejects(codec, forge({ alg: 'HS256', kid: 'k1' }, claims({ iss: 'evil' })), 'wrong_issuer');
    assert.equal(codec.verify(forge({ alg: 'HS256', kid: 'k1' }, claims({ aud: ['x', 'guildhall-api'] }))).aud, 'guildhall-api');
  });

  it('expires at exp by the injected clock', () => {
    const { codec, clock } = setup();
    const token = codec.sign({ sub: '1', sid: '2' }, 60_000);
    clock.t += 59_999;
    assert.equal(codec.verify(token).sub, '1');
    clock.t += 1;
    rejects(codec, token, 'expired');
  });

  it('applies the clock tolerance', () => {
    const clock = { now: () => T0 + 61_000 };
    const codec = new JwtCodec({ keyring: { current: { kid: 'k1', secret: SECRET_A } }, issuer: 'guildhall', audience: 'guildhall-api', clock });
    assert.equal(codec.verify(forge({ alg: 'HS256', kid: 'k1' }, claims({ exp: T0 / 1000 + 60 }))).sub, '1');
  });

  it('rejects unknown kids and missing kids', () => {
    const { codec } = setup();
    rejects(codec, forge({ alg: 'HS256', kid: 'k9' }, claims()), 'unknown_kid');
    rejects(codec, forge({ alg: 'HS256' }, claims()), 'unknown_kid');
  });

  it('rejects malformed tokens and insane claims', () => {
    const { codec } = setup();
    for (const t of ['', 'abc', 'a.b', 'a.b.c.d', 'a b.c.d', `${b64([1])}.${b64(claims())}.x`, 'x'.repeat(5000)]) rejects(codec, t, 'malformed');
    const h = { alg: 'HS256', kid: 'k1' };
    rejects(codec, forge(h, claims({ sub: 5 })), 'malformed');
    rejects(codec, forge(h, claims({ sid: '' })), 'malformed');
    rejects(codec, forge(h, claims({ exp: '9999999999' })), 'malformed');
    rejects(codec, forge(h, claims({ iat: T0 / 1000 + 3600, exp: T0 / 1000 + 7200 })), 'malformed');
    rejects(codec, forge(h, claims({ nbf: T0 / 1000 + 60 })), 'malformed');
    rejects(codec, forge(h, claims({ exp: T0 / 1000 })), 'malformed');
    rejects(codec, forge({ ...h, typ: 'at+jwt' }, claims()), 'malformed');
    rejects(codec, forge({ ...h, crit: ['b64'] }, claims()), 'malformed');
  });

  it('rotates keys: previous keys verify, new tokens use the current kid', () => {
    const old = setup({ current: { kid: 'k1', secret: SECRET_A } }).codec;
    const oldToken = old.sign({ sub: '1', sid: '2' }, 60_000);
    const { codec } = setup({ current: { kid: 'k2', secret: SECRET_B }, previous: [{ kid: 'k1', secret: SECRET_A }] });
    assert.equal(codec.verify(oldToken).sub, '1');
    const fresh = codec.sign({ sub: '3', sid: '4' }, 60_000);
    assert.equal(JSON.parse(Buffer.from(fresh.split('.')[0]!, 'base64url').toString()).kid, 'k2');
    assert.equal(codec.verify(fresh).sub, '3');
    rejects(old, fresh, 'unknown_kid');
    // A kid naming one key with the signature of another fails.
    rejects(codec, forge({ alg: 'HS256', kid: 'k2' }, claims(), SECRET_A), 'bad_signature');
  });

  it('refuses weak or ambiguous keyrings', () => {
    const base = { issuer: 'i', audience: 'a' };
    assert.throws(() => new JwtCodec({ ...base, keyring: { current: { kid: 'k', secret: 'short' } } }), RangeError);
    assert.throws(() => new JwtCodec({ ...base, keyring: { current: { kid: '', secret: SECRET_A } } }), RangeError);
    assert.throws(() => new JwtCodec({
      ...base, keyring: { current: { kid: 'k', secret: SECRET_A }, previous: [{ kid: 'k', secret: SECRET_B }] },
    }), RangeError);
  });
});
