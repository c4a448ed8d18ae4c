import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../engine/config/config.ts';

const SECRET = 's'.repeat(32);

/** Issue 5's entries at their defaults (validated in detail in security-config.test.ts). */
const SECURITY_DEFAULTS = {
  allowedOrigins: [],
  trustedProxies: [],
  tls: null,
  accounts: {
    requireEmailConfirmation: false,
    confirmTokenTtlSec: 48 * 3600,
    resetTokenTtlSec: 3600,
    refreshGraceMs: 10_000,
    sessionCacheTtlSec: 60,
    sessionRecheckMs: 30_000,
    appUrl: null,
  },
  mail: { smtpUrl: null, from: 'Guildhall <no-reply@localhost>' },
  rateLimits: {
    loginPerIp: { capacity: 30, refillPerSec: 20 / 60 },
    loginPerAccount: { capacity: 10, refillPerSec: 5 / 300 },
    registerPerIp: { capacity: 10, refillPerSec: 5 / 3600 },
    refreshPerSession: { capacity: 10, refillPerSec: 10 / 60 },
    emailPerAccount: { capacity: 3, refillPerSec: 3 / 3600 },
    emailPerIp: { capacity: 20, refillPerSec: 20 / 3600 },
    socketCommands: { capacity: 60, refillPerSec: 20 },
    messagesPerChannel: { capacity: 10, refillPerSec: 1 },
    socketFloodCloseAfter: 50,
  },
};

function rejects(env: Record<string, string>, variable: string) {
  assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable);
    assert.match(err.message, new RegExp(`\\b${variable}\\b`));
    return true;
  }, `${JSON.stringify(env)} should be refused`);
}

