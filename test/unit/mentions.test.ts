/** The mention syntax parser (engine/guild/mentions.ts): what counts as a mention, and what does not. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MENTIONS, parseMentions } from '../../engine/guild/mentions.ts';

const none = { users: [], roles: [], everyone: false };

describe('parseMentions', () => {
  it('finds user mentions <@id> and nickname-style <@!id>', () => {
    assert.deepEqual(parseMentions('hi <@123456789012345678> and <@!42>'), { users: ['123456789012345678', '42'], roles: [], everyone: false });
  });

  it('finds role mentions <@&id> without reading them as users', () => {
    assert.deepEqual(parseMentions('ping <@&77> please'), { users: [], roles: ['77'], everyone: false });
    assert.deepEqual(parseMentions('<@&77><@77>'), { users: ['77'], roles: ['77'], everyone: false });
  });

  it('finds @everyone and @here at the start, after spaces, newlines and punctuation', () => {
    for (const text of ['@everyone', '@here', 'hey @everyone!', 'line\n@here', '(@everyone)', 'ok,@here', '@here.']) {
      assert.equal(parseMentions(text).everyone, true, JSON.stringify(text));
    }
  });

  it('does not read email-like or longer words as @everyone/@here', () => {
    for (const text of ['mail bob@everyone.com', 'me@here.org', 'x_@here', '@everyones', '@heresy', '@Everyone', 'everyone', '<@everyone>', '@ here']) {
      assert.equal(parseMentions(text).everyone, false, JSON.stringify(text));
    }
  });

  it('counts each user or role once, in order of first appearance', () => {
    assert.deepEqual(parseMentions('<@5> <@!5> <@6> <@5> <@&9> <@&8> <@&9> @here @everyone'), { users: ['5', '6'], roles: ['9', '8'], everyone: true });
  });

  it('ignores malformed mentions', () => {
    for (const text of ['<@>', '<@0>', '<@012>', '<@abc>', '<@ 12>', '<@12', '@12>', '<@&>', '<@!&12>', '<#12>', '<@123456789012345678901>', '<@-5>']) {
      assert.deepEqual(parseMentions(text), none, text);
    }
    assert.deepEqual(parseMentions('plain text with no pings'), none);
  });

  it('accepts ids up to 20 digits (any snowflake)', () => {
    assert.deepEqual(parseMentions('<@18446744073709551615>').users, ['18446744073709551615']);
  });

  it(`caps distinct users and roles at ${MAX_MENTIONS} each`, () => {
    const users = Array.from({ length: MAX_MENTIONS + 20 }, (_, i) => `${1000 + i}`);
    const roles = Array.from({ length: MAX_MENTIONS + 5 }, (_, i) => `${9000 + i}`);
    const parsed = parseMentions([...users.map((id) => `<@${id}>`), ...roles.map((id) => `<@&${id}>`)].join(' '));
    assert.deepEqual(parsed.users, users.slice(0, MAX_MENTIONS));
    assert.deepEqual(parsed.roles, roles.slice(0, MAX_MENTIONS));
    assert.equal(MAX_MENTIONS, 50);
  });

  it('repeats do not use up the cap', () => {
    const text = `${'<@1> '.repeat(200)}<@2>`;
    assert.deepEqual(parseMentions(text).users, ['1', '2']);
  });
});
