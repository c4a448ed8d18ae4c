/**
 * Durability settings: the engine refuses to start against a Postgres that runs with fsync=off
 * (acknowledged messages could vanish in a crash) and warns when synchronous_commit is off.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { loadConfig } from '../../engine/config/config.ts';
import { startServer } from '../../engine/server.ts';
import { freshPostgres } from '../support/databases.ts';
import { startTempPostgres, tempPostgresAvailable } from '../support/temp-postgres.ts';
import { REDIS_URL } from '../support/test-server.ts';

function capture() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: pino({ level: 'warn' }, stream) };
}

const configFor = (url: string) => loadConfig({ HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', DATABASE_URL: url, REDIS_URL, JWT_SECRET: 'd'.repeat(40) });

describe('Postgres durability checks at start', { timeout: 60_000 }, () => {
  const unavailable = tempPostgresAvailable();

  test('refuses to start when Postgres runs with fsync=off', { skip: unavailable ?? false }, async () => {
    const pgFsyncOff = await startTempPostgres(['-F']);
    try {
      const { logger } = capture();
      await assert.rejects(startServer(configFor(pgFsyncOff.url), { logger }), /refusing to start: Postgres runs with fsync=off/);
    } finally {
      await pgFsyncOff.stop();
    }
  });

  test('starts, with a warning, when synchronous_commit is off', async () => {
    const db = await freshPostgres();
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`alter database "${new URL(db.url).pathname.slice(1)}" set synchronous_commit = off`);
    await admin.end();
    const { lines, logger } = capture();
    const server = await startServer(configFor(db.url), { logger });
    try {
      assert.ok(lines.some((l) => l.level === 40 && /synchronous_commit=off/.test(l.msg)), JSON.stringify(lines));
    } finally {
      await server.close();
      await db.drop();
    }
  });
});
