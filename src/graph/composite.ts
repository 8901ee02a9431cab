/**
 * Ops built from primitives: they get shape checks, lowering and gradients for free.
 */
import type { DType } from './dtype.ts';
import {
  add, cast, concat, div, equal, exp, expand, less, lessOrEqual, log, mul, randomUniformLike, range, reduceMax,
  reduceMean, reduceSum, reshape, scalar, slice, softmaxCrossEntropy, sqrt, sub,
} from './ops.ts';
import { GraphError, Tensor, dimAdd, formatShape, normalizeAxis, type Dim } from './tensor.ts';

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis('unsqueeze', axis, x.rank + 1);
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return reshape(x, shape);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis('squeeze', axis, x.rank);
  if (x.shape[ax] !== 1) throw new GraphError('squeeze', `axis ${axis} of ${formatShape(x.shape)} is not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== ax));
}

/** Split along `axis` into pieces of the given sizes (or n equal pieces). */
export function split(x: Tensor, axis: number, sizes: number | number[]): Tensor[] {
  const ax = normalizeAxis('split', axis, x.rank);
  const dim = x.shape[ax]!;
  let parts: number[];
  if (typeof sizes === 'number') {
    if (typeof dim !== 'number' || dim % sizes !== 0) throw new GraphError('split', `dim ${dim} of ${formatShape(x.shape)} does not split into ${sizes} equal parts`);
    parts = Array(sizes).fill(dim / sizes);
  } else parts = sizes;
  let start = 0;
  return parts.map((n) => slice(x, ax, start, (start += n)));
}

export function oneHot(indices: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
  return cast(equal(unsqueeze(cast(indices, 'int64'), -1), range(depth)), dtype);
}

/** Inverted dropout with a seeded mask; identity when rate is 0 or when not training. */
export function dropout(x: Tensor, rate: number, seed: number, training: boolean): Tensor {
  if (!training || rate <= 0) return x;
  if (rate >= 1) throw new GraphError('dropout', `rate must be < 1, got ${rate}`);
  const keep = cast(less(randomUniformLike(x, seed), 1 - rate), x.dtype);
  return mul(x, mul(keep, 1 / (1 - rate)));
}

/** Lower-triangular [n, n] boolean mask (true = may attend), for causal attention. */
export function causalMask(n: Dim, past: Dim = 0): Tensor {
  // Query i (at absolute position past+i) sees keys 0..past+i.
  const total = dimAdd(n, past);
  const q = reshape(range(total, past), [n, 1]);
  const k = reshape(range(total), [1, total]);
  return lessOrEqual(k, q);
}

/** Masked mean cross-entropy over the last axis of logits [..., C] with labels [...]. */
export function crossEntropy(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const c = logits.shape[logits.rank - 1]!;
  return softmaxCrossEntropy(reshape(logits, [-1, c]), reshape(labels, [-1]), ignoreIndex);
}

/**
 * log Σ exp(x) along `axis`, shifted by the max so it neither overflows nor underflows. The max's own
 * gradient cancels (1 − Σ softmax = 0), so the VJP is softmax(x) · g.
 */
export function logSumExp(x: Tensor, axis = -1, keepdims = false): Tensor {
  const ax = normalizeAxis('logSumExp', axis, x.rank);
  const m = reduceMax(x, ax, true);
  const lse = add(m, log(reduceSum(exp(sub(x, m)), ax, true)));
  return keepdims ? lse : squeeze(lse, ax);
}

/**
 * bert4keras's multilabel_categorical_crossentropy (https://kexue.fm/archives/7359): for scores
 * s [..., C] and 0/1 targets y [..., C], log(1 + Σ_neg e^{s}) + log(1 + Σ_pos e^{−s}), per row [...].
 * Entries masked to −1e12 (padding, GlobalPointer's lower triangle) drop out of the negative sum.
 */
export function multilabelCrossEntropy(yTrue: Tensor, yPred: Tensor): Tensor {
  const y = cast(yTrue, yPred.dtype);
  if (y.rank !== yPred.rank || y.shape.some((d, i) => d !== yPred.shape[i])) {
    throw new GraphError('multilabelCrossEntropy', `targets ${formatShape(yTrue.shape)} and scores ${formatShape(yPred.shape)} differ`);
  }
  const s = mul(sub(1, mul(y, 2)), yPred); // positives negated
  const neg = sub(s, mul(y, 1e12)); // positives out
  const pos = sub(s, mul(sub(1, y), 1e12)); // negatives out
  const zero = expand(scalar(0, yPred.dtype), [...s.shape.slice(0, -1), 1]); // the threshold class s_0 = 0
  return add(logSumExp(concat([neg, zero], -1), -1), logSumExp(concat([pos, zero], -1), -1));
}

/**
 * bert4keras's global_pointer_crossentropy: scores and 0/1 targets [B, H, T, T] flattened to one row of
 * T*T spans per (batch, head), multilabelCrossEntropy per row, mean over rows.
 */
export function globalPointerCrossEntropy(yTrue: Tensor, yPred: Tensor): Tensor {
  if (yPred.rank !== 4) throw new GraphError('globalPointerCrossEntropy', `scores must be [B, H, T, T], got ${formatShape(yPred.shape)}`);
  const [b, h] = yPred.shape;
  const rows = (t: Tensor) => reshape(t, [b!, h!, -1]); // (B, H, T*T)
  return reduceMean(multilabelCrossEntropy(rows(yTrue), rows(yPred)));
}

/** RMSNorm (T5 LayerNorm): x / sqrt(mean(x^2) + eps) * gamma, no centring, no bias. */
export function rmsNorm(x: Tensor, gamma: Tensor, epsilon = 1e-6): Tensor {
  const variance = reduceMean(mul(x, x), -1, true);
  return mul(div(x, sqrt(add(variance, epsilon))), gamma);
}
