/**
 * User HTTP routes. JSON out, `cache-control: no-store`.
 *
 *   GET /users/@me   Authorization: Bearer <access token>  → 200 SelfProfile
 *                    {id, nickname, displayName, avatarUrl, bio, createdAt, email}
 *
 * Failures are `{error: {code, message}}`: 401 AUTH_FAILED (missing, invalid or expired token, or
 * a revoked session; with `WWW-Authenticate: Bearer`), 404 UNKNOWN_USER (the account is gone),
 * 503 UNAVAILABLE, 500 INTERNAL. The profile comes from the user's actor, like `profile.get` on
 * the gateway, so both always agree.
 */
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ErrorCode } from '../../protocol/opcodes.ts';
import type { SelfProfile } from '../../protocol/types.ts';
import { StorageUnavailableError } from '../../storage/records.ts';
import type { Router } from '../cluster/router.ts';
import { CommandError } from '../command-error.ts';
import type { Caller } from '../gateway/command-table.ts';
import type { UserCommand } from '../user/user-commands.ts';
import { sendJson, trackAbort } from './http-io.ts';

export interface UserRoutesDeps {
  /** Resolves the caller of a valid access token; rejects otherwise (AuthService.verifyAccessToken). */
  verifyAccessToken(token: string): Promise<Caller>;
  router: Router;
  logger: Logger;
}

const NO_STORE = { 'cache-control': 'no-store' } as const;
const UNAUTHORIZED = { ...NO_STORE, 'www-authenticate': 'Bearer error="invalid_token"' };

function bearerToken(req: HttpRequest): string | null {
  const m = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(req.getHeader('authorization'));
  return m ? m[1]! : null;
}

const fail = (res: HttpResponse, status: number, code: number, message: string, headers: Record<string, string> = NO_STORE) =>
  sendJson(res, status, { error: { code, message } }, headers);

export function mountUserRoutes(app: TemplatedApp, deps: UserRoutesDeps): void {
  app.get('/users/@me', (res, req) => {
    trackAbort(res);
    const token = bearerToken(req);
    if (token === null) return void fail(res, 401, ErrorCode.AUTH_FAILED, 'missing bearer token', UNAUTHORIZED);
    void (async () => {
      let caller: Caller;
      try {
        caller = await deps.verifyAccessToken(token);
      } catch (err) {
        if (err instanceof StorageUnavailableError) return void fail(res, 503, ErrorCode.UNAVAILABLE, 'temporarily unavailable, retry later');
        return void fail(res, 401, ErrorCode.AUTH_FAILED, 'invalid or expired token', UNAUTHORIZED);
      }
      try {
        const profile = await deps.router.ask<SelfProfile>('user', caller.userId, { type: 'profile.get' } satisfies UserCommand);
        sendJson(res, 200, profile, NO_STORE);
      } catch (err) {
        if (err instanceof CommandError && err.code === ErrorCode.UNKNOWN_USER) return void fail(res, 404, ErrorCode.UNKNOWN_USER, 'unknown user');
        if (err instanceof StorageUnavailableError) return void fail(res, 503, ErrorCode.UNAVAILABLE, 'temporarily unavailable, retry later');
        deps.logger.error({ err }, 'GET /users/@me failed');
        fail(res, 500, ErrorCode.INTERNAL, 'internal error');
      }
    })();
  });
}
