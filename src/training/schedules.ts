/** Learning-rate schedules: step -> learning rate, evaluated on the host and fed each step. */
export type Schedule = (step: number) => number;

export const constant = (lr: number): Schedule => () => lr;

/** Linear warmup from 0 to `peak` over `warmup` steps, then linear decay to `end` at `total`. */
export function warmupLinear(o: { peak: number; warmup: number; total: number; end?: number }): Schedule {
  const end = o.end ?? 0;
  return (step) => {
    if (step < o.warmup) return (o.peak * (step + 1)) / o.warmup;
    const t = Math.min(1, (step - o.warmup) / Math.max(1, o.total - o.warmup));
    return o.peak + (end - o.peak) * t;
  };
}

/** Linear warmup, then cosine decay from `peak` to `min` at `total`. */
export function warmupCosine(o: { peak: number; warmup: number; total: number; min?: number }): Schedule {
  const min = o.min ?? 0;
  return (step) => {
    if (step < o.warmup) return (o.peak * (step + 1)) / o.warmup;
    const t = Math.min(1, (step - o.warmup) / Math.max(1, o.total - o.warmup));
    return min + 0.5 * (o.peak - min) * (1 + Math.cos(Math.PI * t));
  };
}

/**
 * bert4keras's piecewise_linear: `{0: 0, 1000: 1e-4, 10000: 1e-5}` interpolates linearly between
 * the given steps and holds the last value after them.
 */
export function piecewiseLinear(points: Record<number, number>): Schedule {
  const xs = Object.keys(points).map(Number).sort((a, b) => a - b);
  if (xs.length === 0) throw new Error('piecewiseLinear needs at least one point');
  return (step) => {
    if (step <= xs[0]!) return points[xs[0]!]!;
    for (let i = 1; i < xs.length; i++) {
      const x0 = xs[i - 1]!, x1 = xs[i]!;
      if (step <= x1) return points[x0]! + ((points[x1]! - points[x0]!) * (step - x0)) / (x1 - x0);
    }
    return points[xs[xs.length - 1]!]!;
  };
}

export function asSchedule(lr: number | Schedule): Schedule {
  return typeof lr === 'number' ? constant(lr) : lr;
}
