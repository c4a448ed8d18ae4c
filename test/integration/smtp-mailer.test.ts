/**
 * The SMTP mailer against a tiny fake SMTP server on 127.0.0.1 (in this file): plain delivery,
 * STARTTLS + AUTH (with a self-signed certificate from openssl, skipped without it), refusing to
 * authenticate without TLS, server errors and timeouts, and the engine sending its confirmation
 * mail through SMTP_URL end to end.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SmtpError, SmtpMailer } from '../../engine/mail/smtp-mailer.ts';
import { auth } from '../../protocol/client/index.ts';
import { startTestServer } from '../support/test-server.ts';

interface Received {
  from: string;
  to: string[];
  data: string;
  /** AUTH identity, and whether the connection was encrypted when it was given. */
  auth: { user: string; secure: boolean } | null;
}

interface FakeOptions {
  tls?: { key: Buffer; cert: Buffer };
  /** Require AUTH PLAIN/LOGIN with these credentials before MAIL. */
  credentials?: { user: string; pass: string };
  rejectRecipients?: boolean;
  /** Accept connections but never answer. */
  silent?: boolean;
}

/** A minimal SMTP server: enough of RFC 5321/3207/4954 to receive one message per connection. */
class FakeSmtp {
  readonly received: Received[] = [];
  readonly commands: string[] = [];
  private readonly server: net.Server;
  port = 0;

  constructor(private readonly opts: FakeOptions = {}) {
    this.server = net.createServer((socket) => this.handle(socket));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(raw: net.Socket): void {
    if (this.opts.silent) return;
    let socket: net.Socket = raw;
    let secure = false;
    let buffer = '';
    let inData = false;
    let data: string[] = [];
    let authed: Received['auth'] = null;
    let loginUser: string | null = null;
    let stage: 'cmd' | 'login-user' | 'login-pass' = 'cmd';
    const current: { from: string; to: string[] } = { from: '', to: [] };
    const say = (line: string) => socket.write(`${line}\r\n`);
    const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
    const checkCredentials = (user: string, pass: string) => {
      const c = this.opts.credentials;
      if (c && c.user === user && c.pass === pass) {
        authed = { user, secure };
        say('235 2.7.0 authenticated');
      } else {
        say('535 5.7.8 bad credentials');
      }
    };
    const onLine = (line: string) => {
      if (inData) {
        if (line === '.') {
          inData = false;
          this.received.push({ from: current.from, to: [...current.to], data: data.join('\r\n'), auth: authed });
          data = [];
          say('250 2.0.0 queued');
        } else {
          data.push(line.startsWith('..') ? line.slice(1) : line);
        }
        return;
      }
      if (stage === 'login-user') {
        loginUser = b64(line);
        stage = 'login-pass';
        return say(`334 ${Buffer.from('Password:').toString('base64')}`);
      }
      if (stage === 'login-pass') {
        stage = 'cmd';
        return checkCredentials(loginUser ?? '', b64(line));
      }
      this.commands.push(line.startsWith('AUTH PLAIN') ? 'AUTH PLAIN ***' : line);
      const verb = line.split(/[ :]/)[0]!.toUpperCase();
      switch (verb) {
        case 'EHLO': {
          const ext = [];
          if (this.opts.tls && !secure) ext.push('STARTTLS');
          if (this.opts.credentials) ext.push('AUTH PLAIN LOGIN');
          ext.push('8BITMIME');
          say('250-fake.test greets you');
          ext.forEach((e, i) => say(`250${i === ext.length - 1 ? ' ' : '-'}${e}`));
          return;
        }
        case 'STARTTLS': {
          say('220 2.0.0 ready to start TLS');
          raw.removeAllListeners('data');
          const tlsSocket = new tls.TLSSocket(raw, { isServer: true, key: this.opts.tls!.key, cert: this.opts.tls!.cert });
          tlsSocket.on('data', onData);
          tlsSocket.on('error', () => {});
          socket = tlsSocket;
          secure = true;
          buffer = '';
          return;
        }
        case 'AUTH': {
          const [, mech, initial] = line.split(' ');
          if (mech?.toUpperCase() === 'PLAIN') {
            const [, user, pass] = b64(initial ?? '').split('\0');
            return checkCredentials(user ?? '', pass ?? '');
          }
          if (mech?.toUpperCase() === 'LOGIN') {
            stage = 'login-user';
            return say(`334 ${Buffer.from('Username:').toString('base64')}`);
          }
          return say('504 5.5.4 unrecognized mechanism');
        }
        case 'MAIL':
          if (this.opts.credentials && !authed) return say('530 5.7.0 authentication required');
          current.from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          current.to = [];
          return say('250 2.1.0 ok');
        case 'RCPT':
          if (this.opts.rejectRecipients) return say('550 5.1.1 no such user here');
          current.to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
          return say('250 2.1.5 ok');
        case 'DATA':
          inData = true;
          return say('354 end data with <CR><LF>.<CR><LF>');
        case 'QUIT':
          say('221 2.0.0 bye');
          return void socket.end();
        default:
          return say('502 5.5.2 command not recognized');
      }
    };
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        onLine(line);
      }
    };
    raw.on('data', onData);
    raw.on('error', () => {});
    say('220 fake.test ESMTP');
  }
}

