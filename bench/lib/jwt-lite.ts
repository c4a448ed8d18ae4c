/**
 * HS256 JWTs for the Socket.IO peer's handshake auth: the peer verifies a signed token per
 * connection, as a typical Socket.IO chat backend would, so its connections are authenticated too.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url');

export function signToken(claims: Record<string, unknown>, secret: string, ttlSec = 3600): string {
  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + ttlSec }));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** The claims of a valid, unexpired token, or null. */
export function verifyToken(token: unknown, secret: string): Record<string, unknown> | null {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const expected = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return null;
    return claims;
  } catch {
    return null;
  }
}
