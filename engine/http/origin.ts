/**
 * The WebSocket upgrade's Origin check (defence against cross-site WebSocket hijacking: a page on
 * another site opening a socket to the gateway from a logged-in user's browser). Browsers always
 * send Origin on a WebSocket handshake, so with an allowlist configured a browser connection must
 * come from an allowed origin; a request without Origin is not a browser's (SDKs, bots, servers)
 * and is let through — the token in IDENTIFY authenticates it, and such a client could forge any
 * Origin anyway. An empty allowlist allows every origin (the development default).
 */

/** `origin` as compared: URL.origin of an http(s) origin, or null if it is not one ("null", garbage). */
export function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : null;
  } catch {
    return null;
  }
}

/** True if a WebSocket upgrade carrying `originHeader` ('' = absent) may proceed. */
export function originAllowed(allowed: ReadonlySet<string> | undefined, originHeader: string): boolean {
  if (!allowed || allowed.size === 0 || originHeader === '') return true;
  const origin = normalizeOrigin(originHeader);
  return origin !== null && allowed.has(origin);
}