/** Splits a received message into headers and its decoded (base64) body. */
function parseMessage(data: string): { headers: Record<string, string>; body: string } {
  const [head, body = ''] = data.split('\r\n\r\n');
  const headers: Record<string, string> = {};
  for (const line of head!.split('\r\n')) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body: Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8') };
}

function makeCertificate(): { dir: string; key: Buffer; cert: Buffer } | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'guildhall-smtp-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { dir, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

const certificate = makeCertificate();
if (!certificate) console.warn('[smtp-mailer.test] openssl not found: STARTTLS tests SKIPPED');

describe('SmtpMailer against a fake SMTP server', () => {
  after(() => {
    if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
  });

  test('delivers a plain-text message without TLS (a local relay)', async () => {
    const fake = await new FakeSmtp().start();
    try {
      const mailer = new SmtpMailer({ host: '127.0.0.1', port: fake.port, security: 'none', from: 'Guildhall <no-reply@guildhall.test>' });
      await mailer.send({ to: 'ada@example.test', subject: 'Hello Ådå', text: 'Line one\n.starts with a dot\nhttps://x.test/#token=abc' });
      assert.equal(fake.received.length, 1);
      const msg = fake.received[0]!;
      assert.equal(msg.from, 'no-reply@guildhall.test');
      assert.deepEqual(msg.to, ['ada@example.test']);
      const { headers, body } = parseMessage(msg.data);
      assert.equal(headers.from, 'Guildhall <no-reply@guildhall.test>');
      assert.equal(headers.to, '<ada@example.test>');
      assert.equal(Buffer.from(headers.subject!.replace(/^=\?UTF-8\?B\?|\?=$/g, ''), 'base64').toString('utf8'), 'Hello Ådå');
      assert.equal(body, 'Line one\r\n.starts with a dot\r\nhttps://x.test/#token=abc');
      assert.deepEqual(fake.commands.map((c) => c.split(' ')[0]), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT']);
    } finally {
      await fake.stop();
    }
  });

  test('STARTTLS, then AUTH over the encrypted connection', { skip: certificate ? false : 'openssl not installed' }, async () => {
    const fake = await new FakeSmtp({ tls: certificate!, credentials: { user: 'guildhall', pass: 's3cret:pass' } }).start();
    try {
      const mailer = new SmtpMailer({
        host: '127.0.0.1', port: fake.port, security: 'starttls', user: 'guildhall', password: 's3cret:pass',
        from: 'no-reply@guildhall.test', tls: { ca: certificate!.cert },
      });
      await mailer.send({ to: 'bob@example.test', subject: 'Reset', text: 'hi' });
      assert.equal(fake.received.length, 1);
      assert.deepEqual(fake.received[0]!.auth, { user: 'guildhall', secure: true });
      assert.deepEqual(fake.commands.map((c) => c.split(' ')[0]), ['EHLO', 'STARTTLS', 'EHLO', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'QUIT']);
      // An untrusted certificate is refused (and nothing is sent).
      const untrusting = new SmtpMailer({ host: '127.0.0.1', port: fake.port, security: 'starttls', user: 'guildhall', password: 's3cret:pass', from: 'no-reply@guildhall.test' });
      await assert.rejects(untrusting.send({ to: 'bob@example.test', subject: 'Reset', text: 'hi' }));
      assert.equal(fake.received.length, 1);
      // Wrong credentials: 535.
      const wrong = new SmtpMailer({ host: '127.0.0.1', port: fake.port, security: 'starttls', user: 'guildhall', password: 'nope', from: 'no-reply@guildhall.test', tls: { ca: certificate!.cert } });
      await assert.rejects(wrong.send({ to: 'bob@example.test', subject: 'Reset', text: 'hi' }), (e: unknown) => e instanceof SmtpError && e.code === 535);
    } finally {
      await fake.stop();
    }
  });

  test('STARTTLS required but not offered: nothing (no credentials) is sent', async () => {
    const fake = await new FakeSmtp({ credentials: { user: 'u', pass: 'p' } }).start();
    try {
      const mailer = new SmtpMailer({ host: '127.0.0.1', port: fake.port, security: 'starttls', user: 'u', password: 'p', from: 'no-reply@guildhall.test' });
      await assert.rejects(mailer.send({ to: 'a@example.test', subject: 's', text: 't' }), /STARTTLS/);
      assert.deepEqual(fake.commands.map((c) => c.split(' ')[0]), ['EHLO']);
      assert.throws(() => new SmtpMailer({ host: '127.0.0.1', port: fake.port, security: 'none', user: 'u', password: 'p', from: 'x@y.test' }), /TLS/);
    } finally {
      await fake.stop();
    }
  });

  test('a refused recipient rejects with the reply code; a silent server times out; bad addresses never go out', async () => {
    const refusing = await new FakeSmtp({ rejectRecipients: true }).start();
    const silent = await new FakeSmtp({ silent: true }).start();
    try {
      const m1 = new SmtpMailer({ host: '127.0.0.1', port: refusing.port, security: 'none', from: 'no-reply@guildhall.test' });
      await assert.rejects(m1.send({ to: 'gone@example.test', subject: 's', text: 't' }), (e: unknown) => e instanceof SmtpError && e.code === 550);
      await assert.rejects(m1.send({ to: 'a@example.test\r\nRCPT TO:<victim@example.test>', subject: 's', text: 't' }), SmtpError);
      const m2 = new SmtpMailer({ host: '127.0.0.1', port: silent.port, security: 'none', from: 'no-reply@guildhall.test', timeoutMs: 300 });
      const started = Date.now();
      await assert.rejects(m2.send({ to: 'a@example.test', subject: 's', text: 't' }), SmtpError);
      assert.ok(Date.now() - started < 3000);
    } finally {
      await refusing.stop();
      await silent.stop();
    }
  });
});

describe('the engine mails through SMTP_URL', () => {
  let fake: FakeSmtp;
  before(async () => {
    fake = await new FakeSmtp().start();
  });
  after(() => fake.stop());

  test('registration sends the confirmation link through the configured SMTP server', async () => {
    const server = await startTestServer('embedded', {
      SMTP_URL: `smtp://127.0.0.1:${fake.port}?security=none`, MAIL_FROM: 'Guildhall <no-reply@guildhall.test>', APP_URL: 'https://chat.example.test',
    });
    try {
      const nickname = `sm${randomBytes(4).toString('hex')}`;
      const email = `${nickname}@example.test`;
      await auth.register(server.httpUrl, { email, password: 'correct horse battery staple', nickname });
      const deadline = Date.now() + 5000;
      while (fake.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const msg = fake.received.find((m) => m.to.includes(email));
      assert.ok(msg, 'the confirmation mail reached the SMTP server');
      const token = /https:\/\/chat\.example\.test\/confirm-email#token=([A-Za-z0-9_-]{43})/.exec(parseMessage(msg.data).body)?.[1];
      assert.ok(token);
      await auth.confirmEmail(server.httpUrl, token);
    } finally {
      await server.dispose();
    }
  });
});
