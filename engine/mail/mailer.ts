/**
 * The mailer port: how the engine sends account emails (address confirmation, password reset).
 * Two implementations: DevMailer (the embedded default: logs each message and its links, and keeps
 * the last ones in memory so tests can read them) and SmtpMailer (smtp-mailer.ts, chosen by
 * SMTP_URL). Callers send in the background: a slow or failing mail server never delays or fails
 * the HTTP request that caused the mail, and never reveals through timing whether an account exists.
 */
import type { Logger } from 'pino';

export interface MailMessage {
  /** One address, already validated (no CR/LF). */
  to: string;
  subject: string;
  /** Plain-text body. */
  text: string;
}

export interface Mailer {
  /** Resolves once the message was handed over; rejects if it could not be. */
  send(message: MailMessage): Promise<void>;
}

/** Absolute http(s) URLs in a text, in order. */
export function linksIn(text: string): string[] {
  return text.match(/https?:\/\/[^\s<>"]+/g) ?? [];
}

export interface DevMailerOptions {
  logger?: Logger;
  /** How many recent messages to keep. Default 100. */
  keep?: number;
}

/** Development mailer: logs every message (with its links) and keeps the last `keep` in memory. */
export class DevMailer implements Mailer {
  private readonly messages: MailMessage[] = [];
  private waiters: Array<() => void> = [];

  constructor(private readonly opts: DevMailerOptions = {}) {}

  async send(message: MailMessage): Promise<void> {
    this.messages.push({ ...message });
    const keep = this.opts.keep ?? 100;
    if (this.messages.length > keep) this.messages.splice(0, this.messages.length - keep);
    this.opts.logger?.info({ to: message.to, subject: message.subject, links: linksIn(message.text) }, 'mail (development mailer: not sent)');
    for (const w of this.waiters.splice(0)) w();
  }

  /** The kept messages, oldest first. */
  get sent(): readonly MailMessage[] {
    return this.messages;
  }

  /**
   * Removes and returns the oldest kept message matching `match`, waiting for one to arrive if
   * none is there yet. Rejects after timeoutMs.
   */
  async take(match: (m: MailMessage) => boolean, timeoutMs = 5000): Promise<MailMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no matching mail arrived');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
