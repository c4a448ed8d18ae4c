/**
 * Nickname rules, defined once for registration, profile updates, friend requests by nickname and
 * user search:
 *
 * - 2–32 characters from `a-z A-Z 0-9 _ . -` (ASCII only, so lowercasing is unambiguous);
 * - unique case-insensitively: `Alice` and `alice` are the same nickname (storage enforces it with
 *   a unique index on `lower(nickname)`); the spelling a user chose is kept and shown;
 * - lookups by nickname and prefix search compare lowercased values.
 */

export const NICKNAME_MIN = 2;
export const NICKNAME_MAX = 32;
export const NICKNAME_RE = /^[a-zA-Z0-9_.-]{2,32}$/;
/** A search prefix: 1–32 characters a nickname may contain. */
export const NICKNAME_PREFIX_RE = /^[a-zA-Z0-9_.-]{1,32}$/;
export const NICKNAME_RULE_TEXT = 'nickname must be 2-32 characters of a-z, A-Z, 0-9, _ . -';

/** True for 2–32 characters of [a-zA-Z0-9_.-]. */
export function isValidNickname(nickname: unknown): nickname is string {
  return typeof nickname === 'string' && NICKNAME_RE.test(nickname);
}

/** The form nicknames are compared and indexed in. */
export function nicknameKey(nickname: string): string {
  return nickname.toLowerCase();
}
