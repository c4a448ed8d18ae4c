/**
 * Progress reporting on stderr. On a TTY it redraws one status line; otherwise it prints one line
 * per step. Silent with --quiet, and (so stdout stays exactly one JSON object) it never writes to
 * stdout.
 */

export class Progress {
  private line = '';
  private readonly tty: boolean;
  private readonly started = Date.now();

  constructor(private readonly enabled: boolean) {
    this.tty = Boolean(process.stderr.isTTY);
  }

  /** A new step ("fanout guildhall N=1000: connecting"). */
  step(text: string): void {
    if (!this.enabled) return;
    const stamped = `[${elapsed(this.started)}] ${text}`;
    if (this.tty) {
      this.clear();
      process.stderr.write(stamped);
      this.line = stamped;
    } else {
      process.stderr.write(`${stamped}\n`);
    }
  }

  /** Updates the current step with a fraction (TTY only; a no-op elsewhere to keep logs short). */
  update(text: string, fraction?: number): void {
    if (!this.enabled || !this.tty) return;
    const bar = fraction === undefined ? '' : ` ${renderBar(fraction)}`;
    this.clear();
    const stamped = `[${elapsed(this.started)}] ${text}${bar}`;
    process.stderr.write(stamped);
    this.line = stamped;
  }

  /** A line that stays (warnings, per-step results). */
  note(text: string): void {
    if (!this.enabled) return;
    if (this.tty) this.clear();
    process.stderr.write(`${text}\n`);
    if (this.tty && this.line) process.stderr.write(this.line);
  }

  done(): void {
    if (this.enabled && this.tty) this.clear();
  }

  private clear(): void {
    if (this.line) process.stderr.write('\r\x1b[2K');
    this.line = '';
  }
}

function renderBar(fraction: number): string {
  const f = Math.max(0, Math.min(1, fraction));
  const width = 20;
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.round(f * 100)}%`;
}

function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Resolves after `ms`, updating `progress` with a countdown bar labelled `label`. */
export async function waitWithProgress(progress: Progress, label: string, ms: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    progress.update(label, (Date.now() - start) / ms);
    await sleep(Math.min(250, ms - (Date.now() - start)));
  }
  progress.update(label, 1);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));
