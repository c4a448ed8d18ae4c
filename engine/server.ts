/**
 * Composition root: builds storage, the ephemeral store, auth, the actor system with its router and
 * bus, the HTTP routes and the gateway on one uWS app, and tears them down in reverse order.
 */
import { randomBytes } from 'node:crypto';
import pino, { type Logger } from 'pino';
import { SnowflakeGenerator, systemClock, type Clock } from '../protocol/ids.ts';
import { checkDurability, createStores, openDatabase } from '../storage/database.ts';
import { GroupCommitWriter } from '../storage/group-commit-writer.ts';
import { MessageWriter } from '../storage/messages/message-writer.ts';
import type { AuditEntryRecord } from '../storage/records.ts';
import { openEphemeralStore } from '../storage/ephemeral/open-ephemeral-store.ts';
import { ActorSystem } from './actors/actor-system.ts';
import { StreamRegistry } from './actors/event-stream.ts';
import { StorageUnavailableError } from '../storage/records.ts';
import { AuthError, AuthService } from './auth/auth-service.ts';
import { LocalBus } from './cluster/local-bus.ts';
import { LocalRouter } from './cluster/local-router.ts';
import type { Config } from './config/config.ts';
import { createDmActor } from './dm/dm-actor.ts';
import { buildCommandTable } from './gateway/command-table.ts';
import { Gateway } from './gateway/gateway.ts';
import { buildReady, ReadyLoader } from './gateway/ready.ts';
import { uws, type us_listen_socket } from './gateway/uws.ts';
import { AuditProjection } from './guild/audit-projection.ts';
import { createGuildActor } from './guild/guild-actor.ts';
import { mountAuthRoutes } from './http/auth-routes.ts';
import { TrustedProxies } from './http/trusted-proxies.ts';
import { DevMailer, type Mailer } from './mail/mailer.ts';
import { parseSmtpUrl, SmtpMailer } from './mail/smtp-mailer.ts';
import { withMessageRateLimit } from './ratelimit/message-limits.ts';
import { RateLimiter } from './ratelimit/rate-limiter.ts';
import { SessionGuard } from './auth/session-guard.ts';
import { createAuthStores } from '../storage/auth/index.ts';
import { sendJson } from './http/http-io.ts';
import { createUserActor } from './user/user-actor.ts';
import { mountUserRoutes } from './http/user-routes.ts';
import { PresenceNode } from './people/presence-node.ts';
import { PresenceStore } from './people/presence-store.ts';

export interface RunningServer {
  port: number;
  /** http://host:port */
  httpUrl: string;
  /** ws://host:port/gateway */
  gatewayUrl: string;
  logger: Logger;
  /** Stops accepting, closes sockets with SERVER_SHUTDOWN, flushes pending writes, releases everything. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  /** Overrides the mailer chosen from config (tests pass a DevMailer to read the mails). */
  mailer?: Mailer;
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? pino({ level: config.logLevel });
  const clock = opts.clock ?? systemClock;

  const database = await openDatabase({ url: config.databaseUrl ?? undefined, dataDir: config.dataDir, logger });
  if (database.dialect === 'postgres') {
    const durability = await checkDurability(database.db);
    if (durability.fsync === 'off') {
      await database.close();
      throw new Error('refusing to start: Postgres runs with fsync=off, so acknowledged messages could be lost');
    }
    if (durability.synchronousCommit === 'off') logger.warn('Postgres synchronous_commit=off: a crash can lose recently acknowledged messages');
  }
  const stores = createStores(database.db);
  const ephemeral = openEphemeralStore({
    redisUrl: config.redisUrl ?? undefined,
    onConnectionError: (err) => logger.warn({ err: err.message }, 'redis connection error'),
  });
  const writer = new MessageWriter(stores.messages, { maxBatch: config.writeBatchMax, maxInFlight: config.writeMaxInFlight, logger });
  const ids = new SnowflakeGenerator(config.nodeId, clock);
  let boundPort = config.port;

