/**
 * Ops built from primitives: they get shape checks, lowering and gradients for free.
 */
import type { DType } from './dtype.ts';
import {
  add, cast, div, equal, less, lessOrEqual, mul, randomUniformLike, range, reduceMean, reshape,
  slice, softmaxCrossEntropy, sqrt,
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

/** RMSNorm (T5 LayerNorm): x / sqrt(mean(x^2) + eps) * gamma, no centring, no bias. */
export function rmsNorm(x: Tensor, gamma: Tensor, epsilon = 1e-6): Tensor {
  const variance = reduceMean(mul(x, x), -1, true);
  return mul(div(x, sqrt(add(variance, epsilon))), gamma);
}
