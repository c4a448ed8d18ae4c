/**
 * All schema migrations, keyed by name. Kysely's Migrator applies them in ascending name order, so
 * names start with a zero-padded sequence number; a migration is never renamed once released.
 */
import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.ts';
import * as guildPermissions from './0002-guild-permissions.ts';
import * as accounts from './0003-accounts.ts';
import * as people from './0005-people.ts';
import * as messageFeatures from './0006-message-features.ts';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-guild-permissions': guildPermissions,
  '0003-accounts': accounts,
  '0005-people': people,
  '0006-message-features': messageFeatures,
};

/** Serves MIGRATIONS to a Kysely Migrator (no filesystem scanning, so bundling is safe). */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};
