/**
 * The Redis the Guildhall server under test uses. By default the bench starts its own throwaway
 * redis-server on a free loopback port (no persistence), so nothing else on the machine — another
 * test suite restarting or flushing the shared Redis — can wipe the sessions of a run in progress.
 * Set BENCH_REDIS_URL to use an existing Redis instead (its database is flushed per run).
 */
import { Redis } from 'ioredis';
import { spawnManaged, type ManagedChild } from './children.ts';
import { freePort, SERVER_HOST } from './net-util.ts';
import { sleep } from './progress.ts';

let running: { url: string; child: ManagedChild } | null = null;

/** URL of an empty Redis for the next server; starts the private instance on first use. */
export async function benchRedisUrl(): Promise<string> {
  const configured = process.env.BENCH_REDIS_URL;
  if (configured) {
    await flush(configured);
    return configured;
  }
  if (!running || running.child.child.exitCode !== null) {
    const port = await freePort();
    const child = spawnManaged('redis-server', ['--port', String(port), '--bind', SERVER_HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
    const url = `redis://${SERVER_HOST}:${port}/0`;
    running = { url, child };
    await waitForPing(url, child);
  }
  await flush(running.url);
  return running.url;
}

/** Stops the private instance, if one was started. */
export async function stopBenchRedis(): Promise<void> {
  const r = running;
  running = null;
  await r?.child.stop(3000);
}

async function flush(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

async function waitForPing(url: string, child: ManagedChild): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.child.exitCode !== null) throw new Error(`redis-server exited: ${child.stderrTail().slice(-500)}`);
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      redis.disconnect();
    }
    await sleep(100);
  }
  throw new Error('redis-server did not start within 10 s');
}
