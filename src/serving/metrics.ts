/**
 * Prometheus metrics in the text exposition format (version 0.0.4): counters, gauges and
 * histograms with labels, rendered by `/metrics`. Small on purpose: no dependency for ~80 lines.
 */

type Labels = Record<string, string>;

const key = (labels: Labels) => Object.keys(labels).sort().map((k) => `${k}="${labels[k]!.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c))}"`).join(',');
const fmt = (v: number) => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

abstract class Metric {
  constructor(readonly name: string, readonly help: string, readonly type: string) {}
  abstract lines(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric {
  private values = new Map<string, number>();
  constructor(name: string, help: string) { super(name, help, 'counter'); }
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number { return this.values.get(key(labels)) ?? 0; }
  lines(): string[] { return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${fmt(v)}`); }
}

export class Gauge extends Metric {
  private values = new Map<string, () => number>();
  constructor(name: string, help: string) { super(name, help, 'gauge'); }
  /** The gauge reads `value()` at scrape time (queue depth, in-flight requests, memory). */
  track(value: () => number, labels: Labels = {}): void { this.values.set(key(labels), value); }
  lines(): string[] { return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ''} ${fmt(v())}`); }
}

export class Histogram extends Metric {
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, readonly buckets: number[]) { super(name, help, 'histogram'); }
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => { if (value <= b) s!.counts[i]!++; });
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const [k, s] of this.series) {
      const join = (extra: string) => `{${[k, extra].filter(Boolean).join(',')}}`;
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${join(`le="${fmt(b)}"`)} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${join('le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${k ? `{${k}}` : ''} ${fmt(s.sum)}`, `${this.name}_count${k ? `{${k}}` : ''} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}
