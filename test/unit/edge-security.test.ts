/** Pure pieces of issue 5: token buckets, the command budget, Origin checks, trusted proxies, SMTP formatting. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommandBudget } from '../../engine/ratelimit/command-budget.ts';
import { LocalTokenBucket, takeTokens } from '../../storage/ephemeral/token-bucket.ts';
import { normalizeOrigin, originAllowed } from '../../engine/http/origin.ts';
import { normalizeIp, TrustedProxies } from '../../engine/http/trusted-proxies.ts';
import { addressOf, formatMessage, parseSmtpUrl } from '../../engine/mail/smtp-mailer.ts';

describe('token bucket', () => {
  it('allows a burst, then the sustained rate, and says when to retry', () => {
    const b = new LocalTokenBucket({ capacity: 3, refillPerSec: 2 });
    assert.deepEqual([0, 0, 0, 0].map((t) => b.take(t).allowed), [true, true, true, false]);
    assert.equal(b.take(0).retryAfterMs, 500);
    assert.equal(b.take(499).allowed, false);
    assert.equal(b.take(500).allowed, true);
    assert.equal(b.take(10_000).remaining, 2, 'refills to capacity, never beyond');
  });

  it('does not refill backwards when the clock steps back', () => {
    const { state } = takeTokens(null, { capacity: 2, refillPerSec: 1 }, 2, 1000);
    assert.equal(takeTokens(state, { capacity: 2, refillPerSec: 1 }, 1, 0).result.allowed, false);
  });

  it('command budget: refuses over budget and asks to close after too many refusals in a row', () => {
    const budget = new CommandBudget({ capacity: 2, refillPerSec: 1, closeAfterRejected: 3 });
    assert.deepEqual([budget.take(0), budget.take(0)], [{ ok: true }, { ok: true }]);
    assert.deepEqual([1, 2, 3].map(() => budget.take(0)), [
      { ok: false, retryAfterMs: 1000, close: false }, { ok: false, retryAfterMs: 1000, close: false }, { ok: false, retryAfterMs: 1000, close: false },
    ]);
    assert.equal((budget.take(0) as { close: boolean }).close, true);
    // An accepted command resets the count.
    const b2 = new CommandBudget({ capacity: 1, refillPerSec: 1, closeAfterRejected: 1 });
    b2.take(0);
    b2.take(0);
    assert.equal(b2.take(1000).ok, true);
    assert.deepEqual(b2.take(1000), { ok: false, retryAfterMs: 1000, close: false });
  });
});

describe('Origin allowlist', () => {
  const allowed = new Set(['https://chat.example.com', 'http://localhost:3000']);
  it('allows listed origins (normalized), absent Origin, and anything with an empty list', () => {
    assert.equal(originAllowed(allowed, 'https://chat.example.com'), true);
    assert.equal(originAllowed(allowed, 'HTTPS://Chat.Example.com:443'), true);
    assert.equal(originAllowed(allowed, 'http://localhost:3000'), true);
    assert.equal(originAllowed(allowed, ''), true);
    assert.equal(originAllowed(new Set(), 'https://evil.example'), true);
    assert.equal(originAllowed(undefined, 'https://evil.example'), true);
  });
  it('refuses others, look-alikes and opaque origins', () => {
    for (const o of ['https://evil.example', 'http://chat.example.com', 'https://chat.example.com.evil.example', 'https://chat.example.com:8443', 'null', 'file://', 'garbage']) {
      assert.equal(originAllowed(allowed, o), false, o);
    }
    assert.equal(normalizeOrigin('null'), null);
  });
});

describe('trusted proxies', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '::1', 'fd00::/8']);
  it('ignores X-Forwarded-For from untrusted peers', () => {
    assert.equal(proxies.clientIp('203.0.113.9', '1.2.3.4'), '203.0.113.9');
    assert.equal(new TrustedProxies([]).clientIp('10.0.0.1', '1.2.3.4'), '10.0.0.1');
  });
  it('walks back through trusted hops to the first untrusted address', () => {
    assert.equal(proxies.clientIp('10.0.0.1', '198.51.100.7'), '198.51.100.7');
    assert.equal(proxies.clientIp('10.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.1.1'), '198.51.100.7', 'a spoofed left entry is ignored');
    assert.equal(proxies.clientIp('::1', '[2001:db8::1]'), '2001:db8::1');
    assert.equal(proxies.clientIp('10.0.0.1', '::ffff:198.51.100.7'), '198.51.100.7');
    assert.equal(proxies.clientIp('10.0.0.1', '10.2.2.2, 10.3.3.3'), '10.2.2.2', 'all trusted: the left-most');
    assert.equal(proxies.clientIp('10.0.0.1', ''), '10.0.0.1');
    assert.equal(proxies.clientIp('10.0.0.1', 'garbage, 10.3.3.3'), '10.3.3.3', 'stops at a malformed entry');
    assert.equal(proxies.has('fd00::5'), true);
    assert.equal(normalizeIp('not-an-ip'), null);
  });
});

describe('SMTP helpers', () => {
  it('parses SMTP URLs', () => {
    assert.deepEqual(parseSmtpUrl('smtps://u%40x:p%3Aw@mail.example.com'), { host: 'mail.example.com', port: 465, security: 'tls', user: 'u@x', password: 'p:w' });
    assert.deepEqual(parseSmtpUrl('smtp://mail.example.com'), { host: 'mail.example.com', port: 587, security: 'starttls' });
    assert.deepEqual(parseSmtpUrl('smtp://127.0.0.1:2525?security=none'), { host: '127.0.0.1', port: 2525, security: 'none' });
    assert.throws(() => parseSmtpUrl('smtp://u:p@127.0.0.1:2525?security=none'), /credentials/);
  });
  it('formats a dot-stuffed base64 message with encoded headers', () => {
    assert.equal(addressOf('Guildhall <no-reply@example.com>'), 'no-reply@example.com');
    const text = formatMessage('Guildhall <no-reply@example.com>', { to: 'a@example.com', subject: 'Grüße', text: 'line 1\n.line 2' }, new Date(0));
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    assert.match(head, /^From: Guildhall <no-reply@example.com>\r\nTo: <a@example.com>\r\nSubject: =\?UTF-8\?B\?R3LDvMOfZQ==\?=\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nMessage-ID: <[0-9a-f]{24}@example.com>/);
    assert.equal(Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8'), 'line 1\r\n.line 2');
  });
});
