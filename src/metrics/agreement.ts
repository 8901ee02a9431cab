/**
 * How close a changed model's outputs are to a reference's (int8 vs fp32): plain arrays in, numbers out.
 * Both take the flattened outputs of the two models on the same inputs.
 */
import { MetricError } from './classification.ts';

function sameLength(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new MetricError(what, `the outputs have ${a.length} and ${b.length} values`);
  if (a.length === 0) throw new MetricError(what, 'empty outputs');
}

/** Cosine similarity of two vectors (1 = same direction). Two zero vectors count as identical. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength('cosineSimilarity', a, b);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
  if (aa === 0 && bb === 0) return 1;
  return ab / Math.sqrt(aa * bb);
}

/** argmax over each row of `classes` values (first index on ties). */
export function argmaxRows(x: ArrayLike<number>, classes: number): number[] {
  if (!Number.isInteger(classes) || classes < 1 || x.length % classes !== 0) throw new MetricError('argmaxRows', `${x.length} values are not rows of ${classes}`);
  const out: number[] = [];
  for (let r = 0; r < x.length; r += classes) {
    let best = r;
    for (let i = r + 1; i < r + classes; i++) if (x[i]! > x[best]!) best = i;
    out.push(best - r);
  }
  return out;
}

/**
 * Share of rows (of `classes` scores each) whose top-1 class is the same in `a` and `b`; `rows`
 * restricts the count to those row indices (e.g. the masked positions of an MLM batch).
 */
export function top1Agreement(a: ArrayLike<number>, b: ArrayLike<number>, classes: number, rows?: readonly number[]): number {
  sameLength('top1Agreement', a, b);
  const ta = argmaxRows(a, classes);
  const tb = argmaxRows(b, classes);
  const picked = rows ?? ta.map((_, i) => i);
  if (!picked.length) throw new MetricError('top1Agreement', 'no rows to compare');
  let same = 0;
  for (const r of picked) {
    if (!Number.isInteger(r) || r < 0 || r >= ta.length) throw new MetricError('top1Agreement', `row ${r} is outside 0..${ta.length - 1}`);
    if (ta[r] === tb[r]) same++;
  }
  return same / picked.length;
}
