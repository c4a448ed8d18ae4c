/**
 * The HTTP face of AuthService. JSON in, JSON out, `cache-control: no-store` on every answer.
 * "Bearer" routes need `Authorization: Bearer <access token>`.
 *
 *   POST   /auth/register               {email, password, nickname}  → 201 {user}
 *   POST   /auth/login                  {email, password, client?}   → 200 {accessToken, refreshToken, sessionId, expiresIn, user}
 *   POST   /auth/refresh                {refreshToken}               → 200 {accessToken, refreshToken, sessionId, expiresIn}
 *   POST   /auth/logout                 {refreshToken} or Bearer     → 204
 *   POST   /auth/confirm                {token}                      → 204
 *   POST   /auth/confirm/resend         {email}                      → 202 (always, for any well-formed address)
 *   POST   /auth/password/reset-request {email}                      → 202 (always, for any well-formed address)
 *   POST   /auth/password/reset         {token, password}            → 204 (every session of the account is revoked)
 *   POST   /auth/password/change        Bearer {currentPassword, newPassword} → 204 (the other sessions are revoked)
 *   GET    /auth/sessions               Bearer                       → 200 {sessions: [{id, client, ip, createdAt, lastActiveAt, current}]}
 *   DELETE /auth/sessions/:id           Bearer                       → 204
 *   POST   /auth/sessions/revoke-others Bearer                       → 200 {revoked}
 *   POST   /auth/sessions/revoke-all    Bearer                       → 200 {revoked}
 *
 * Failures are `{error: {code, message, field?, retryAfterMs?}}` with `code` from ErrorCode:
 * 400 INVALID_PAYLOAD (bad JSON or field; `field` names it) or INVALID_EMAIL_TOKEN, 401
 * INVALID_CREDENTIALS (login) or AUTH_FAILED (tokens; with WWW-Authenticate on Bearer routes),
 * 403 EMAIL_NOT_CONFIRMED, or INVALID_CREDENTIALS (password change: wrong current password), 404
 * UNKNOWN_SESSION, 409 EMAIL_TAKEN / NICKNAME_TAKEN, 413 INVALID_PAYLOAD (body too large), 429
 * RATE_LIMITED (with a Retry-After header in seconds), 503 UNAVAILABLE (database unreachable),
 * 500 INTERNAL (details are logged, never sent).
 */
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ErrorCode } from '../../protocol/opcodes.ts';
import { StorageUnavailableError } from '../../storage/records.ts';
import { AuthError, type AuthErrorReason, type AuthService, type Caller } from '../auth/auth-service.ts';
import { RateLimitedError } from '../ratelimit/rate-limiter.ts';
import { HttpBodyError, clientIp, declaredContentLength, readJson, sendJson, trackAbort } from './http-io.ts';
import type { TrustedProxies } from './trusted-proxies.ts';

export interface AuthRoutesOptions {
  /** Request body limit; default 16 KiB. */
  maxBodyBytes?: number;
  /** Reverse proxies whose X-Forwarded-For is believed (see trusted-proxies.ts). Default none. */
  trustedProxies?: TrustedProxies;
}

type Body = Record<string, unknown>;
interface Reply { status: number; body?: unknown }
interface RequestContext {
  body: Body;
  ip: string;
  userAgent: string;
  /** Set on Bearer routes (and on /auth/logout when a Bearer token was sent). */
  caller: Caller | null;
  params: string[];
}

const NO_STORE = { 'cache-control': 'no-store' } as const;

/** A request field is missing or has the wrong type. */
class FieldError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function str(body: Body, name: string): string {
  const v = body[name];
  if (typeof v !== 'string') throw new FieldError(name, `${name} must be a string`);
  return v;
}

function optStr(body: Body, name: string): string | undefined {
  return body[name] === undefined || body[name] === null ? undefined : str(body, name);
}

interface HttpFailure { status: number; code: number; message: string; field?: string }

