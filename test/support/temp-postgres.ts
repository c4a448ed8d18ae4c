/**
 * A throwaway Postgres cluster of its own (initdb in a temp directory, its own port), for tests
 * that need server settings the shared instance must not change — e.g. fsync=off. Needs the
 * Postgres binaries and either to run as the `postgres` user or as root (it then uses `su`).
 * `available()` says whether that is possible here, so tests can skip with a reason otherwise.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userInfo } from 'node:os';

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'initdb'))) return join(root, v, 'bin');
  return null;
}

const me = userInfo().username;

export function tempPostgresAvailable(): string | null {
  if (!binDir()) return 'no Postgres binaries under /usr/lib/postgresql';
  if (me !== 'root' && me !== 'postgres') return `needs to run as root or postgres, not ${me}`;
  return null;
}

function run(cmd: string, args: string[]): void {
  if (me === 'root') execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [cmd, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')], { stdio: 'ignore' });
  else execFileSync(cmd, args, { stdio: 'ignore' });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface TempPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Starts a fresh cluster with the given server options (e.g. ['-F'] for fsync=off). */
export async function startTempPostgres(serverOptions: string[] = []): Promise<TempPostgres> {
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'guildhall-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const port = await freePort();
  run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const opts = [...serverOptions, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'].join(' ');
  run(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-w', '-l', join(dir, 'log'), 'start']);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
