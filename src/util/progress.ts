/**
 * Progress for long work (training, conversion, corpus building, evaluation): steps, rate, ETA and
 * any live figures such as loss, on stderr. On a TTY one line is redrawn; otherwise (CI, pipes) a
 * line is printed at most every `intervalMs`, so logs stay readable.
 */
export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  intervalMs?: number;
  /** Print nothing (tests, library use). */
  silent?: boolean;
}

export class Progress {
  readonly label: string;
  total: number | undefined;
  done = 0;
  private readonly unit: string;
  private readonly stream: ProgressOptions['stream'];
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly intervalMs: number;
  private readonly silent: boolean;
  private figures: Record<string, number | string> = {};

  constructor(options: ProgressOptions) {
    this.label = options.label;
    this.total = options.total;
    this.unit = options.unit ?? 'it';
    this.stream = options.stream ?? process.stderr;
    this.silent = options.silent ?? false;
    this.intervalMs = options.intervalMs ?? (this.isTTY ? 100 : 10_000);
  }

  private get isTTY(): boolean {
    return Boolean(this.stream?.isTTY);
  }

  /** Advance by `n` and update live figures (e.g. `{ loss: 2.31 }`). */
  tick(n = 1, figures?: Record<string, number | string>): void {
    this.done += n;
    if (figures) Object.assign(this.figures, figures);
    const now = Date.now();
    if (now - this.lastDraw >= this.intervalMs) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  set(figures: Record<string, number | string>): void {
    Object.assign(this.figures, figures);
  }

  /** Final line with totals. */
  finish(figures?: Record<string, number | string>): void {
    if (figures) Object.assign(this.figures, figures);
    this.draw(true);
  }

  /** Print a message without breaking the progress line. */
  log(message: string): void {
    if (this.silent) return;
    this.stream!.write((this.isTTY ? '\r\x1b[K' : '') + message + '\n');
  }

  line(): string {
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const parts = [this.label];
    if (this.total) {
      const frac = Math.min(1, this.done / this.total);
      const width = 20;
      const filled = Math.round(frac * width);
      parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${(frac * 100).toFixed(1)}%`);
    } else {
      parts.push(`${this.done} ${this.unit}`);
    }
    parts.push(`${formatRate(rate)} ${this.unit}/s`);
    parts.push(`elapsed ${formatDuration(elapsed)}`);
    if (this.total && rate > 0 && this.done < this.total) parts.push(`ETA ${formatDuration((this.total - this.done) / rate)}`);
    for (const [k, v] of Object.entries(this.figures)) parts.push(`${k} ${typeof v === 'number' ? formatFigure(v) : v}`);
    return parts.join('  ');
  }

  private draw(final: boolean): void {
    if (this.silent) return;
    if (this.isTTY) this.stream!.write('\r\x1b[K' + this.line() + (final ? '\n' : ''));
    else this.stream!.write(this.line() + '\n');
  }
}

function formatRate(r: number): string {
  return r >= 100 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2);
}

/** 4 significant digits without trailing zeros (lr 0.01, not 0.01000), so several figures fit on a line. */
export function formatFigure(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : String(Number(v.toPrecision(4)));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
