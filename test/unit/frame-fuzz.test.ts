/**
 * Property-based fuzzing of the decoder and the Connection state machine: 100,000 generated and
 * mutated client frames (valid frames, byte-level mutations, hostile length headers, extension
 * types, deep nesting, noise). Every frame must produce exactly one documented reply or one close,
 * nothing may throw, retained memory must stay bounded, and no prototype may be polluted.
 * A longer run: `node --import tsx test/soak/frame-fuzz.soak.ts [frames]`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decode, FrameError } from '../../protocol/codec.ts';
import { FrameHarness, frameBytes, getGc } from '../support/frame-fuzz.ts';

const FRAMES = 100_000;
const BATCH = 250;

describe('frame fuzzing', () => {
  it(`decode either returns a value or throws FrameError, for ${FRAMES / 4} frames`, () => {
    fc.assert(
      fc.property(frameBytes, (bytes) => {
        try {
          decode(bytes);
        } catch (err) {
          if (!(err instanceof FrameError)) throw err;
        }
        return ({} as Record<string, unknown>).polluted === undefined;
      }),
      { numRuns: FRAMES / 4, seed: 20260601 },
    );
  });

  it(`${FRAMES} frames through the Connection state machine: one reply or one close each, bounded memory, no pollution`, async () => {
    const gc = getGc();
    const harness = new FrameHarness();
    await harness.init();
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const protoKeys = Object.getOwnPropertyNames(Object.prototype).length;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(frameBytes, fc.nat(9)), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        for (const [bytes, pick] of batch) await harness.feed(bytes, pick === 0);
        assert.equal(({} as Record<string, unknown>).polluted, undefined);
        assert.equal(Object.getOwnPropertyNames(Object.prototype).length, protoKeys);
      }),
      { numRuns: FRAMES / BATCH, seed: 20260602, endOnFailure: true },
    );
    harness.dispose();
    gc();
    const retained = process.memoryUsage().heapUsed - heapBefore;
    assert.equal(harness.frames, FRAMES);
    assert.equal(harness.replies + harness.closes, FRAMES);
    assert.ok(retained < 32 * 1024 * 1024, `retained ${(retained / 1048576).toFixed(1)} MiB after ${FRAMES} frames`);
    assert.ok(harness.closes > 0 && harness.replies > FRAMES / 2, `replies ${harness.replies}, closes ${harness.closes}`);
  });
});
