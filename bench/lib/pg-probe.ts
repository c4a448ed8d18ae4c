/**
 * A Postgres commit-latency probe: while a phase runs, one connection commits a one-row INSERT
 * every `everyMs` into a table of its own in the bench database and records how long each took.
 * It tells apart "the engine is slow" from "Postgres commits are slow on this machine right now".
 */
import pg from 'pg';
import { sleep } from './progress.ts';
import { BENCH_DB, PG_ADMIN_URL } from './pg.ts';
import { summarise, type LatencySummary } from './stats.ts';

export interface CommitProbe {
  stop(): Promise<LatencySummary>;
}

export async function startCommitProbe(everyMs = 20): Promise<CommitProbe> {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${BENCH_DB}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query('create table if not exists bench_commit_probe (id bigserial primary key, at timestamptz not null default now(), pad text)');
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await client.query("insert into bench_commit_probe (pad) values ('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')");
      samples.push(performance.now() - t0);
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop.catch(() => {});
      await client.end().catch(() => {});
      return summarise(samples);
    },
  };
}
