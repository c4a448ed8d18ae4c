/**
 * Server configuration from the environment, validated once at start. A bad value stops the
 * server with a message naming the variable; README's configuration table lists every entry.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { isIP } from 'node:net';
import type { TokenBucketSpec } from '../../storage/ephemeral/token-bucket.ts';
import { parseSmtpUrl } from '../mail/smtp-mailer.ts';
import { parseRate } from '../ratelimit/rate-limiter.ts';

export interface Config {
  host: string;
  port: number;
  databaseUrl: string | null;
  dataDir: string;
  redisUrl: string | null;
  natsUrl: string | null;
  nodeId: number;
  logLevel: string;
  jwtSecret: string | null;
  jwtKid: string;
  jwtPreviousKeys: { kid: string; secret: string }[];
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  /** WebSocket upgrade Origin allowlist (normalized origins); empty = any origin. */
  allowedOrigins: string[];
  /** Addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Serve HTTPS/WSS directly (uWS SSLApp); null = plain HTTP/WS. */
  tls: { certFile: string; keyFile: string; passphrase: string | null } | null;
  accounts: AccountsConfig;
  mail: { smtpUrl: string | null; from: string };
  rateLimits: RateLimitsConfig;
  heartbeatIntervalMs: number;
  identifyTimeoutMs: number;
  maxFrameBytes: number;
  maxBadFrames: number;
  actorIdleMs: number;
  actorMaxIdle: number;
  historyCacheSize: number;
  writeBatchMax: number;
  /** Group-commit batches in flight at once (see GroupCommitWriter maxInFlight). */
  writeMaxInFlight: number;
  readyDmLimit: number;
  /** A user goes offline this long after their last connection closed (a reload does not flap). */
  presenceGraceMs: number;
  /** Members per guild whose presence READY carries (lowest user ids first). */
  readyPresenceGuildLimit: number;
  /** How often a node refreshes its presence heartbeat and looks for dead nodes' connections. */
  presenceHeartbeatMs: number;
  replayBufferEvents: number;
  replayBufferBytes: number;
  replayBufferAgeMs: number;
  resumeWindowMs: number;
  /** Detached (resumable) sessions kept per user; past it the oldest ends. */
  resumeMaxDetachedPerUser: number;
  slowConsumerBytes: number;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got '${raw}'`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function optionalUrl(env: Env, name: string, protocols: string[]): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, 'must be a URL (value not shown: it may hold credentials)');
  }
  if (!protocols.includes(url.protocol)) throw new ConfigError(name, `must use ${protocols.join(' or ')}, got '${url.protocol}'`);
  return raw;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Parses `JWT_PREVIOUS_KEYS` = "kid1:secret1,kid2:secret2". */
function previousKeys(env: Env): { kid: string; secret: string }[] {
  const raw = env.JWT_PREVIOUS_KEYS;
  if (!raw) return [];
  return raw.split(',').map((pair) => {
    const i = pair.indexOf(':');
    if (i < 1 || i === pair.length - 1) throw new ConfigError('JWT_PREVIOUS_KEYS', 'must be kid:secret pairs separated by commas');
    const secret = pair.slice(i + 1);
    if (secret.length < 32) throw new ConfigError('JWT_PREVIOUS_KEYS', 'secrets must be at least 32 characters');
    return { kid: pair.slice(0, i), secret };
  });
}

export interface AccountsConfig {
  requireEmailConfirmation: boolean;
  confirmTokenTtlSec: number;
  resetTokenTtlSec: number;
  /** How long a just-rotated refresh token still works (concurrent refreshes). */
  refreshGraceMs: number;
  sessionCacheTtlSec: number;
  /** How often live sockets re-check their session against the database. */
  sessionRecheckMs: number;
  /** Base URL for links in emails; null = the server's own URL. */
  appUrl: string | null;
}

/** Token buckets (null = off): see engine/ratelimit/rate-limiter.ts parseRate for the format. */
export interface RateLimitsConfig {
  loginPerIp: TokenBucketSpec | null;
  loginPerAccount: TokenBucketSpec | null;
  registerPerIp: TokenBucketSpec | null;
  refreshPerSession: TokenBucketSpec | null;
  emailPerAccount: TokenBucketSpec | null;
  emailPerIp: TokenBucketSpec | null;
  socketCommands: TokenBucketSpec | null;
  messagesPerChannel: TokenBucketSpec | null;
  /** Consecutive refused commands after which a connection is closed with RATE_LIMITED. */
  socketFloodCloseAfter: number;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got '${env[name]}'`);
}

