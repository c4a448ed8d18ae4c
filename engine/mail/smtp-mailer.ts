/**
 * A minimal SMTP client (RFC 5321) over node:net / node:tls, enough to hand plain-text account
 * emails to a submission server or relay: EHLO, STARTTLS (RFC 3207), AUTH PLAIN or LOGIN
 * (RFC 4954), MAIL FROM, RCPT TO, DATA. One connection per message — account mail is rare.
 *
 * Configured by a URL (SMTP_URL):
 *   smtps://user:pass@host:465          implicit TLS
 *   smtp://user:pass@host:587           plain connect, then STARTTLS, which is required
 *   smtp://host:25?security=none        no TLS at all (a local relay); credentials are refused then
 * Certificates are verified (Node's default CAs) unless TLS options say otherwise.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { MailMessage, Mailer } from './mailer.ts';

export type SmtpSecurity = 'tls' | 'starttls' | 'none';

export interface SmtpMailerOptions {
  host: string;
  port: number;
  security: SmtpSecurity;
  user?: string;
  password?: string;
  /** Sender, "Name <addr@example.com>" or "addr@example.com". */
  from: string;
  /** Name announced in EHLO; default the sender's domain. */
  heloName?: string;
  /** Per-step timeout; default 15000 ms. */
  timeoutMs?: number;
  /** Extra TLS options (e.g. `ca` for a private CA). */
  tls?: tls.ConnectionOptions;
}

/** The server answered with an unexpected reply (or the connection failed). */
export class SmtpError extends Error {
  constructor(message: string, readonly code: number | null = null) {
    super(message);
    this.name = 'SmtpError';
  }
}

/** Parses SMTP_URL into connection options. Throws RangeError with a reason. */
export function parseSmtpUrl(text: string): Omit<SmtpMailerOptions, 'from'> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RangeError('is not a URL');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new RangeError(`must use smtp: or smtps:, got '${url.protocol}'`);
  if (!url.hostname) throw new RangeError('has no host');
  const requested = url.searchParams.get('security');
  let security: SmtpSecurity;
  if (url.protocol === 'smtps:') security = 'tls';
  else if (requested === null || requested === 'starttls') security = 'starttls';
  else if (requested === 'none') security = 'none';
  else throw new RangeError(`security must be starttls or none, got '${requested}'`);
  const user = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if (user && security === 'none') throw new RangeError('refuses to send credentials without TLS (security=none)');
  const port = url.port ? Number(url.port) : security === 'tls' ? 465 : 587;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, security, ...(user ? { user, password: password ?? '' } : {}) };
}

/** The bare address of "Name <addr>" or "addr". */
export function addressOf(mailbox: string): string {
  const m = /<([^<>\s]+)>\s*$/.exec(mailbox);
  return (m ? m[1]! : mailbox).trim();
}

const UNSAFE = /[\r\n\0]/;
const ADDRESS_RE = /^[^\s<>@]+@[^\s<>@]+$/;

