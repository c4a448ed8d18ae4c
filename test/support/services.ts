/**
 * Stopping and starting the machine's Postgres and Redis, for outage tests. Other test runs may
 * share these services: callers keep outages to a few seconds and restart in a `finally`.
 * `outageSkipReason()` says why an outage test cannot run here (remote services, missing tools).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
const ADMIN_URL = process.env.GUILDHALL_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.GUILDHALL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function pgVersion(): string | null {
  if (!existsSync('/etc/postgresql')) return null;
  return readdirSync('/etc/postgresql').sort((a, b) => Number(b) - Number(a))[0] ?? null;
}

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

export async function postgresAnswers(): Promise<boolean> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

export async function redisAnswers(): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'], { timeout: 2000 });
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}

export async function postgresOutageSkipReason(): Promise<string | false> {
  if (!/@(127\.0\.0\.1|localhost)(:5432)?\//.test(ADMIN_URL)) return `tests use a non-local Postgres (${ADMIN_URL})`;
  if (!pgVersion()) return 'no local Postgres cluster under /etc/postgresql';
  if (!['/usr/bin/pg_ctlcluster', '/usr/sbin/pg_ctlcluster'].some((p) => existsSync(p))) return 'pg_ctlcluster not installed';
  return (await postgresAnswers()) ? false : 'Postgres is not running';
}

export async function redisOutageSkipReason(): Promise<string | false> {
  if (!/^redis:\/\/(127\.0\.0\.1|localhost)(:6379)?\/?\d*$/.test(REDIS_URL)) return `tests use a non-local Redis (${REDIS_URL})`;
  try {
    await run('redis-server', ['--version']);
    await run('redis-cli', ['--version']);
  } catch {
    return 'redis-server / redis-cli not installed';
  }
  return (await redisAnswers()) ? false : 'Redis is not running on 127.0.0.1:6379';
}

/** Fast shutdown of the local cluster (open connections are terminated at once). */
export async function stopPostgres(): Promise<void> {
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion()!, 'main', 'stop', '-m', 'fast'], { timeout: 30_000 });
}

export async function startPostgres(): Promise<void> {
  if (await postgresAnswers()) return;
  await run('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion()!, 'main', 'start'], { timeout: 30_000 }).catch(() => {});
  await waitFor(postgresAnswers, 'Postgres answers');
}

export async function stopRedis(): Promise<void> {
  await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave'], { timeout: 5000 }).catch(() => {});
  await waitFor(async () => !(await redisAnswers()), 'Redis stopped');
}

/** Starts Redis exactly as .ci/run does. */
export async function startRedis(): Promise<void> {
  if (await redisAnswers()) return;
  mkdirSync('/var/lib/redis', { recursive: true });
  mkdirSync('/var/log/redis', { recursive: true });
  await run('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no',
    '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log']);
  await waitFor(redisAnswers, 'Redis answers PING');
}