function list(env: Env, name: string): string[] {
  return (env[name] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function rateOf(env: Env, name: string, fallback: string): TokenBucketSpec | null {
  try {
    return parseRate(str(env, name, fallback));
  } catch (err) {
    throw new ConfigError(name, err instanceof Error ? err.message : String(err));
  }
}

/** Each entry an http(s) origin (scheme://host[:port], no path); returned as URL.origin. */
function origins(env: Env): string[] {
  return list(env, 'ALLOWED_ORIGINS').map((o) => {
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      throw new ConfigError('ALLOWED_ORIGINS', `'${o}' is not an origin like https://chat.example.com`);
    }
    if (!['http:', 'https:'].includes(url.protocol) || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
      throw new ConfigError('ALLOWED_ORIGINS', `'${o}' is not an origin like https://chat.example.com`);
    }
    return url.origin;
  });
}

/** Each entry an IP address or CIDR (a.b.c.d/n, ipv6/n). */
function cidrs(env: Env): string[] {
  return list(env, 'TRUSTED_PROXIES').map((c) => {
    const [addr, bits, extra] = c.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
      throw new ConfigError('TRUSTED_PROXIES', `'${c}' is not an IP address or CIDR like 10.0.0.0/8`);
    }
    return c;
  });
}

function tlsFiles(env: Env): Config['tls'] {
  const certFile = env.TLS_CERT_FILE || null;
  const keyFile = env.TLS_KEY_FILE || null;
  if (!certFile && !keyFile) return null;
  if (!certFile) throw new ConfigError('TLS_CERT_FILE', 'must be set together with TLS_KEY_FILE');
  if (!keyFile) throw new ConfigError('TLS_KEY_FILE', 'must be set together with TLS_CERT_FILE');
  for (const [name, file] of [['TLS_CERT_FILE', certFile], ['TLS_KEY_FILE', keyFile]] as const) {
    try {
      accessSync(file, fsConstants.R_OK);
    } catch {
      throw new ConfigError(name, `names a file that cannot be read: '${file}'`);
    }
  }
  return { certFile, keyFile, passphrase: env.TLS_KEY_PASSPHRASE || null };
}

function smtpUrl(env: Env): string | null {
  const raw = env.SMTP_URL;
  if (!raw) return null;
  try {
    parseSmtpUrl(raw);
  } catch (err) {
    // The reason never includes the URL, which may hold credentials.
    throw new ConfigError('SMTP_URL', err instanceof Error ? err.message : 'is invalid');
  }
  return raw;
}

function accounts(env: Env): AccountsConfig {
  const appUrl = optionalUrl(env, 'APP_URL', ['http:', 'https:']);
  return {
    requireEmailConfirmation: bool(env, 'REQUIRE_EMAIL_CONFIRMATION', false),
    confirmTokenTtlSec: int(env, 'EMAIL_CONFIRM_TTL_SEC', 48 * 3600, 300, 30 * 24 * 3600),
    resetTokenTtlSec: int(env, 'PASSWORD_RESET_TTL_SEC', 3600, 300, 24 * 3600),
    refreshGraceMs: int(env, 'REFRESH_REUSE_GRACE_MS', 10_000, 0, 60_000),
    sessionCacheTtlSec: int(env, 'SESSION_CACHE_TTL_SEC', 60, 1, 900),
    sessionRecheckMs: int(env, 'SESSION_RECHECK_MS', 30_000, 1000, 3600_000),
    appUrl,
  };
}

function rateLimits(env: Env): RateLimitsConfig {
  const enabled = bool(env, 'RATE_LIMITS_ENABLED', true);
  // Values are validated even when every limit is switched off.
  const rate = (e: Env, name: string, fallback: string) => {
    const spec = rateOf(e, name, fallback);
    return enabled ? spec : null;
  };
  return {
    loginPerIp: rate(env, 'RATE_LIMIT_LOGIN_IP', '20/m:30'),
    loginPerAccount: rate(env, 'RATE_LIMIT_LOGIN_ACCOUNT', '5/5m:10'),
    registerPerIp: rate(env, 'RATE_LIMIT_REGISTER_IP', '5/h:10'),
    refreshPerSession: rate(env, 'RATE_LIMIT_REFRESH_SESSION', '10/m'),
    emailPerAccount: rate(env, 'RATE_LIMIT_EMAIL_ACCOUNT', '3/h'),
    emailPerIp: rate(env, 'RATE_LIMIT_EMAIL_IP', '20/h'),
    socketCommands: rate(env, 'RATE_LIMIT_SOCKET_COMMANDS', '20/s:60'),
    messagesPerChannel: rate(env, 'RATE_LIMIT_MESSAGES', '5/5s:10'),
    socketFloodCloseAfter: int(env, 'SOCKET_FLOOD_CLOSE_AFTER', 50, 1, 100_000),
  };
}

