/** Loopback helpers: free ports, client source addresses, and waiting for an HTTP endpoint. */
import net from 'node:net';
import { sleep } from './progress.ts';

/** The only address servers listen on. */
export const SERVER_HOST = '127.0.0.1';

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, SERVER_HOST, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Client source addresses 127.0.0.2 … 127.0.0.(1+count): each gives its own ~28k ephemeral ports
 * towards one server port, so tens of thousands of connections never run out of them.
 */
export function sourceAddresses(count = 8): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
}

/** Polls `url` until it answers 2xx, `isDead()` turns true, or `timeoutMs` passes. */
export async function waitForHttp(url: string, timeoutMs: number, isDead: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return;
      lastError = `HTTP ${res.status}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${lastError})`);
}
