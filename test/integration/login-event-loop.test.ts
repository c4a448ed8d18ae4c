/**
 * Password hashing never stalls the event loop for other connections: argon2id runs on the libuv
 * thread pool. Measured with perf_hooks.monitorEventLoopDelay while 20 logins run at once over HTTP
 * against Postgres + Redis, next to what the same 20 verifications would cost if they ran on the
 * event loop (verifySync), and one verification's duration. The numbers are printed; the assertion
 * is deliberately generous (p99 < 50 ms), since this is a shared CI machine.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { verifySync } from '@node-rs/argon2';
import { hashPassword, verifyPassword } from '../../engine/auth/passwords.ts';
import { auth } from '../../protocol/client/index.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const PASSWORD = 'correct horse battery staple';
const LOGINS = 20;
const ms = (ns: number) => Math.round(ns / 1e4) / 100;

describe('event-loop delay during concurrent logins', () => {
  let server: TestServer;
  const emails: string[] = [];

  before(async () => {
    server = await startTestServer('services');
    for (let i = 0; i < LOGINS; i++) {
      const nickname = `el${randomBytes(5).toString('hex')}`;
      emails.push(`${nickname}@example.test`);
      await auth.register(server.httpUrl, { email: emails[i]!, password: PASSWORD, nickname });
    }
    await auth.login(server.httpUrl, { email: emails[0]!, password: PASSWORD }); // warm up connections and JIT
  });
  after(() => server?.dispose());

  test(`${LOGINS} concurrent logins keep the event loop responsive`, async () => {
    const stored = await hashPassword(PASSWORD);
    const singles: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await verifyPassword(stored, PASSWORD);
      singles.push(performance.now() - t);
    }
    const oneHashMs = singles.sort((a, b) => a - b)[2]!;

    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const started = performance.now();
    const results = await Promise.all(emails.map((email) => auth.login(server.httpUrl, { email, password: PASSWORD })));
    const wallMs = performance.now() - started;
    h.disable();
    assert.equal(results.length, LOGINS);

    // For contrast: the same work done on the event loop.
    const blocking = monitorEventLoopDelay({ resolution: 1 });
    blocking.enable();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < LOGINS; i++) verifySync(stored, PASSWORD);
    await new Promise((r) => setTimeout(r, 20));
    blocking.disable();

    const report = {
      oneVerificationMs: Math.round(oneHashMs * 100) / 100,
      concurrentLogins: LOGINS,
      wallMs: Math.round(wallMs),
      eventLoopDelay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) },
      ifHashedOnTheLoop: { p99: ms(blocking.percentile(99)), max: ms(blocking.max) },
    };
    console.log(`[login-event-loop] ${JSON.stringify(report)}`);
    assert.ok(report.eventLoopDelay.p99 < 50, `p99 event-loop delay ${report.eventLoopDelay.p99} ms`);
    assert.ok(report.eventLoopDelay.max < report.ifHashedOnTheLoop.max, 'hashing off the loop stalls it less than hashing on it');
  });
});