const AUTH_ERROR_HTTP: Record<AuthErrorReason, HttpFailure> = {
  invalid_email: { status: 400, code: ErrorCode.INVALID_PAYLOAD, message: 'email is not a valid address of at most 254 characters', field: 'email' },
  invalid_nickname: { status: 400, code: ErrorCode.INVALID_PAYLOAD, message: 'nickname must be 2-32 characters of a-z A-Z 0-9 _ . -', field: 'nickname' },
  invalid_password: { status: 400, code: ErrorCode.INVALID_PAYLOAD, message: 'password must be 8-128 characters', field: 'password' },
  email_taken: { status: 409, code: ErrorCode.EMAIL_TAKEN, message: 'email is already registered' },
  nickname_taken: { status: 409, code: ErrorCode.NICKNAME_TAKEN, message: 'nickname is already taken' },
  invalid_credentials: { status: 401, code: ErrorCode.INVALID_CREDENTIALS, message: 'invalid email or password' },
  email_not_confirmed: { status: 403, code: ErrorCode.EMAIL_NOT_CONFIRMED, message: 'confirm your email address first' },
  invalid_token: { status: 401, code: ErrorCode.AUTH_FAILED, message: 'invalid or expired token' },
  expired_token: { status: 401, code: ErrorCode.AUTH_FAILED, message: 'token expired' },
  session_revoked: { status: 401, code: ErrorCode.AUTH_FAILED, message: 'session revoked' },
  invalid_link_token: { status: 400, code: ErrorCode.INVALID_EMAIL_TOKEN, message: 'this link is invalid, already used or expired', field: 'token' },
  unknown_session: { status: 404, code: ErrorCode.UNKNOWN_SESSION, message: 'no such session' },
};

function sendError(res: HttpResponse, f: HttpFailure, opts: { close?: boolean; headers?: Record<string, string>; extra?: Record<string, unknown> } = {}): void {
  const error = { code: f.code, message: f.message, ...(f.field === undefined ? {} : { field: f.field }), ...opts.extra };
  sendJson(res, f.status, { error }, { ...NO_STORE, ...opts.headers }, { close: opts.close });
}

