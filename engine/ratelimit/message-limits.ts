/**
 * Messages per user per channel: wraps the send commands of the command table with a token bucket
 * in the ephemeral store keyed by (user, channel or DM), shared by all of the user's connections on
 * every node. Over the limit the command fails with RATE_LIMITED and details.retryAfterMs.
 */
import { ErrorCode, Method } from '../../protocol/opcodes.ts';
import { CommandError } from '../command-error.ts';
import type { Caller, CommandEntry } from '../gateway/command-table.ts';
import type { RateLimiter, RateRule } from './rate-limiter.ts';

export function withMessageRateLimit<T extends Readonly<Record<string, CommandEntry>>>(commands: T, limiter: RateLimiter, rule: RateRule | null): T {
  if (!rule) return commands;
  const out: Record<string, CommandEntry> = { ...commands };
  const wrap = (method: string, keyOf: (caller: Caller, payload: Record<string, unknown>) => string) => {
    const entry = commands[method];
    if (!entry) return;
    out[method] = {
      ...entry,
      run: async (caller, payload) => {
        const r = await limiter.take(rule, keyOf(caller, payload));
        if (!r.allowed) throw new CommandError(ErrorCode.RATE_LIMITED, 'you are sending messages too fast', { retryAfterMs: r.retryAfterMs });
        return entry.run(caller, payload);
      },
    };
  };
  wrap(Method.MESSAGE_SEND, (c, p) => `${c.userId}:${String(p.channelId)}`);
  wrap(Method.DM_SEND, (c, p) => `${c.userId}:${String(p.dmId)}`);
  return out as T;
}
