/**
 * ReadyStore over Kysely (Postgres or PGlite): everything READY reads about users in one
 * statement — one round trip and one snapshot instead of a query per store and per user. Each part is a
 * json_agg subquery with the same filter and order as the dedicated store method it replaces
 * (see ReadyRecord). Ids travel as text (snowflakes exceed 2^53) and times as epoch
 * milliseconds; the whole object is returned as text and parsed here, so both dialects read it
 * the same way whatever their json parsers.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { ReadyStore } from '../ports.ts';
import { toStorageError } from '../pg-errors.ts';
import type { DmRecord, MuteRecord, ProfileRecord, ReadyRecord } from '../records.ts';
import type { DB } from '../schema.ts';

/** Epoch milliseconds of a timestamptz column, as a JSON number (null stays null). */
const ms = (column: string): string => `floor(extract(epoch from ${column}) * 1000)::int8`;

/** A users row as [id, nickname, display_name, bio, avatar_url, created_at ms]. */
const profileTuple = (a: string): string =>
  `json_build_array(${a}.id::text, ${a}.nickname, ${a}.display_name, ${a}.bio, ${a}.avatar_url, ${ms(`${a}.created_at`)})`;

/** The user's DMs, most recent activity first (DmStore.listForUser's order). */
const DM_ORDER = 'coalesce(d.last_message_id, d.id) desc, d.id desc';

/**
 * The statement, built once (no query builder per call): $1 user ids, $2 members per guild, $3 DMs
 * whose participants' profiles are read. One row per existing user.
 */
const READY_SQL = `
select u.id::text as id, json_build_object(
  'email', u.email,
  'profile', ${profileTuple('u')},
  'guildIds', coalesce((
    select json_agg(m.guild_id::text order by m.joined_at, m.guild_id) from members m where m.user_id = u.id), '[]'),
  'dms', coalesce((
    select json_agg(json_build_array(d.id::text, ${ms('d.created_at')}, d.last_message_id::text, d.type, d.name, d.owner_id::text,
      coalesce((select json_agg(dp.user_id::text order by dp.joined_at, dp.user_id) from dm_participants dp where dp.dm_id = d.id), '[]'))
      order by ${DM_ORDER})
    from dms d join dm_participants p on p.dm_id = d.id where p.user_id = u.id), '[]'),
  'readStates', coalesce((
    select json_agg(json_build_array(r.channel_id::text, r.last_read_id::text, r.mention_count)) from read_states r where r.user_id = u.id), '[]'),
  'mutes', coalesce((
    select json_agg(json_build_array(x.target_id::text, x.target_type, ${ms('x.until')})) from mutes x where x.user_id = u.id), '[]'),
  'relationships', coalesce((
    select json_agg(json_build_array(r.other_id::text, r.type, ${ms('r.created_at')}, ${profileTuple('o')}) order by r.created_at, r.other_id)
    from relationships r join users o on o.id = r.other_id where r.user_id = u.id), '[]'),
  'members', coalesce((
    select json_agg(top.user_id::text order by g.joined_at, g.guild_id, top.user_id)
    from members g cross join lateral (
      select gm.user_id from members gm where gm.guild_id = g.guild_id order by gm.user_id limit $2::int4) top
    where g.user_id = u.id), '[]'),
  'dmProfiles', coalesce((
    select json_agg(${profileTuple('o')}) from users o where o.id in (
      select dp.user_id from dm_participants dp where dp.dm_id in (
        select d.id from dms d join dm_participants p on p.dm_id = d.id where p.user_id = u.id order by ${DM_ORDER} limit $3::int4))), '[]')
)::text as ready
from users u where u.id = any($1::int8[])`;

/** Users per statement (each user's part is still one statement, i.e. one snapshot). */
const IDS_PER_QUERY = 500;

type ProfileTuple = [string, string, string | null, string | null, string | null, number];

const toProfile = (t: ProfileTuple): ProfileRecord => ({ id: t[0], nickname: t[1], displayName: t[2], bio: t[3], avatarUrl: t[4], createdAt: t[5] });

interface ReadyJson {
  email: string;
  profile: ProfileTuple;
  guildIds: string[];
  /** [id, created_at ms, last_message_id, type, name, owner_id, participant ids] */
  dms: [string, number, string | null, number, string | null, string | null, string[]][];
  /** [channel_id, last_read_id, mention_count] */
  readStates: [string, string, number][];
  /** [target_id, target_type, until ms | null] */
  mutes: [string, number, number | null][];
  /** [other_id, type, created_at ms, other's profile] */
  relationships: [string, number, number, ProfileTuple][];
  members: string[];
  dmProfiles: ProfileTuple[];
}

export class KyselyReadyStore implements ReadyStore {
  constructor(private readonly db: Kysely<DB>) {}

  async loadMany(userIds: readonly string[], opts: { membersPerGuild: number; dmLimit: number }): Promise<Map<string, ReadyRecord>> {
    const out = new Map<string, ReadyRecord>();
    if (userIds.length === 0) return out;
    const perGuild = Math.max(0, Math.floor(opts.membersPerGuild));
    const dmLimit = Math.max(0, Math.floor(opts.dmLimit));
    try {
      for (let i = 0; i < userIds.length; i += IDS_PER_QUERY) {
        const ids = [...new Set(userIds.slice(i, i + IDS_PER_QUERY))];
        const { rows } = await this.db.executeQuery<{ id: string; ready: string }>(CompiledQuery.raw(READY_SQL, [ids, perGuild, dmLimit]));
        for (const row of rows) out.set(row.id, toRecord(row.id, JSON.parse(row.ready) as ReadyJson));
      }
      return out;
    } catch (err) {
      throw toStorageError(err);
    }
  }
}

function toRecord(userId: string, j: ReadyJson): ReadyRecord {
  return {
    profile: toProfile(j.profile),
    email: j.email,
    guildIds: j.guildIds,
    dms: j.dms.map((d): DmRecord => ({
      id: d[0], createdAt: d[1], lastMessageId: d[2], type: d[3], name: d[4], ownerId: d[5], participantIds: d[6],
    })),
    readStates: j.readStates.map((r) => ({ userId, channelId: r[0], lastReadId: r[1], mentionCount: r[2] })),
    mutes: j.mutes.map((m) => ({ userId, targetId: m[0], targetType: m[1] as MuteRecord['targetType'], until: m[2] })),
    relationships: j.relationships.map((r) => ({
      record: { userId, otherId: r[0], type: r[1], createdAt: r[2] }, profile: toProfile(r[3]),
    })),
    guildMemberIds: [...new Set(j.members)],
    dmProfiles: j.dmProfiles.map(toProfile),
  };
}
