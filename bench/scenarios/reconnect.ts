/**
 * `reconnect`: N clients drop and resume at once; time until all have resumed and caught up.
 *
 * Not available yet: Guildhall has no RESUME (issue 6), so there is nothing to measure. The
 * scenario is listed, accepts its future options, and reports itself skipped (exit code 0).
 */
import type { Options } from '../lib/args.ts';
import type { Scenario } from '../lib/scenario.ts';

export const RECONNECT_SKIPPED = 'not available yet: needs RESUME (issue 6)';

export interface ReconnectParams {
  clients: number;
}

export const reconnect: Scenario<ReconnectParams> = {
  name: 'reconnect',
  description: `N clients drop and resume at once: time until all resumed and caught up (${RECONNECT_SKIPPED})`,
  usage: ['--clients 1000       clients that drop and resume together (once RESUME exists)'],
  params: (o: Options) => ({ clients: o.int('clients', 1000, 1, 19_000) }),
  async run(_params, ctx) {
    ctx.progress.note(`reconnect: ${RECONNECT_SKIPPED}`);
    return { results: [], ratios: {}, skipped: RECONNECT_SKIPPED, summary: `reconnect: ${RECONNECT_SKIPPED}` };
  },
};
