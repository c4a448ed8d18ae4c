/**
 * Password hashing: argon2id (RFC 9106) via @node-rs/argon2, whose async API computes on the libuv
 * thread pool, off the event loop. Parameters are the OWASP minimum for argon2id (19 MiB, 2 passes,
 * 1 lane); hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that carry their
 * own parameters, so raising them later only needs a rehash-on-login (see passwordNeedsRehash).
 */
import { hash, parseOptions, verify, type Algorithm, type Options } from '@node-rs/argon2';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** argon2id, m=19456 KiB, t=2, p=1 (the package's `Algorithm` is a const enum; 2 = Argon2id). */
export const ARGON2_OPTIONS: Readonly<Options> = Object.freeze({
  algorithm: 2 as Algorithm,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/**
 * A hash of a random, discarded password, made with ARGON2_OPTIONS. Verifying against it costs
 * what a real verification costs and never succeeds; keep its parameters equal to ARGON2_OPTIONS
 * (test/unit/passwords.test.ts checks).
 */
export const DUMMY_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$RyLIPjIGCktGZlS9eB8PEA$2kR5sLcRGt2RWK6LeGNOTOwaiL3hud6nj6JA2YHciF8';

/**
 * Length in Unicode code points, so that a password is not penalised for non-ASCII characters.
 * Strings longer than 2 × PASSWORD_MAX_LENGTH UTF-16 units are over the limit without counting.
 */
function passwordLength(password: string): number {
  if (password.length > PASSWORD_MAX_LENGTH * 2) return Number.POSITIVE_INFINITY;
  let n = 0;
  for (const _ of password) n++;
  return n;
}

/** True when `password` is a string of PASSWORD_MIN_LENGTH..PASSWORD_MAX_LENGTH code points. */
export function isAcceptablePassword(password: unknown): password is string {
  if (typeof password !== 'string') return false;
  const n = passwordLength(password);
  return n >= PASSWORD_MIN_LENGTH && n <= PASSWORD_MAX_LENGTH;
}

/**
 * Hashes a new password (random 16-byte salt) to a PHC string. Throws RangeError if the password
 * fails isAcceptablePassword — callers validate first to give the user a precise message.
 */
export async function hashPassword(password: string): Promise<string> {
  if (!isAcceptablePassword(password)) {
    throw new RangeError(`password must be ${PASSWORD_MIN_LENGTH}-${PASSWORD_MAX_LENGTH} characters`);
  }
  return hash(password, ARGON2_OPTIONS);
}

/**
 * Checks `password` against a stored PHC hash. With `storedHash === null` (no such account) it
 * verifies against DUMMY_PASSWORD_HASH and resolves false, so that a login for an unknown email
 * costs the same time as one with a wrong password. Passwords that are empty or longer than
 * PASSWORD_MAX_LENGTH resolve false without hashing (this depends only on the caller's input, so it
 * reveals nothing about the account). The minimum length is not enforced here, so that raising it
 * later does not lock out existing accounts. A malformed stored hash rejects (a server fault).
 */
export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length === 0 || passwordLength(password) > PASSWORD_MAX_LENGTH) {
    return false;
  }
  const ok = await verify(storedHash ?? DUMMY_PASSWORD_HASH, password);
  return storedHash !== null && ok;
}

/** True when `storedHash` was made with other parameters than ARGON2_OPTIONS (rehash after a successful login). */
export function passwordNeedsRehash(storedHash: string): boolean {
  try {
    const p = parseOptions(storedHash);
    return p.algorithm !== ARGON2_OPTIONS.algorithm || p.memoryCost !== ARGON2_OPTIONS.memoryCost
      || p.timeCost !== ARGON2_OPTIONS.timeCost || p.parallelism !== ARGON2_OPTIONS.parallelism;
  } catch {
    return true;
  }
}
