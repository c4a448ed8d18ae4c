/**
 * Loads uWebSockets.js and refuses to run on its pure-JavaScript fallback: the package silently
 * falls back when the native binary does not match this Node.js build, which would make every
 * speed figure of this project meaningless.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

const require = createRequire(import.meta.url);

function loadNative(): typeof UWS {
  const before = new Set(Object.keys(require.cache));
  const mod = require('uWebSockets.js') as typeof UWS;
  const loaded = Object.keys(require.cache).filter((k) => !before.has(k));
  const fellBack = loaded.some((k) => /uWebSockets\.js[\\/]dist[\\/]/.test(k)) ||
    (loaded.length > 0 && !loaded.some((k) => k.endsWith('.node'))) ||
    typeof (mod as { us_listen_socket_close?: unknown }).us_listen_socket_close !== 'function';
  if (fellBack) {
    throw new Error(
      `uWebSockets.js loaded its pure-JS fallback (no native binary for ${process.platform}-${process.arch}, ABI ${process.versions.modules}); ` +
        'Guildhall requires the native build: use Node.js 20 on linux/darwin x64/arm64.',
    );
  }
  return mod;
}

export const uws = loadNative();
export type { TemplatedApp, WebSocket, HttpResponse, HttpRequest, us_listen_socket } from 'uWebSockets.js';
