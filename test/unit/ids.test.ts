import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareSnowflakes,
  GUILDHALL_EPOCH_MS,
  isSnowflake,
  snowflakeAt,
  SnowflakeGenerator,
  snowflakeTime,
  type Clock,
} from '../../protocol/ids.ts';

const T0 = GUILDHALL_EPOCH_MS + 86_400_000; // one day after the epoch

function fakeClock(t = T0): Clock & { t: number } {
  return { t, now() { return this.t; } };
}

function assertIncreasing(ids: string[]) {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(compareSnowflakes(ids[i - 1]!, ids[i]!) < 0, `id ${i} (${ids[i]}) is not above ${ids[i - 1]}`);
  }
}

const worker = (id: string) => Number((BigInt(id) >> 12n) & 0x3ffn);
const sequence = (id: string) => Number(BigInt(id) & 0xfffn);

describe('SnowflakeGenerator', () => {
  it('is strictly increasing across 10,000 ids in one millisecond, borrowing the next ms on overflow', () => {
    const clock = fakeClock();
    const gen = new SnowflakeGenerator(3, clock);
    const ids = Array.from({ length: 10_000 }, () => gen.next());
    assertIncreasing(ids);
    assert.equal(new Set(ids).size, ids.length);
    ids.forEach((id) => assert.ok(isSnowflake(id), id));
    // 4096 sequence numbers per ms: the 4097th id lives in the next (borrowed) millisecond.
    assert.equal(snowflakeTime(ids[0]!), T0);
    assert.equal(snowflakeTime(ids[4095]!), T0);
    assert.equal(sequence(ids[4095]!), 0xfff);
    assert.equal(snowflakeTime(ids[4096]!), T0 + 1);
    assert.equal(sequence(ids[4096]!), 0);
    assert.equal(snowflakeTime(ids[9_999]!), T0 + 2);
    // Once the clock catches up past the borrowed ms, ids follow the clock again.
    clock.t = T0 + 10;
    const later = gen.next();
    assert.equal(snowflakeTime(later), T0 + 10);
    assert.equal(sequence(later), 0);
    assert.ok(compareSnowflakes(ids[9_999]!, later) < 0);
  });

  it('stays strictly increasing when the clock steps backwards', () => {
    const clock = fakeClock();
    const gen = new SnowflakeGenerator(0, clock);
    const ids = [gen.next(), gen.next()];
    clock.t = T0 - 5_000;
    ids.push(gen.next(), gen.next());
    clock.t = T0 - 4_000;
    ids.push(gen.next());
    assertIncreasing(ids);
    // While the clock is behind, ids keep the last millisecond seen rather than going back.
    for (const id of ids) assert.equal(snowflakeTime(id), T0);
    clock.t = T0 + 1;
    const next = gen.next();
    assert.equal(snowflakeTime(next), T0 + 1);
    assert.ok(compareSnowflakes(ids.at(-1)!, next) < 0);
  });

  it('encodes the worker id and recovers the clock time', () => {
    for (const w of [0, 1, 517, 1023]) {
      const clock = fakeClock(T0 + w * 7);
      const id = new SnowflakeGenerator(w, clock).next();
      assert.equal(worker(id), w);
      assert.equal(snowflakeTime(id), clock.t);
      assert.equal(sequence(id), 0);
    }
    const a = new SnowflakeGenerator(1, fakeClock()).next();
    const b = new SnowflakeGenerator(2, fakeClock()).next();
    assert.notEqual(a, b);
  });

  it('refuses worker ids outside 0..1023', () => {
    for (const w of [-1, 1024, 1.5, Number.NaN]) assert.throws(() => new SnowflakeGenerator(w, fakeClock()), RangeError);
  });

  it('snowflakeAt gives the smallest id of a millisecond', () => {
    const gen = new SnowflakeGenerator(1023, fakeClock(T0 + 42));
    const id = gen.next();
    assert.ok(compareSnowflakes(snowflakeAt(T0 + 42), id) < 0);
    assert.ok(compareSnowflakes(snowflakeAt(T0 + 43), id) > 0);
    assert.equal(snowflakeTime(snowflakeAt(T0 + 42)), T0 + 42);
  });
});

describe('isSnowflake', () => {
  it('accepts canonical decimal strings from 1 up to 2^64-1', () => {
    for (const v of ['1', '9', '10', '123456789012345678', '9223372036854775808', '18446744073709551615']) {
      assert.equal(isSnowflake(v), true, v);
    }
  });

  it('rejects non-canonical, out-of-range and non-string values', () => {
    const bad: unknown[] = [
      '0', '01', '00', '-1', '+1', '1.5', '1e3', ' 1', '1 ', '', 'abc', '0x10',
      '18446744073709551616', // 2^64
      '99999999999999999999', // 20 digits, above 2^64-1
      '100000000000000000000', // 21 digits
      1, 0, 12345678901234567890n, null, undefined, ['1'], { id: '1' },
    ];
    for (const v of bad) assert.equal(isSnowflake(v), false, String(v));
  });
});

describe('compareSnowflakes', () => {
  it('orders numerically, not lexically', () => {
    assert.ok(compareSnowflakes('9', '10') < 0);
    assert.ok(compareSnowflakes('10', '9') > 0);
    assert.equal(compareSnowflakes('42', '42'), 0);
    assert.ok(compareSnowflakes('18446744073709551614', '18446744073709551615') < 0);
    const sorted = ['100', '9', '11', '1', '10'].sort(compareSnowflakes);
    assert.deepEqual(sorted, ['1', '9', '10', '11', '100']);
  });
});