function encodeHeader(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The RFC 5322 message (CRLF line ends, base64 body), dot-stuffed for DATA, without the final ".". */
export function formatMessage(from: string, msg: MailMessage, now = new Date()): string {
  const domain = addressOf(from).split('@')[1] ?? 'localhost';
  const body = Buffer.from(msg.text.replace(/\r?\n/g, '\r\n'), 'utf8').toString('base64').replace(/.{1,76}/g, '$&\r\n');
  const headers = [
    `From: ${from}`,
    `To: <${msg.to}>`,
    `Subject: ${encodeHeader(msg.subject)}`,
    `Date: ${now.toUTCString()}`,
    `Message-ID: <${randomBytes(12).toString('hex')}@${domain}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: base64',
  ];
  const text = `${headers.join('\r\n')}\r\n\r\n${body}`;
  return text.split('\r\n').map((line) => (line.startsWith('.') ? `.${line}` : line)).join('\r\n');
}

interface Reply {
  code: number;
  lines: string[];
}

/** Splits the server's byte stream into replies (multi-line replies use "250-" continuations). */
class ReplyReader {
  private buffer = '';
  private lines: string[] = [];
  private failure: Error | null = null;
  private waiter: (() => void) | null = null;

  feed(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n')) >= 0) {
      this.lines.push(this.buffer.slice(0, i).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(i + 1);
    }
    if (this.buffer.length > 64 * 1024) this.fail(new SmtpError('reply line too long'));
    this.wake();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  async next(): Promise<Reply> {
    for (;;) {
      const end = this.lines.findIndex((l) => /^\d{3}(?: |$)/.test(l));
      if (end >= 0) {
        const lines = this.lines.splice(0, end + 1);
        return { code: Number(lines[end]!.slice(0, 3)), lines: lines.map((l) => l.slice(4)) };
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

class SmtpSession {
  private reader = new ReplyReader();
  private socket!: net.Socket;
  private detach: () => void = () => {};

  constructor(private readonly opts: SmtpMailerOptions) {}

  async open(): Promise<void> {
    const { host, port, security } = this.opts;
    const socket = security === 'tls'
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...this.opts.tls })
      : net.connect({ host, port });
    this.attach(socket);
    await this.expect([220], 'greeting');
  }

  async command(line: string, codes: number[], what = line.split(' ')[0]!): Promise<Reply> {
    this.socket.write(`${line}\r\n`);
    return this.expect(codes, what);
  }

  async startTls(): Promise<void> {
    const raw = this.socket;
    this.detach();
    this.reader = new ReplyReader();
    const { host } = this.opts;
    const secure = tls.connect({ socket: raw, servername: net.isIP(host) ? undefined : host, ...this.opts.tls });
    this.attach(secure);
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
  }

  close(): void {
    this.detach();
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    const reader = this.reader;
    const onData = (d: Buffer) => reader.feed(d.toString('utf8'));
    const onError = (err: Error) => reader.fail(new SmtpError(`connection failed: ${err.message}`));
    const onClose = () => reader.fail(new SmtpError('connection closed by the server'));
    const onTimeout = () => socket.destroy(new Error('timed out'));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.setTimeout(this.opts.timeoutMs ?? 15_000, onTimeout);
    this.detach = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('timeout', onTimeout);
      socket.setTimeout(0);
      // Keep a listener so that a late socket error is not an uncaught exception.
      socket.off('error', onError);
      socket.on('error', () => {});
    };
  }

  private async expect(codes: number[], what: string): Promise<Reply> {
    const reply = await this.reader.next();
    if (!codes.includes(reply.code)) {
      throw new SmtpError(`${what}: server answered ${reply.code} ${reply.lines.join(' ').slice(0, 200)}`, reply.code);
    }
    return reply;
  }
}

export class SmtpMailer implements Mailer {
  constructor(private readonly opts: SmtpMailerOptions) {
    if (opts.user && opts.security === 'none') throw new RangeError('SMTP credentials require TLS (security tls or starttls)');
  }

  async send(msg: MailMessage): Promise<void> {
    if (UNSAFE.test(msg.to) || !ADDRESS_RE.test(msg.to)) throw new SmtpError('invalid recipient address');
    const from = addressOf(this.opts.from);
    if (!ADDRESS_RE.test(from)) throw new SmtpError('invalid sender address');
    const helo = this.opts.heloName ?? from.split('@')[1]!;
    const session = new SmtpSession(this.opts);
    try {
      await session.open();
      let ehlo = await session.command(`EHLO ${helo}`, [250]);
      if (this.opts.security === 'starttls') {
        if (!ehlo.lines.some((l) => /^STARTTLS\b/i.test(l))) throw new SmtpError('server does not offer STARTTLS');
        await session.command('STARTTLS', [220]);
        await session.startTls();
        ehlo = await session.command(`EHLO ${helo}`, [250]);
      }
      if (this.opts.user !== undefined) await this.authenticate(session, ehlo);
      await session.command(`MAIL FROM:<${from}>`, [250]);
      await session.command(`RCPT TO:<${msg.to}>`, [250, 251]);
      await session.command('DATA', [354]);
      await session.command(`${formatMessage(this.opts.from, { ...msg, subject: msg.subject.replace(UNSAFE, ' ') })}\r\n.`, [250], 'message');
      await session.command('QUIT', [221]).catch(() => {});
    } finally {
      session.close();
    }
  }

  private async authenticate(session: SmtpSession, ehlo: Reply): Promise<void> {
    const auth = ehlo.lines.find((l) => /^AUTH[ =]/i.test(l))?.toUpperCase().split(/[ =]/).slice(1) ?? [];
    const user = this.opts.user!;
    const password = this.opts.password ?? '';
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    if (auth.includes('PLAIN')) {
      await session.command(`AUTH PLAIN ${b64(`\0${user}\0${password}`)}`, [235], 'AUTH');
    } else if (auth.includes('LOGIN')) {
      await session.command('AUTH LOGIN', [334], 'AUTH');
      await session.command(b64(user), [334], 'AUTH');
      await session.command(b64(password), [235], 'AUTH');
    } else {
      throw new SmtpError('server offers neither AUTH PLAIN nor AUTH LOGIN');
    }
  }
}