  let jwtSecret = config.jwtSecret;
  if (!jwtSecret) {
    jwtSecret = randomBytes(32).toString('base64url');
    logger.warn('JWT_SECRET not set: using a random key; tokens will not survive a restart');
  }
  const authStores = createAuthStores(database.db);
  const limiter = new RateLimiter({ store: ephemeral, logger, clock });
  const rl = config.rateLimits;
  const rule = (name: string, spec: typeof rl.loginPerIp) => (spec ? { name, spec } : null);
  const mailer: Mailer = opts.mailer ?? (config.mail.smtpUrl
    ? new SmtpMailer({ ...parseSmtpUrl(config.mail.smtpUrl), from: config.mail.from })
    : new DevMailer({ logger }));
  if (!opts.mailer && !config.mail.smtpUrl) logger.warn('SMTP_URL not set: account emails are not sent; their links are logged (development mailer)');
  const scheme = config.tls ? 'https' : 'http';
  const auth = new AuthService({
    users: stores.users,
    accounts: authStores.accounts,
    sessions: authStores.sessions,
    cache: ephemeral,
    limiter,
    rules: {
      loginPerIp: rule('login-ip', rl.loginPerIp),
      loginPerAccount: rule('login-account', rl.loginPerAccount),
      registerPerIp: rule('register-ip', rl.registerPerIp),
      refreshPerSession: rule('refresh-session', rl.refreshPerSession),
      emailPerAccount: rule('email-account', rl.emailPerAccount),
      emailPerIp: rule('email-ip', rl.emailPerIp),
    },
    mailer,
    refreshGraceMs: config.accounts.refreshGraceMs,
    sessionCacheTtlMs: config.accounts.sessionCacheTtlSec * 1000,
    requireEmailConfirmation: config.accounts.requireEmailConfirmation,
    confirmTokenTtlMs: config.accounts.confirmTokenTtlSec * 1000,
    resetTokenTtlMs: config.accounts.resetTokenTtlSec * 1000,
    // The real port is known only after listen; links are built later, so read it lazily.
    get appUrl() {
      return config.accounts.appUrl ?? `${scheme}://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${boundPort}`;
    },
    ids,
    clock,
    jwt: {
      keyring: { current: { kid: config.jwtKid, secret: jwtSecret }, previous: config.jwtPreviousKeys },
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      accessTtlMs: config.accessTokenTtlSec * 1000,
    },
    refreshTtlMs: config.refreshTokenTtlSec * 1000,
    logger,
  });

  const system = new ActorSystem({ maxIdle: config.actorMaxIdle, idleMs: config.actorIdleMs, clock, logger });
  const streams = new StreamRegistry(
    { maxEvents: config.replayBufferEvents, maxBytes: config.replayBufferBytes, maxAgeMs: config.replayBufferAgeMs },
    clock,
  );
  const bus = new LocalBus(streams);
  const router = new LocalRouter(system);
  const presenceStore = new PresenceStore(ephemeral);
  const presenceNode = new PresenceNode({ store: presenceStore, router, logger, heartbeatMs: config.presenceHeartbeatMs });
  const auditWriter = new GroupCommitWriter<AuditEntryRecord>('audit', (rows) => stores.audit.insertMany(rows), { logger });
  const audit = new AuditProjection(stores.audit, auditWriter, ids, clock, logger);
  const common = { bus, router, ids, clock, logger, writer, historyCacheSize: config.historyCacheSize };
  system.register('guild', (id) =>
    createGuildActor(id, {
      ...common, audit, guilds: stores.guilds, users: stores.users, messages: stores.messages, readStates: stores.readStates, mutes: stores.mutes,
      joinPresence: { presence: presenceStore, limit: config.readyPresenceGuildLimit },
    }));
  const people = { profiles: stores.profiles, relationships: stores.relationships };
  system.register('dm', (id) => createDmActor(id, { ...common, ...people, dms: stores.dms, users: stores.users, messages: stores.messages, readStates: stores.readStates }));
  system.register('user', (id) => createUserActor(id, {
    ...common, ...people, users: stores.users, dms: stores.dms, readStates: stores.readStates, mutes: stores.mutes, guilds: stores.guilds,
    messages: stores.messages, presence: presenceStore, nodeId: presenceNode.nodeId, presenceGraceMs: config.presenceGraceMs,
  }));

