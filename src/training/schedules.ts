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
 * bert4keras's piecewise_linear learning rate: `lr * f(step)`, where `f` interpolates linearly between
 * the points `{step: multiplier}` and holds the last multiplier after them. With `fromZero` (the
 * default, as in bert4keras) there is an implicit point 0 -> 0, so `piecewiseLinear(2e-5, {1000: 1,
 * 2000: 0.1})` warms up from 0 to 2e-5 over 1,000 steps, decays to 2e-6 at 2,000 and stays there.
 * Before the first point (only without `fromZero`) the first multiplier holds. The step is the count
 * of updates already done, as Keras's `iterations`: the first update uses f(0) (0 with `fromZero`).
 */
export function piecewiseLinear(lr: number, points: Record<number, number>, o: { fromZero?: boolean } = {}): Schedule {
  if (!Number.isFinite(lr)) throw new RangeError(`piecewiseLinear: the learning rate must be a finite number, got ${lr}`);
  const pts = Object.entries(points).map(([k, v]): [number, number] => {
    if (!Number.isFinite(Number(k)) || !Number.isFinite(v)) throw new RangeError(`piecewiseLinear: point ${k}: ${v} must map a finite step to a finite multiplier`);
    return [Number(k), v];
  }).sort((a, b) => a[0] - b[0]);
  if (pts.length === 0) throw new RangeError('piecewiseLinear needs at least one point, e.g. {1000: 1}');
  if ((o.fromZero ?? true) && pts[0]![0] !== 0) pts.unshift([0, 0]);
  return (step) => {
    let i = pts.length - 1;
    while (i > 0 && step < pts[i]![0]) i--;
    const [x0, y0] = pts[i]!;
    if (i === pts.length - 1 || step < x0) return lr * y0;
    const [x1, y1] = pts[i + 1]!;
    return lr * (y0 + ((y1 - y0) / (x1 - x0)) * (step - x0));
  };
}

export function asSchedule(lr: number | Schedule): Schedule {
  return typeof lr === 'number' ? constant(lr) : lr;
}
