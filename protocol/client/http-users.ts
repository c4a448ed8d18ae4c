/** The user endpoints of the HTTP API (see engine/http/user-routes.ts). */
import type { SelfProfile } from '../types.ts';
import { GuildhallHttpError } from './errors.ts';

export const users = {
  /** `GET /users/@me`: the caller's own profile, email included. */
  async me(baseUrl: string, accessToken: string): Promise<SelfProfile> {
    const res = await fetch(new URL('/users/@me', baseUrl), { headers: { authorization: `Bearer ${accessToken}` } });
    const json = (await res.json()) as SelfProfile & { error?: { code?: number; message?: string } };
    if (!res.ok) throw new GuildhallHttpError(res.status, json.error?.code ?? null, json.error?.message ?? res.statusText);
    return json;
  },
};
