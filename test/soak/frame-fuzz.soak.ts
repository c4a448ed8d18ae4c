/**
 * Long-running frame fuzzing (not part of `npm test`):
 *   node --import tsx test/soak/frame-fuzz.soak.ts [frames=2000000] [seed]
 * Same harness and invariants as test/unit/frame-fuzz.test.ts, with progress and memory readings.
 */
import fc from 'fast-check';
import { FrameHarness, frameBytes, getGc } from '../support/frame-fuzz.ts';

const total = Number(process.argv[2] ?? 2_000_000);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const BATCH = 1000;
const gc = getGc();
const harness = new FrameHarness();
await harness.init();
gc();
const heap0 = process.memoryUsage().heapUsed;
const started = Date.now();
let batches = 0;
await fc.assert(
  fc.asyncProperty(fc.array(fc.tuple(frameBytes, fc.nat(9)), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
    for (const [bytes, pick] of batch) await harness.feed(bytes, pick === 0);
    if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype polluted');
    if (++batches % 100 === 0) {
      gc();
      const mib = (process.memoryUsage().heapUsed - heap0) / 1048576;
      const rate = Math.round(harness.frames / ((Date.now() - started) / 1000));
      process.stdout.write(`${harness.frames} frames, ${harness.closes} closes, heap +${mib.toFixed(1)} MiB, ${rate} frames/s\n`);
    }
  }),
  { numRuns: Math.ceil(total / BATCH), seed, endOnFailure: true },
);
harness.dispose();
process.stdout.write(`ok: ${harness.frames} frames (seed ${seed}), ${harness.replies} replies, ${harness.closes} closes in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
