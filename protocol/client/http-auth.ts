/** The HTTP half of the SDK: account, token and session endpoints (JSON over fetch). */
import type { SelfUser } from '../types.ts';
import { GuildhallHttpError } from './errors.ts';

/** The account as the auth endpoints return it. */
export interface AccountUser extends SelfUser {
  emailConfirmed: boolean;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  sessionId: string;
  /** Access token lifetime in seconds. */
  expiresIn: number;
  user: AccountUser;
}

export interface SessionInfo {
  id: string;
  /** Client name given at login (or the User-Agent). */
  client: string | null;
  ip: string | null;
  createdAt: number;
  lastActiveAt: number;
  /** The session whose access token made the request. */
  current: boolean;
}

interface CallOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  /** Access token, sent as `Authorization: Bearer`. */
  token?: string;
}

async function call<T>(baseUrl: string, path: string, body: unknown, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(new URL(path, baseUrl), {
    method: opts.method ?? 'POST',
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const json = text ? (JSON.parse(text) as { error?: { code?: number; message?: string; field?: string; retryAfterMs?: number } }) : {};
  if (!res.ok) {
    const e = json.error;
    throw new GuildhallHttpError(res.status, e?.code ?? null, e?.message ?? res.statusText, {
      ...(e?.field !== undefined ? { field: e.field } : {}),
      ...(e?.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    });
  }
  return json as T;
}

export const auth = {
  register: (baseUrl: string, body: { email: string; password: string; nickname: string }) =>
    call<{ user: AccountUser }>(baseUrl, '/auth/register', body),
  login: (baseUrl: string, body: { email: string; password: string; client?: string }) =>
    call<TokenPair>(baseUrl, '/auth/login', body),
  /** Exchanges the refresh token for a new pair; the old refresh token must not be used again. */
  refresh: (baseUrl: string, refreshToken: string) => call<Omit<TokenPair, 'user'>>(baseUrl, '/auth/refresh', { refreshToken }),
  /** Ends the session of this refresh token. */
  logout: (baseUrl: string, refreshToken: string) => call<unknown>(baseUrl, '/auth/logout', { refreshToken }),
  /** Confirms an email address with the token from the confirmation link. */
  confirmEmail: (baseUrl: string, token: string) => call<unknown>(baseUrl, '/auth/confirm', { token }),
  resendConfirmation: (baseUrl: string, email: string) => call<unknown>(baseUrl, '/auth/confirm/resend', { email }),
  requestPasswordReset: (baseUrl: string, email: string) => call<unknown>(baseUrl, '/auth/password/reset-request', { email }),
  /** Sets a new password with the token from the reset link; every session of the account ends. */
  resetPassword: (baseUrl: string, token: string, password: string) => call<unknown>(baseUrl, '/auth/password/reset', { token, password }),
  /** Changes the password; the account's other sessions end. */
  changePassword: (baseUrl: string, accessToken: string, body: { currentPassword: string; newPassword: string }) =>
    call<unknown>(baseUrl, '/auth/password/change', body, { token: accessToken }),
  sessions: (baseUrl: string, accessToken: string) =>
    call<{ sessions: SessionInfo[] }>(baseUrl, '/auth/sessions', undefined, { method: 'GET', token: accessToken }).then((r) => r.sessions),
  revokeSession: (baseUrl: string, accessToken: string, sessionId: string) =>
    call<unknown>(baseUrl, `/auth/sessions/${encodeURIComponent(sessionId)}`, undefined, { method: 'DELETE', token: accessToken }),
  revokeOtherSessions: (baseUrl: string, accessToken: string) =>
    call<{ revoked: number }>(baseUrl, '/auth/sessions/revoke-others', {}, { token: accessToken }),
  revokeAllSessions: (baseUrl: string, accessToken: string) =>
    call<{ revoked: number }>(baseUrl, '/auth/sessions/revoke-all', {}, { token: accessToken }),
};