  const app = config.tls
    ? uws.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile, ...(config.tls.passphrase ? { passphrase: config.tls.passphrase } : {}) })
    : uws.App();
  mountAuthRoutes(app, auth, logger, { trustedProxies: new TrustedProxies(config.trustedProxies) });
  const readyLoader = new ReadyLoader(stores.ready, { membersPerGuild: config.readyPresenceGuildLimit, dmLimit: config.readyDmLimit });
  const gateway = new Gateway(app, {
    // An AuthError is a verdict on the token; anything else (the ephemeral store is down) is not.
    verifyToken: (token) =>
      auth.verifyAccessToken(token).catch((err) => {
        throw err instanceof AuthError ? err : new StorageUnavailableError(err);
      }),
    ready: (caller) =>
      buildReady({
        router, loader: readyLoader, readyDmLimit: config.readyDmLimit, profiles: stores.profiles,
        presence: presenceStore, readyPresenceGuildLimit: config.readyPresenceGuildLimit,
        onPresenceUnavailable: (err) => logger.warn({ err }, 'READY without presences: ephemeral store unavailable'),
      }, caller.userId, caller.sessionId),
    commands: withMessageRateLimit(buildCommandTable({ router, guilds: stores.guilds, dms: stores.dms, ids }), limiter, rule('messages', rl.messagesPerChannel)),
    onSessionOpen: presenceNode.onSessionOpen,
    onSessionClose: presenceNode.onSessionClose,
    allowedOrigins: new Set(config.allowedOrigins),
    clock,
    logger,
    limits: {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      identifyTimeoutMs: config.identifyTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      maxBadFrames: config.maxBadFrames,
      commandBudget: rl.socketCommands ? { ...rl.socketCommands, closeAfterRejected: rl.socketFloodCloseAfter } : undefined,
      slowConsumerBytes: config.slowConsumerBytes,
    },
    streams,
    resumeWindowMs: config.resumeWindowMs,
    resumeMaxDetachedPerUser: config.resumeMaxDetachedPerUser,
  });
  gateway.mount('/gateway');
  bus.listen(gateway);
  mountUserRoutes(app, {
    verifyAccessToken: (token) => auth.verifyAccessToken(token).catch((err) => {
      throw err instanceof AuthError ? err : new StorageUnavailableError(err);
    }),
    router,
    logger,
  });
  await presenceNode.start();
  const guard = new SessionGuard(auth, gateway, { recheckMs: config.accounts.sessionRecheckMs, logger });
  const janitor = setInterval(() => void auth.purge().catch((err: unknown) => logger.warn({ err }, 'session purge failed')), 3600_000);
  janitor.unref();
  const startedAt = clock.now();
  app.get('/health', (res) => {
    sendJson(res, 200, {
      status: 'ok',
      database: database.dialect,
      ephemeral: config.redisUrl ? 'redis' : 'memory',
      connections: gateway.connectionCount,
      actors: system.size,
      uptimeSec: Math.round((clock.now() - startedAt) / 1000),
    });
  });
  app.any('/*', (res) => {
    sendJson(res, 404, { error: { code: 404, message: 'not found' } });
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => {
      if (socket) resolve(socket);
      else reject(new Error(`cannot listen on ${config.host}:${config.port}`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket);
  boundPort = port;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  logger.info({ port, database: database.dialect, ephemeral: config.redisUrl ? 'redis' : 'memory' }, 'guildhall listening');

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      // Stop accepting, let running commands finish (their writes commit), publish what is
      // pending, close every socket with SERVER_SHUTDOWN, then flush whatever is still queued.
      uws.us_listen_socket_close(listenSocket);
      await gateway.drain(config.shutdownGraceMs);
      await presenceNode.close();
      gateway.closeAll();
      await writer.close();
      streams.close();
      await auditWriter.close();
      system.close();
      await bus.close();
      guard.stop();
      clearInterval(janitor);
      await limiter.close();
      await ephemeral.close();
      await database.close();
      logger.info('guildhall stopped');
    })());

  return { port, httpUrl: `${scheme}://${host}:${port}`, gatewayUrl: `${config.tls ? 'wss' : 'ws'}://${host}:${port}/gateway`, logger, close };
}
