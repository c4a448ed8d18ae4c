/**
 * Mention syntax in message content: `<@userId>` (or `<@!userId>`), `<@&roleId>`, `@everyone`
 * and `@here`. Parsing is pure; which mentions count is decided by the actor (membership, role
 * mentionability, MENTION_EVERYONE).
 */

export interface ParsedMentions {
  users: string[];
  roles: string[];
  everyone: boolean;
}

/** Distinct mentions per kind are capped so one message cannot fan out unboundedly. */
export const MAX_MENTIONS = 50;

const USER_RE = /<@!?([1-9][0-9]{0,19})>/g;
const ROLE_RE = /<@&([1-9][0-9]{0,19})>/g;
const EVERYONE_RE = /(^|[^\w<])@(everyone|here)\b/;

function collect(re: RegExp, content: string): string[] {
  const out = new Set<string>();
  for (const m of content.matchAll(re)) {
    out.add(m[1]!);
    if (out.size >= MAX_MENTIONS) break;
  }
  return [...out];
}

export function parseMentions(content: string): ParsedMentions {
  return { users: collect(USER_RE, content), roles: collect(ROLE_RE, content), everyone: EVERYONE_RE.test(content) };
}
