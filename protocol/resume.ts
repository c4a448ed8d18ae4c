/**
 * Wire shapes and validation of session resume: RESUME (C→S) and RESUMED (S→C).
 *
 *   [9,  {resumeId, token, streams: {"g:123": [epoch, seq], …}}]
 *   [10, {replayed, resync: [{stream, reason, epoch, seq}, …]}]
 *
 * Between the two the server sends, as ordinary DISPATCH frames, every event the session missed
 * after the given positions, in order. Streams it cannot replay completely are listed in `resync`
 * with the position to continue from; the client must reload their state through history.
 */
import { StreamKind } from './opcodes.ts';

/** Most streams a RESUME may list. */
export const MAX_RESUME_STREAMS = 10_000;

export interface ResumePayload {
  /** READY's `resumeId`. */
  resumeId: string;
  /** A currently valid access token of the same user. */
  token: string;
  /** Last position the client processed, per stream: `[epoch, seq]`. */
  streams: Record<string, [epoch: number, seq: number]>;
}

/**
 * Why a stream needs a resync: `unknown` — this server has no live buffer for it (restarted, or the
 * stream's actor was unloaded); `epoch` — the stream restarted its sequence since; `gap` — some of
 * the missed events are no longer buffered (too many or too old); `ahead` — the client claims a
 * position the stream never reached.
 */
export type ResyncReason = 'unknown' | 'epoch' | 'gap' | 'ahead';

export interface ResyncEntry {
  stream: string;
  reason: ResyncReason;
  /** Where the stream stands now: events after this position arrive live. Null when unknown. */
  epoch: number | null;
  seq: number | null;
}

export interface ResumedPayload {
  /** Number of events replayed before this frame. */
  replayed: number;
  resync: ResyncEntry[];
}

const STREAM_RE = new RegExp(`^[${Object.values(StreamKind).join('')}]:[1-9][0-9]{0,19}$`);
const isCounter = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export type ParsedResume = { ok: true; value: ResumePayload } | { ok: false; problem: { field: string; reason: string } };

/** Validates a RESUME payload; unknown fields are refused like everywhere else. */
export function parseResume(payload: unknown): ParsedResume {
  const bad = (field: string, reason: string): ParsedResume => ({ ok: false, problem: { field, reason } });
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || payload instanceof Uint8Array) return bad('payload', 'must be a map');
  const p = payload as Record<string, unknown>;
  for (const k of Object.keys(p)) if (k !== 'resumeId' && k !== 'token' && k !== 'streams') return bad(k, 'unknown field');
  if (typeof p.resumeId !== 'string' || p.resumeId.length < 1 || p.resumeId.length > 64) return bad('resumeId', 'must be a string of 1 to 64 characters');
  if (typeof p.token !== 'string' || p.token.length < 1 || p.token.length > 4096) return bad('token', 'must be a string of 1 to 4096 characters');
  const s = p.streams;
  if (typeof s !== 'object' || s === null || Array.isArray(s) || s instanceof Uint8Array) return bad('streams', 'must be a map');
  const names = Object.keys(s);
  if (names.length > MAX_RESUME_STREAMS) return bad('streams', `must list at most ${MAX_RESUME_STREAMS} streams`);
  const streams: Record<string, [number, number]> = {};
  for (const name of names) {
    const pos = (s as Record<string, unknown>)[name];
    if (!STREAM_RE.test(name)) return bad(`streams.${name.slice(0, 40)}`, 'is not a stream name');
    if (!Array.isArray(pos) || pos.length !== 2 || !isCounter(pos[0]) || !isCounter(pos[1])) {
      return bad(`streams.${name}`, 'must be [epoch, seq] (non-negative integers)');
    }
    streams[name] = [pos[0], pos[1]];
  }
  return { ok: true, value: { resumeId: p.resumeId, token: p.token, streams } };
}
