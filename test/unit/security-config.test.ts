/** Issue 5's configuration entries: defaults, formats, and refusals that name the variable. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../engine/config/config.ts';
import { parseRate } from '../../engine/ratelimit/rate-limiter.ts';

function refuses(env: Record<string, string>, variable: string, noLeak?: string) {
  assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable);
    if (noLeak) assert.ok(!err.message.includes(noLeak), `the message must not show '${noLeak}': ${err.message}`);
    return true;
  }, `${JSON.stringify(env)} should be refused`);
}

describe('rate format', () => {
  it('parses N/PERIOD[:BURST] and off', () => {
    assert.deepEqual(parseRate('10/m'), { capacity: 10, refillPerSec: 10 / 60 });
    assert.deepEqual(parseRate('5/5s'), { capacity: 5, refillPerSec: 1 });
    assert.deepEqual(parseRate('20/s:60'), { capacity: 60, refillPerSec: 20 });
    assert.deepEqual(parseRate(' 30 / 15m : 10 '), { capacity: 10, refillPerSec: 30 / 900 });
    assert.deepEqual(parseRate('1/500ms'), { capacity: 1, refillPerSec: 2 });
    assert.deepEqual(parseRate('2/h'), { capacity: 2, refillPerSec: 2 / 3600 });
    assert.equal(parseRate('off'), null);
    assert.equal(parseRate('OFF'), null);
    assert.equal(parseRate('0/s'), null);
    for (const bad of ['', '10', '10/', '10/x', '-1/s', '1.5/s', '10/0s', '10/s:0', '10/s:', 'ten/s']) {
      assert.throws(() => parseRate(bad), RangeError, bad);
    }
  });
});

describe('loadConfig: issue 5 entries', () => {
  it('parses overrides', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-tls-'));
    writeFileSync(join(dir, 'cert.pem'), 'x');
    writeFileSync(join(dir, 'key.pem'), 'x');
    const c = loadConfig({
      ALLOWED_ORIGINS: 'https://chat.example.com, http://localhost:3000/',
      TRUSTED_PROXIES: '10.0.0.0/8,::1,fd00::/8,192.168.1.7',
      TLS_CERT_FILE: join(dir, 'cert.pem'),
      TLS_KEY_FILE: join(dir, 'key.pem'),
      TLS_KEY_PASSPHRASE: 'pw',
      REQUIRE_EMAIL_CONFIRMATION: 'true',
      EMAIL_CONFIRM_TTL_SEC: '600',
      PASSWORD_RESET_TTL_SEC: '900',
      REFRESH_REUSE_GRACE_MS: '0',
      SESSION_CACHE_TTL_SEC: '5',
      SESSION_RECHECK_MS: '1000',
      APP_URL: 'https://chat.example.com',
      SMTP_URL: 'smtps://user:secret@mail.example.com',
      MAIL_FROM: 'Chat <noreply@example.com>',
      RATE_LIMIT_LOGIN_IP: 'off',
      RATE_LIMIT_MESSAGES: '1/s:3',
      SOCKET_FLOOD_CLOSE_AFTER: '5',
    });
    assert.deepEqual(c.allowedOrigins, ['https://chat.example.com', 'http://localhost:3000']);
    assert.deepEqual(c.trustedProxies, ['10.0.0.0/8', '::1', 'fd00::/8', '192.168.1.7']);
    assert.deepEqual(c.tls, { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), passphrase: 'pw' });
    assert.deepEqual(c.accounts, {
      requireEmailConfirmation: true, confirmTokenTtlSec: 600, resetTokenTtlSec: 900, refreshGraceMs: 0,
      sessionCacheTtlSec: 5, sessionRecheckMs: 1000, appUrl: 'https://chat.example.com',
    });
    assert.deepEqual(c.mail, { smtpUrl: 'smtps://user:secret@mail.example.com', from: 'Chat <noreply@example.com>' });
    assert.equal(c.rateLimits.loginPerIp, null);
    assert.deepEqual(c.rateLimits.messagesPerChannel, { capacity: 3, refillPerSec: 1 });
    assert.equal(c.rateLimits.socketFloodCloseAfter, 5);
  });

  it('RATE_LIMITS_ENABLED=false turns every limit off (values are still validated)', () => {
    const c = loadConfig({ RATE_LIMITS_ENABLED: 'false' });
    for (const [k, v] of Object.entries(c.rateLimits)) if (k !== 'socketFloodCloseAfter') assert.equal(v, null, k);
    refuses({ RATE_LIMITS_ENABLED: 'false', RATE_LIMIT_LOGIN_IP: 'lots' }, 'RATE_LIMIT_LOGIN_IP');
    refuses({ RATE_LIMITS_ENABLED: 'maybe' }, 'RATE_LIMITS_ENABLED');
  });

  it('refuses bad values, naming the variable', () => {
    refuses({ ALLOWED_ORIGINS: 'chat.example.com' }, 'ALLOWED_ORIGINS');
    refuses({ ALLOWED_ORIGINS: 'https://chat.example.com/app' }, 'ALLOWED_ORIGINS');
    refuses({ ALLOWED_ORIGINS: 'ftp://chat.example.com' }, 'ALLOWED_ORIGINS');
    refuses({ TRUSTED_PROXIES: '10.0.0.0/33' }, 'TRUSTED_PROXIES');
    refuses({ TRUSTED_PROXIES: 'proxy.local' }, 'TRUSTED_PROXIES');
    refuses({ TRUSTED_PROXIES: '::1/129' }, 'TRUSTED_PROXIES');
    refuses({ TLS_CERT_FILE: '/nonexistent/cert.pem' }, 'TLS_KEY_FILE');
    refuses({ TLS_KEY_FILE: '/nonexistent/key.pem' }, 'TLS_CERT_FILE');
    refuses({ TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' }, 'TLS_CERT_FILE');
    refuses({ REQUIRE_EMAIL_CONFIRMATION: 'sometimes' }, 'REQUIRE_EMAIL_CONFIRMATION');
    refuses({ REFRESH_REUSE_GRACE_MS: '600000' }, 'REFRESH_REUSE_GRACE_MS');
    refuses({ PASSWORD_RESET_TTL_SEC: '10' }, 'PASSWORD_RESET_TTL_SEC');
    refuses({ APP_URL: 'chat.example.com' }, 'APP_URL');
    refuses({ SMTP_URL: 'http://user:hunter2@mail.example.com' }, 'SMTP_URL', 'hunter2');
    refuses({ SMTP_URL: 'smtp://user:hunter2@mail.example.com?security=none' }, 'SMTP_URL', 'hunter2');
    refuses({ SMTP_URL: 'smtp://mail.example.com?security=sometimes' }, 'SMTP_URL');
    refuses({ RATE_LIMIT_SOCKET_COMMANDS: '20 per second' }, 'RATE_LIMIT_SOCKET_COMMANDS');
    refuses({ SOCKET_FLOOD_CLOSE_AFTER: '0' }, 'SOCKET_FLOOD_CLOSE_AFTER');
  });
});
