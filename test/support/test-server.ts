/**
 * Starts a real Guildhall server in-process on a free port for integration tests, either on the
 * machine's Postgres + Redis ("services") or on the embedded default (PGlite + memory store).
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../engine/config/config.ts';
import { DevMailer } from '../../engine/mail/mailer.ts';
import { startServer, type RunningServer } from '../../engine/server.ts';
import { auth, GuildhallClient } from '../../protocol/client/index.ts';
import type { SelfUser } from '../../protocol/types.ts';
import { MEMORY_DATA_DIR } from '../../storage/database.ts';
import { freshPostgres } from './databases.ts';

export type Backend = 'services' | 'embedded';
export const BACKENDS: readonly Backend[] = ['services', 'embedded'];
export const REDIS_URL = process.env.GUILDHALL_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestServer extends RunningServer {
  backend: Backend;
  /** The HS256 secret (kid k1) the server signs access tokens with, for forging tokens in tests. */
  jwtSecret: string;
  /** Every account email the server sent (development mailer; unused when env sets SMTP_URL). */
  mailer: DevMailer;
  /** The Postgres database the server writes to (services backend), for tests that check storage directly. */
  databaseUrl: string | null;
  /** Stops the server and drops its database. */
  dispose(): Promise<void>;
}

/**
 * Starts a server. Rate limits are off unless `env` sets RATE_LIMITS_ENABLED (integration tests
 * register and log in many users from 127.0.0.1); the tests of the limits turn them on.
 */
export async function startTestServer(backend: Backend, env: Record<string, string> = {}): Promise<TestServer> {
  const pgdb = backend === 'services' ? await freshPostgres() : null;
  const jwtSecret = randomBytes(32).toString('hex');
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.GUILDHALL_TEST_LOG ?? 'silent',
    DATA_DIR: MEMORY_DATA_DIR,
    JWT_SECRET: jwtSecret,
    RATE_LIMITS_ENABLED: 'false',
    ...(pgdb ? { DATABASE_URL: pgdb.url, REDIS_URL } : {}),
    ...env,
  });
  const mailer = new DevMailer();
  // With SMTP_URL the server's own SMTP mailer is used (and `mailer` stays empty).
  const server = await startServer(config, { logger: pino({ level: config.logLevel }), ...(config.mail.smtpUrl ? {} : { mailer }) });
  return {
    ...server,
    backend,
    jwtSecret,
    mailer,
    databaseUrl: pgdb?.url ?? null,
    async dispose() {
      await server.close();
      await pgdb?.drop();
    },
  };
}

export interface TestUser {
  user: SelfUser;
  token: string;
  refreshToken: string;
  connect(): Promise<GuildhallClient>;
}

let counter = 0;
/** Registers and logs in a fresh user with a unique nickname. */
export async function signUp(server: RunningServer, prefix = 'user'): Promise<TestUser> {
  const tag = `${prefix}${process.pid % 1000}${++counter}${randomBytes(2).toString('hex')}`;
  const email = `${tag}@example.test`;
  const password = 'correct horse battery staple';
  await auth.register(server.httpUrl, { email, password, nickname: tag });
  const tokens = await auth.login(server.httpUrl, { email, password });
  return {
    user: tokens.user,
    token: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    connect: () => GuildhallClient.connect({ url: server.gatewayUrl, token: tokens.accessToken }),
  };
}