export function loadConfig(env: Env = process.env): Config {
  const jwtSecret = env.JWT_SECRET || null;
  if (jwtSecret !== null && jwtSecret.length < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 characters');
  const logLevel = str(env, 'LOG_LEVEL', 'info');
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  const accessTokenTtlSec = int(env, 'ACCESS_TOKEN_TTL_SEC', 900, 30, 900);
  const refreshTokenTtlSec = int(env, 'REFRESH_TOKEN_TTL_SEC', 30 * 24 * 3600, 60, 365 * 24 * 3600);
  if (refreshTokenTtlSec <= accessTokenTtlSec) throw new ConfigError('REFRESH_TOKEN_TTL_SEC', 'must be longer than ACCESS_TOKEN_TTL_SEC');
  return {
    host: str(env, 'HOST', '0.0.0.0'),
    port: int(env, 'PORT', 8080, 0, 65535),
    databaseUrl: optionalUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: str(env, 'DATA_DIR', './data'),
    redisUrl: optionalUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    natsUrl: optionalUrl(env, 'NATS_URL', ['nats:', 'tls:']),
    nodeId: int(env, 'NODE_ID', 0, 0, 1023),
    logLevel,
    jwtSecret,
    jwtKid: str(env, 'JWT_KID', 'k1'),
    jwtPreviousKeys: previousKeys(env),
    jwtIssuer: str(env, 'JWT_ISSUER', 'guildhall'),
    jwtAudience: str(env, 'JWT_AUDIENCE', 'guildhall-gateway'),
    accessTokenTtlSec,
    refreshTokenTtlSec,
    allowedOrigins: origins(env),
    trustedProxies: cidrs(env),
    tls: tlsFiles(env),
    accounts: accounts(env),
    mail: { smtpUrl: smtpUrl(env), from: str(env, 'MAIL_FROM', 'Guildhall <no-reply@localhost>') },
    rateLimits: rateLimits(env),
    heartbeatIntervalMs: int(env, 'HEARTBEAT_INTERVAL_MS', 30_000, 1000, 600_000),
    identifyTimeoutMs: int(env, 'IDENTIFY_TIMEOUT_MS', 10_000, 100, 120_000),
    maxFrameBytes: int(env, 'MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    maxBadFrames: int(env, 'MAX_BAD_FRAMES', 20, 0, 10_000),
    actorIdleMs: int(env, 'ACTOR_IDLE_MS', 5 * 60_000, 1000, 24 * 3600_000),
    actorMaxIdle: int(env, 'ACTOR_MAX_IDLE', 50_000, 1, 10_000_000),
    historyCacheSize: int(env, 'HISTORY_CACHE_SIZE', 100, 0, 10_000),
    writeBatchMax: int(env, 'WRITE_BATCH_MAX', 1000, 1, 10_000),
    writeMaxInFlight: int(env, 'WRITE_MAX_IN_FLIGHT', 1, 1, 16),
    readyDmLimit: int(env, 'READY_DM_LIMIT', 100, 0, 10_000),
    presenceGraceMs: int(env, 'PRESENCE_GRACE_MS', 15_000, 0, 600_000),
    readyPresenceGuildLimit: int(env, 'READY_PRESENCE_GUILD_LIMIT', 1000, 0, 100_000),
    presenceHeartbeatMs: int(env, 'PRESENCE_HEARTBEAT_MS', 10_000, 100, 600_000),
    replayBufferEvents: int(env, 'REPLAY_BUFFER_EVENTS', 1000, 0, 1_000_000),
    replayBufferBytes: int(env, 'REPLAY_BUFFER_BYTES', 1024 * 1024, 0, 1024 * 1024 * 1024),
    replayBufferAgeMs: int(env, 'REPLAY_BUFFER_AGE_MS', 180_000, 1000, 24 * 3600_000),
    resumeWindowMs: int(env, 'RESUME_WINDOW_MS', 120_000, 0, 24 * 3600_000),
    resumeMaxDetachedPerUser: int(env, 'RESUME_MAX_DETACHED_PER_USER', 16, 1, 100_000),
    slowConsumerBytes: int(env, 'SLOW_CONSUMER_BYTES', 1024 * 1024, 16 * 1024, 1024 * 1024 * 1024),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
  };
}