describe('loadConfig', () => {
  it('uses the documented defaults for an empty environment', () => {
    assert.deepEqual(loadConfig({}), {
      host: '0.0.0.0',
      port: 8080,
      databaseUrl: null,
      dataDir: './data',
      redisUrl: null,
      natsUrl: null,
      nodeId: 0,
      logLevel: 'info',
      jwtSecret: null,
      jwtKid: 'k1',
      jwtPreviousKeys: [],
      jwtIssuer: 'guildhall',
      jwtAudience: 'guildhall-gateway',
      accessTokenTtlSec: 900,
      refreshTokenTtlSec: 30 * 24 * 3600,
      ...SECURITY_DEFAULTS,
      heartbeatIntervalMs: 30_000,
      identifyTimeoutMs: 10_000,
      maxFrameBytes: 64 * 1024,
      maxBadFrames: 20,
      actorIdleMs: 5 * 60_000,
      actorMaxIdle: 50_000,
      historyCacheSize: 100,
      writeBatchMax: 1000,
      writeMaxInFlight: 1,
      readyDmLimit: 100,
      presenceGraceMs: 15_000,
      readyPresenceGuildLimit: 1000,
      presenceHeartbeatMs: 10_000,
      replayBufferEvents: 1000,
      replayBufferBytes: 1024 * 1024,
      replayBufferAgeMs: 180_000,
      resumeWindowMs: 120_000,
      resumeMaxDetachedPerUser: 16,
      slowConsumerBytes: 1024 * 1024,
      shutdownGraceMs: 10_000,
    });
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '', JWT_SECRET: '', LOG_LEVEL: '', JWT_PREVIOUS_KEYS: '' });
    assert.equal(config.port, 8080);
    assert.equal(config.databaseUrl, null);
    assert.equal(config.jwtSecret, null);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.jwtPreviousKeys, []);
  });

  it('parses valid overrides', () => {
    const config = loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: 'postgres://u:p@db:5432/guildhall',
      DATA_DIR: '/var/lib/guildhall',
      REDIS_URL: 'rediss://cache:6380/1',
      NATS_URL: 'nats://bus:4222',
      NODE_ID: '1023',
      LOG_LEVEL: 'silent',
      JWT_SECRET: SECRET,
      JWT_KID: 'k2',
      JWT_PREVIOUS_KEYS: `k1:${'a'.repeat(32)},k0:${'b:'.repeat(20)}`,
      JWT_ISSUER: 'iss',
      JWT_AUDIENCE: 'aud',
      ACCESS_TOKEN_TTL_SEC: '30',
      REFRESH_TOKEN_TTL_SEC: '3600',
      HEARTBEAT_INTERVAL_MS: '5000',
      IDENTIFY_TIMEOUT_MS: '100',
      MAX_FRAME_BYTES: '1024',
      MAX_BAD_FRAMES: '0',
      ACTOR_IDLE_MS: '1000',
      ACTOR_MAX_IDLE: '7',
      HISTORY_CACHE_SIZE: '0',
      WRITE_BATCH_MAX: '10000',
      WRITE_MAX_IN_FLIGHT: '4',
      READY_DM_LIMIT: '25',
      REPLAY_BUFFER_EVENTS: '0',
      REPLAY_BUFFER_BYTES: '4096',
      REPLAY_BUFFER_AGE_MS: '1000',
      RESUME_WINDOW_MS: '0',
      RESUME_MAX_DETACHED_PER_USER: '64',
      SLOW_CONSUMER_BYTES: '65536',
      SHUTDOWN_GRACE_MS: '0',
      PRESENCE_GRACE_MS: '0',
      READY_PRESENCE_GUILD_LIMIT: '50',
      PRESENCE_HEARTBEAT_MS: '500',
    });
    assert.deepEqual(config, {
      host: '127.0.0.1',
      port: 0,
      databaseUrl: 'postgres://u:p@db:5432/guildhall',
      dataDir: '/var/lib/guildhall',
      redisUrl: 'rediss://cache:6380/1',
      natsUrl: 'nats://bus:4222',
      nodeId: 1023,
      logLevel: 'silent',
      jwtSecret: SECRET,
      jwtKid: 'k2',
      jwtPreviousKeys: [
        { kid: 'k1', secret: 'a'.repeat(32) },
        { kid: 'k0', secret: 'b:'.repeat(20) }, // only the first ':' separates kid from secret
      ],
      jwtIssuer: 'iss',
      jwtAudience: 'aud',
      accessTokenTtlSec: 30,
      refreshTokenTtlSec: 3600,
      ...SECURITY_DEFAULTS,
      heartbeatIntervalMs: 5000,
      identifyTimeoutMs: 100,
      maxFrameBytes: 1024,
      maxBadFrames: 0,
      actorIdleMs: 1000,
      actorMaxIdle: 7,
      historyCacheSize: 0,
      writeBatchMax: 10_000,
      writeMaxInFlight: 4,
      readyDmLimit: 25,
      presenceGraceMs: 0,
      readyPresenceGuildLimit: 50,
      presenceHeartbeatMs: 500,
      replayBufferEvents: 0,
      replayBufferBytes: 4096,
      replayBufferAgeMs: 1000,
      resumeWindowMs: 0,
      resumeMaxDetachedPerUser: 64,
      slowConsumerBytes: 65536,
      shutdownGraceMs: 0,
    });
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/x' }).databaseUrl, 'postgresql://db/x');
    assert.equal(loadConfig({ PORT: '65535' }).port, 65535);
  });

  it('refuses invalid integers, naming the variable', () => {
    rejects({ PORT: 'abc' }, 'PORT');
    rejects({ PORT: '80.5' }, 'PORT');
    rejects({ PORT: '1e3' }, 'PORT');
    rejects({ PORT: '70000' }, 'PORT');
    rejects({ PORT: '-1' }, 'PORT');
    rejects({ NODE_ID: '1024' }, 'NODE_ID');
    rejects({ MAX_FRAME_BYTES: '100' }, 'MAX_FRAME_BYTES');
    rejects({ WRITE_BATCH_MAX: '0' }, 'WRITE_BATCH_MAX');
  });

  it('caps the access token lifetime at 15 minutes', () => {
    rejects({ ACCESS_TOKEN_TTL_SEC: '3600' }, 'ACCESS_TOKEN_TTL_SEC');
    rejects({ ACCESS_TOKEN_TTL_SEC: '901' }, 'ACCESS_TOKEN_TTL_SEC');
    rejects({ ACCESS_TOKEN_TTL_SEC: '10' }, 'ACCESS_TOKEN_TTL_SEC');
    assert.equal(loadConfig({ ACCESS_TOKEN_TTL_SEC: '900' }).accessTokenTtlSec, 900);
  });

  it('refuses a refresh token lifetime not longer than the access token lifetime', () => {
    rejects({ ACCESS_TOKEN_TTL_SEC: '600', REFRESH_TOKEN_TTL_SEC: '600' }, 'REFRESH_TOKEN_TTL_SEC');
    assert.equal(loadConfig({ ACCESS_TOKEN_TTL_SEC: '600', REFRESH_TOKEN_TTL_SEC: '601' }).refreshTokenTtlSec, 601);
  });

  it('does not echo a malformed URL, which may hold credentials', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres//user:hunter2@db' }), (e: Error) => !e.message.includes('hunter2'));
  });

  it('refuses URLs that do not parse or use the wrong scheme', () => {
    rejects({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL');
    rejects({ DATABASE_URL: 'not a url' }, 'DATABASE_URL');
    rejects({ REDIS_URL: 'not a url' }, 'REDIS_URL');
    rejects({ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL');
    rejects({ NATS_URL: 'redis://x' }, 'NATS_URL');
  });

  it('refuses a short JWT secret and an unknown log level', () => {
    rejects({ JWT_SECRET: 'short' }, 'JWT_SECRET');
    rejects({ JWT_SECRET: 'x'.repeat(31) }, 'JWT_SECRET');
    rejects({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL');
    rejects({ LOG_LEVEL: 'INFO' }, 'LOG_LEVEL');
  });

  it('refuses malformed JWT_PREVIOUS_KEYS', () => {
    const long = 'p'.repeat(32);
    for (const raw of [long, `:${long}`, 'k1:', `k1:${long},`, `k1:${long},,k2:${long}`, 'k1:tooshort']) {
      rejects({ JWT_PREVIOUS_KEYS: raw }, 'JWT_PREVIOUS_KEYS');
    }
  });

  it('does not leak a rejected secret into the error message', () => {
    const secret = 'hunter2-hunter2';
    assert.throws(() => loadConfig({ JWT_SECRET: secret }), (err: unknown) => err instanceof ConfigError && !err.message.includes(secret));
  });
});
