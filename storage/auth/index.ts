/** The account and session stores over one Kysely instance (Postgres or PGlite). */
import type { Kysely } from 'kysely';
import type { DB } from '../schema.ts';
import { KyselyAccountStore } from './kysely-account-store.ts';
import { KyselySessionStore } from './kysely-session-store.ts';
import type { AuthStores } from './ports.ts';

export function createAuthStores(db: Kysely<DB>): AuthStores {
  return { accounts: new KyselyAccountStore(db), sessions: new KyselySessionStore(db) };
}

export * from './ports.ts';
