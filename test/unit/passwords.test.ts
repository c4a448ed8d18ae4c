import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from '@node-rs/argon2';
import {
  ARGON2_OPTIONS, DUMMY_PASSWORD_HASH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH,
  hashPassword, isAcceptablePassword, passwordNeedsRehash, verifyPassword,
} from '../../engine/auth/passwords.ts';

describe('passwords', () => {
  it('hashes with argon2id m=19456 t=2 p=1 and a fresh salt', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(a, b);
    assert.equal(passwordNeedsRehash(a), false);
  });

  it('verifies the right password and refuses others', async () => {
    const h = await hashPassword('correct horse battery');
    assert.equal(await verifyPassword(h, 'correct horse battery'), true);
    assert.equal(await verifyPassword(h, 'correct horse batterY'), false);
    assert.equal(await verifyPassword(h, ''), false);
    assert.equal(await verifyPassword(h, 'x'.repeat(PASSWORD_MAX_LENGTH + 1)), false);
  });

  it('handles non-ASCII passwords by code points', async () => {
    const pw = '🔑'.repeat(PASSWORD_MIN_LENGTH);
    assert.equal(isAcceptablePassword(pw), true);
    assert.equal(isAcceptablePassword('🔑'.repeat(PASSWORD_MAX_LENGTH)), true);
    assert.equal(isAcceptablePassword('🔑'.repeat(PASSWORD_MAX_LENGTH + 1)), false);
    assert.equal(await verifyPassword(await hashPassword(pw), pw), true);
  });

  it('enforces the length limits', async () => {
    assert.equal(isAcceptablePassword('x'.repeat(PASSWORD_MIN_LENGTH - 1)), false);
    assert.equal(isAcceptablePassword('x'.repeat(PASSWORD_MIN_LENGTH)), true);
    assert.equal(isAcceptablePassword('x'.repeat(PASSWORD_MAX_LENGTH)), true);
    assert.equal(isAcceptablePassword('x'.repeat(PASSWORD_MAX_LENGTH + 1)), false);
    assert.equal(isAcceptablePassword(12345678), false);
    await assert.rejects(hashPassword('short'), RangeError);
    await assert.rejects(hashPassword('x'.repeat(PASSWORD_MAX_LENGTH + 1)), RangeError);
  });

  it('verifies unknown accounts against a dummy hash of the same cost, always false', async () => {
    const p = parseOptions(DUMMY_PASSWORD_HASH);
    assert.deepEqual(
      { algorithm: p.algorithm, memoryCost: p.memoryCost, timeCost: p.timeCost, parallelism: p.parallelism },
      { ...ARGON2_OPTIONS },
    );
    assert.equal(await verifyPassword(null, 'whatever password'), false);
  });

  it('flags hashes made with other parameters for rehash', async () => {
    assert.equal(passwordNeedsRehash('$argon2id$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG'), true);
    assert.equal(passwordNeedsRehash('not a hash'), true);
  });
});