function respondError(res: HttpResponse, err: unknown, logger: Logger, path: string): void {
  if (err instanceof HttpBodyError) {
    if (err.kind === 'aborted') logger.debug({ path }, 'request aborted');
    else if (err.kind === 'too_large') sendError(res, { status: 413, code: ErrorCode.INVALID_PAYLOAD, message: err.message }, { close: true });
    else sendError(res, { status: 400, code: ErrorCode.INVALID_PAYLOAD, message: err.message });
  } else if (err instanceof FieldError) {
    sendError(res, { status: 400, code: ErrorCode.INVALID_PAYLOAD, message: err.message, field: err.field });
  } else if (err instanceof AuthError) {
    const f = AUTH_ERROR_HTTP[err.reason];
    const bearer = f.code === ErrorCode.AUTH_FAILED ? { 'www-authenticate': 'Bearer error="invalid_token"' } : undefined;
    sendError(res, f, { headers: bearer });
  } else if (err instanceof RateLimitedError) {
    sendError(res, { status: 429, code: ErrorCode.RATE_LIMITED, message: 'too many requests, slow down' }, {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) },
      extra: { retryAfterMs: err.retryAfterMs },
    });
  } else if (err instanceof StorageUnavailableError) {
    logger.warn({ err, path }, 'storage unavailable');
    sendError(res, { status: 503, code: ErrorCode.UNAVAILABLE, message: 'temporarily unavailable, retry later' }, { headers: { 'retry-after': '1' } });
  } else {
    logger.error({ err, path }, 'auth route failed');
    sendError(res, { status: 500, code: ErrorCode.INTERNAL, message: 'internal error' });
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
function bearerToken(req: HttpRequest): string | null {
  const m = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(req.getHeader('authorization'));
  return m ? m[1]! : null;
}

type Method = 'post' | 'get' | 'del';
interface RouteOptions {
  /** Require a valid Bearer access token ('optional': verify one if sent). Default false. */
  auth?: boolean | 'optional';
  /** Read a JSON object body; default true for POST. An empty body counts as {}. */
  body?: boolean;
  /** How many `:param` segments the path has (read in order). */
  params?: number;
}

/** Registers the /auth/* routes on `app`. */
export function mountAuthRoutes(app: TemplatedApp, auth: AuthService, logger: Logger, opts: AuthRoutesOptions = {}): void {
  const maxBytes = opts.maxBodyBytes ?? 16 * 1024;

  const route = (method: Method, path: string, ro: RouteOptions, handle: (ctx: RequestContext) => Promise<Reply>) => {
    const wantsBody = ro.body ?? method === 'post';
    app[method](path, (res: HttpResponse, req: HttpRequest) => {
      // Everything that touches `req` or attaches uWS handlers happens before the first await.
      trackAbort(res);
      const ip = clientIp(res, req, { trustedProxies: opts.trustedProxies });
      const userAgent = req.getHeader('user-agent');
      const token = ro.auth ? bearerToken(req) : null;
      const params = Array.from({ length: ro.params ?? 0 }, (_, i) => req.getParameter(i) ?? '');
      const declared = declaredContentLength(req);
      if (wantsBody && declared !== null && declared > maxBytes) {
        sendError(res, { status: 413, code: ErrorCode.INVALID_PAYLOAD, message: 'request body too large' }, { close: true });
        return;
      }
      const body = wantsBody ? readJson(res, maxBytes, { emptyAs: {} }) : Promise.resolve({});
      void (async () => {
        try {
          const parsed = await body;
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
            throw new FieldError('body', 'body must be a JSON object');
          }
          let caller: Caller | null = null;
          if (ro.auth === true && token === null) throw new AuthError('invalid_token', 'missing bearer token');
          if (token !== null) caller = await auth.verifyAccessToken(token);
          const reply = await handle({ body: parsed as Body, ip, userAgent, caller, params });
          sendJson(res, reply.status, reply.body, NO_STORE);
        } catch (err) {
          respondError(res, err, logger, path);
        }
      })();
    });
  };

  route('post', '/auth/register', {}, async ({ body, ip }) => {
    const user = await auth.register({ email: str(body, 'email'), password: str(body, 'password'), nickname: str(body, 'nickname'), ip });
    return { status: 201, body: { user } };
  });

  route('post', '/auth/login', {}, async ({ body, ip, userAgent }) => {
    const email = str(body, 'email');
    const password = str(body, 'password');
    const client = optStr(body, 'client') ?? (userAgent || undefined);
    return { status: 200, body: await auth.login({ email, password, client, ip }) };
  });

  route('post', '/auth/refresh', {}, async ({ body }) => ({ status: 200, body: await auth.refresh(str(body, 'refreshToken')) }));

  route('post', '/auth/logout', { auth: 'optional' }, async ({ body, caller }) => {
    const refreshToken = optStr(body, 'refreshToken');
    if (refreshToken !== undefined) await auth.logout(refreshToken);
    else if (caller) await auth.revokeSession(caller.userId, caller.sessionId, 'logout');
    else throw new FieldError('refreshToken', 'send refreshToken, or an Authorization: Bearer access token');
    return { status: 204 };
  });

  route('post', '/auth/confirm', {}, async ({ body }) => {
    await auth.confirmEmail(str(body, 'token'));
    return { status: 204 };
  });

  route('post', '/auth/confirm/resend', {}, async ({ body, ip }) => {
    await auth.resendConfirmation({ email: str(body, 'email'), ip });
    return { status: 202, body: { accepted: true } };
  });

  route('post', '/auth/password/reset-request', {}, async ({ body, ip }) => {
    await auth.requestPasswordReset({ email: str(body, 'email'), ip });
    return { status: 202, body: { accepted: true } };
  });

  route('post', '/auth/password/reset', {}, async ({ body }) => {
    await auth.resetPassword({ token: str(body, 'token'), password: str(body, 'password') });
    return { status: 204 };
  });

  route('post', '/auth/password/change', { auth: true }, async ({ body, caller }) => {
    const currentPassword = str(body, 'currentPassword');
    const newPassword = str(body, 'newPassword');
    try {
      await auth.changePassword(caller!, { currentPassword, newPassword });
    } catch (err) {
      // 403, not 401: the bearer token is fine; the password in the body is not.
      if (err instanceof AuthError && err.reason === 'invalid_credentials') {
        return { status: 403, body: { error: { code: ErrorCode.INVALID_CREDENTIALS, message: 'current password is wrong', field: 'currentPassword' } } };
      }
      if (err instanceof AuthError && err.reason === 'invalid_password') throw new FieldError('newPassword', 'password must be 8-128 characters');
      throw err;
    }
    return { status: 204 };
  });

  route('get', '/auth/sessions', { auth: true }, async ({ caller }) => ({
    status: 200, body: { sessions: await auth.listSessions(caller!.userId, caller!.sessionId) },
  }));

  route('del', '/auth/sessions/:id', { auth: true, params: 1 }, async ({ caller, params }) => {
    const id = params[0]!;
    if (!/^[0-9]{1,20}$/.test(id)) throw new AuthError('unknown_session');
    await auth.revokeSession(caller!.userId, id);
    return { status: 204 };
  });

  route('post', '/auth/sessions/revoke-others', { auth: true }, async ({ caller }) => ({
    status: 200, body: { revoked: await auth.revokeOtherSessions(caller!.userId, caller!.sessionId) },
  }));

  route('post', '/auth/sessions/revoke-all', { auth: true }, async ({ caller }) => ({
    status: 200, body: { revoked: await auth.revokeAllSessions(caller!.userId) },
  }));
}
