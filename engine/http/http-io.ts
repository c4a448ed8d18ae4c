/**
 * JSON request/response plumbing for uWebSockets.js HTTP handlers.
 *
 * uWS rules these helpers encode: a handler that does not answer synchronously must attach
 * onAborted before returning (trackAbort, or readJson which calls it); after an abort — or after
 * the response was ended — the HttpResponse must not be touched again; onData chunks live in a
 * buffer uWS reuses (and neuters) once the callback returns, so they are copied; writes made after
 * an await must be corked. HttpRequest is only valid synchronously inside the handler: read its
 * headers (clientIp, content-length) before the first await.
 */
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { TrustedProxies } from './trusted-proxies.ts';

export type HttpBodyErrorKind = 'too_large' | 'invalid_json' | 'aborted';

/** Why readJson failed: body over the limit, not UTF-8 JSON, or the client went away. */
export class HttpBodyError extends Error {
  constructor(readonly kind: HttpBodyErrorKind) {
    super(kind === 'too_large' ? 'request body too large' : kind === 'invalid_json' ? 'request body is not valid JSON' : 'request aborted');
    this.name = 'HttpBodyError';
  }
}

interface ResponseState {
  aborted: boolean;
  ended: boolean;
  onAbort: (() => void)[];
}

const states = new WeakMap<HttpResponse, ResponseState>();

/**
 * Attaches the (single) onAborted handler of `res` and starts tracking its state. Idempotent; call
 * synchronously in the route handler. `listener`, if given, runs when the client aborts.
 */
export function trackAbort(res: HttpResponse, listener?: () => void): void {
  let st = states.get(res);
  if (!st) {
    const state: ResponseState = { aborted: false, ended: false, onAbort: [] };
    states.set(res, state);
    res.onAborted(() => {
      state.aborted = true;
      for (const fn of state.onAbort.splice(0)) fn();
    });
    st = state;
  }
  if (listener) st.onAbort.push(listener);
}

/** True once the client aborted or a response was sent; the response must not be used then. */
export function isClosed(res: HttpResponse): boolean {
  const st = states.get(res);
  return st !== undefined && (st.aborted || st.ended);
}

/**
 * Reads the whole body and parses it as UTF-8 JSON. Rejects with HttpBodyError: 'too_large' as
 * soon as more than maxBytes arrived (the rest is ignored; answer with close: true), 'invalid_json'
 * for an empty (unless `emptyAs` is given, which an empty body then resolves to), non-UTF-8 or
 * unparsable body, 'aborted' if the client disconnects first.
 */
export function readJson(res: HttpResponse, maxBytes: number, opts: { emptyAs?: unknown } = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (kind: HttpBodyErrorKind) => {
      if (!settled) {
        settled = true;
        reject(new HttpBodyError(kind));
      }
    };
    trackAbort(res, () => fail('aborted'));
    if (states.get(res)!.aborted) return fail('aborted');
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > maxBytes) return fail('too_large');
      chunks.push(Buffer.copyBytesFrom(new Uint8Array(chunk)));
      if (!isLast) return;
      settled = true;
      if (size === 0 && opts.emptyAs !== undefined) return resolve(opts.emptyAs);
      try {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, size));
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpBodyError('invalid_json'));
      }
    });
  });
}

/**
 * Sends `body` as JSON with `status` (body undefined → no body, e.g. 204) and extra headers, in
 * one corked write. With `close`, the connection is closed after the response (use it when the
 * request body was not fully read). Returns true if sent; false — doing nothing — if the client
 * already aborted or a response was already sent.
 */
export function sendJson(
  res: HttpResponse, status: number, body: unknown, headers?: Readonly<Record<string, string>>, opts: { close?: boolean } = {},
): boolean {
  let st = states.get(res);
  if (st?.aborted || st?.ended) return false;
  if (!st) {
    st = { aborted: false, ended: false, onAbort: [] };
    states.set(res, st);
  }
  st.ended = true;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(`${status} ${STATUS_CODES[status] ?? 'Unknown'}`);
    if (payload !== undefined) res.writeHeader('content-type', 'application/json; charset=utf-8');
    for (const [k, v] of Object.entries(headers ?? {})) res.writeHeader(k, v);
    if (payload !== undefined) res.end(payload, opts.close ?? false);
    // endWithoutBody() with no arguments writes no Content-Length (RFC 9110 forbids it on 204/304);
    // an explicit `undefined` length is not "absent" to the native binding.
    else if ((status === 204 || status === 304) && !opts.close) res.endWithoutBody();
    else res.endWithoutBody(0, opts.close ?? false);
  });
  return true;
}

/** The declared content-length of the request, or null if absent or not a decimal integer. */
export function declaredContentLength(req: HttpRequest): number | null {
  const v = req.getHeader('content-length');
  return /^[0-9]{1,15}$/.test(v) ? Number(v) : null;
}

/** Formats a 4- or 16-byte address; IPv4-mapped IPv6 becomes dotted IPv4, IPv6 is RFC 5952 text. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.length !== 16) return '';
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.subarray(12).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * The client's IP address. Read synchronously in the handler. The peer is the PROXY-protocol
 * address if uWS received one, else the socket's remote address; when that peer is one of
 * `trustedProxies`, X-Forwarded-For is followed back through the trusted hops (trusted-proxies.ts).
 */
export function clientIp(res: HttpResponse, req: HttpRequest, opts: { trustedProxies?: TrustedProxies } = {}): string {
  const proxied = new Uint8Array(res.getProxiedRemoteAddress());
  const peer = proxied.length === 4 || proxied.length === 16 ? formatIp(proxied) : formatIp(new Uint8Array(res.getRemoteAddress()));
  if (!opts.trustedProxies || opts.trustedProxies.size === 0) return peer;
  return opts.trustedProxies.clientIp(peer, req.getHeader('x-forwarded-for'));
}
