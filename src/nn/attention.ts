/**
 * Multi-head attention with boolean masks (padding, causal, UniLM prefix), an optional additive
 * bias (T5 relative positions) and an optional key/value cache for incremental decoding.
 * The attention kind (softmax, performer, linear) replaces only the score computation: `KERNELS`.
 * Kernelized kinds take the mask as its structure (key padding + causal) and decode with running
 * sums instead of a KV cache (performer.ts).
 */
import { causalMask, split } from '../graph/composite.ts';
import { cast, softmax, concat, cumsum, div, greater, lessOrEqual, logicalAnd, matmul, mul, reshape, scalar, slice, transpose, where, add } from '../graph/ops.ts';
import { GraphError, type Dim, type Tensor } from '../graph/tensor.ts';
import { dense, dropout, mergeHeads, splitHeads } from './layers.ts';
import { initializers, type Scope } from './params.ts';
import {
  bandedKernelAttention, causalKernelAttention, eluFeatures, featureMatrix, kernelAttention, performerAttention, type AttentionKind, type AttentionSpec, type RelativeBand,
  type RunningSums,
} from './performer.ts';

export type { AttentionKind, AttentionSpec, RelativeBand, RunningSums } from './performer.ts';

/**
 * One layer's past keys/values [B, H, P, D]. `append: 'graph'` (default) concatenates them with the
 * new ones and returns the whole cache as k/v; `'host'` scores past and new keys as two blocks and
 * returns only the new positions' k/v, for a caller that appends them to its own buffers: no copy of
 * the cache per step (the caller may pad P with masked slots).
 */
export interface LayerCache {
  k: Tensor;
  v: Tensor;
  append?: 'graph' | 'host';
}

export interface AttentionOptions {
  heads: number;
  /** Size of each head's query/key/value (default hidden / heads). */
  headSize?: number;
  /** Keys/values come from this tensor (cross-attention); default: the queries' input. */
  kv?: Tensor;
  /** Bool, broadcastable to [B, H, Tq, Tk]; true = may attend. */
  mask?: Tensor | null;
  /** Additive float bias broadcastable to [B, H, Tq, Tk] (T5's relative position bias). */
  bias?: Tensor | null;
  /** Divide scores by sqrt(headSize) (T5 does not). */
  scale?: boolean;
  useBias?: boolean;
  dropout?: number;
  /** Past keys/values (incremental decoding); see LayerCache. */
  cache?: LayerCache | null;
  /**
   * Keys/values already projected, [B, H, Tk, D]: used as they are, without the key/value layers
   * (cross-attention to an encoder output whose K/V were computed once, in incremental decoding).
   */
  projectedKv?: { k: Tensor; v: Tensor } | null;
  names?: { query: string; key: string; value: string; output: string };
  /** The score computation (default softmax). */
  kind?: AttentionSpec;
  /**
   * The mask as kernelized kinds need it (they cannot take an arbitrary [Tq, Tk] mask): key padding
   * attention_mask [B, Tk] (1 = token) and whether attention is causal (self-attention only).
   */
  structure?: { padding: Tensor | null; causal: boolean };
  /** Causal kernelized decoding: the running sums of earlier positions (replaces `cache`). */
  state?: RunningSums | null;
  /** Kernelized kinds, bidirectional: a relative position bias as they can apply it (T5's; replaces `bias`). */
  band?: RelativeBand | null;
}

export interface AttentionResult {
  output: Tensor;
  /** Keys/values including the cache (the new cache), or with `cache.append: 'host'` the new positions' only. */
  k: Tensor;
  v: Tensor;
  /** Causal kernelized kinds: the running sums including the new positions. */
  state?: RunningSums;
}

/** One kind's scores-to-context step: q (B, H, Tq, D), k/v (B, H, Tk, D) -> context (B, H, Tq, D). */
type Kernel = (scope: Scope, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions) => { context: Tensor; state?: RunningSums };

/** The mask's structure a kernelized kind needs, refusing what it cannot apply. */
function structureOf(o: AttentionOptions): { padding: Tensor | null; causal: boolean } {
  const kind = o.kind!.kind;
  if (o.bias) throw new GraphError('attention', `kind '${kind}' cannot add a position bias to scores it never forms: give it as a relative band (\`band\`, as T5's encoder does) or use kind 'softmax'`);
  if (!o.structure) throw new GraphError('attention', `kind '${kind}' needs the mask as key padding + causal; this model's mask (e.g. UniLM's prefix mask) has no such form: use kind 'softmax'`);
  if (o.state && !o.structure.causal) throw new GraphError('attention', `kind '${kind}': running sums are a causal decoding state, but this attention is bidirectional`);
  return o.structure;
}

const KERNELS = {
  softmax: (scope, q, k, v, o) => {
    // A host-appended cache: the past and the new keys are two blocks of scores (Tk = P + Tq).
    const past = o.cache?.append === 'host' ? o.cache : null;
    const scoresWith = (keys: Tensor) => matmul(q, transpose(keys, [0, 1, 3, 2]));
    let scores = past ? concat([scoresWith(past.k), scoresWith(k)], 3) : scoresWith(k); // (B, H, Tq, Tk)
    if (o.scale ?? true) scores = div(scores, Math.sqrt(q.shape[3] as number));
    if (o.bias) scores = add(scores, o.bias);
    if (o.mask) scores = where(o.mask, scores, scalar(-1e9, scores.dtype));
    const probs = dropout(scope, softmax(scores, -1), o.dropout ?? 0);
    if (!past) return { context: matmul(probs, v) };
    const p = past.k.shape[2]!;
    return { context: add(matmul(slice(probs, 3, 0, p), past.v), matmul(slice(probs, 3, p), v)) };
  },
  // E[φ(q)·φ(k)] = exp(q·k / √D): the 1/√D is folded into q and k as D^-1/4 each (T5: no scaling).
  performer: (scope, q, k, v, o) => {
    const d = q.shape[3] as number;
    const c = (o.scale ?? true) ? d ** -0.25 : 1;
    return performerAttention(mul(q, c), mul(k, c), v, featureMatrix(scope, o.kind!, d), { ...structureOf(o), state: o.state, chunk: o.kind!.chunk, estimator: o.kind!.estimator, band: o.band });
  },
  // Padded keys: their features are zeroed (elu + 1 > 0 everywhere else).
  linear: (_scope, q, k, v, o) => {
    const { padding, causal } = structureOf(o);
    let kf = eluFeatures(k); // (B, H, Tk, D)
    if (padding) {
      const [b, t] = padding.shape;
      kf = mul(kf, cast(reshape(paddingMask(padding), [b!, 1, t!, 1]), kf.dtype));
    }
    if (causal && o.band) throw new GraphError('attention', 'a relative position band applies to bidirectional attention only');
    if (causal) return causalKernelAttention(eluFeatures(q), kf, v, o.state ?? null, o.kind!.chunk);
    return { context: o.band ? bandedKernelAttention(eluFeatures(q), kf, v, o.band) : kernelAttention(eluFeatures(q), kf, v) };
  },
} satisfies Record<AttentionKind, Kernel>;

const DEFAULT_NAMES = { query: 'query', key: 'key', value: 'value', output: 'output' };

export function attention(scope: Scope, x: Tensor, o: AttentionOptions): AttentionResult {
  const hidden = x.shape[x.rank - 1] as number;
  const headSize = o.headSize ?? hidden / o.heads;
  const inner = headSize * o.heads;
  const names = o.names ?? DEFAULT_NAMES;
  const bias = o.useBias ?? true;
  const kvIn = o.kv ?? x;
  let q: Tensor, k: Tensor, v: Tensor;
  if (kvIn === x && !o.projectedKv) {
    // Self-attention: one [C, 3*inner] GEMM instead of three. The weights stay three named
    // parameters (checkpoint maps unchanged); for inference ORT folds their concat once.
    const proj = [names.query, names.key, names.value].map((n) => scope.child(n));
    const kernel = concat(proj.map((s) => s.param('kernel', [hidden, inner], initializers.truncatedNormal(0.02))), 1);
    let qkv = matmul(x, kernel); // (B, T, 3*inner)
    if (bias) qkv = add(qkv, concat(proj.map((s) => s.param('bias', [inner], initializers.zeros())), 0));
    [q, k, v] = split(qkv, -1, 3).map((t) => splitHeads(t, o.heads)) as [Tensor, Tensor, Tensor]; // (B, H, T, D)
  } else {
    q = splitHeads(dense(scope.child(names.query), x, inner, { bias }), o.heads); // (B, H, Tq, D)
    k = o.projectedKv?.k ?? splitHeads(dense(scope.child(names.key), kvIn, inner, { bias }), o.heads); // (B, H, Tk, D)
    v = o.projectedKv?.v ?? splitHeads(dense(scope.child(names.value), kvIn, inner, { bias }), o.heads);
  }
  const kind = o.kind?.kind ?? 'softmax';
  if (o.cache) {
    if (kind !== 'softmax') throw new GraphError('attention', `kind '${kind}' decodes with running sums (state), not a KV cache`);
    if ((o.cache.append ?? 'graph') === 'graph') {
      k = concat([o.cache.k, k], 2);
      v = concat([o.cache.v, v], 2);
    }
  }
  const kernel: Kernel = KERNELS[kind];
  const { context, state } = kernel(scope, q, k, v, o); // (B, H, Tq, D)
  return { output: dense(scope.child(names.output), mergeHeads(context), hidden, { bias }), k, v, ...(state ? { state } : {}) }; // (B, Tq, C)
}

/** attention_mask [B, Tk] (1 = token, 0 = padding) -> bool [B, 1, 1, Tk]. */
export function paddingMask(attentionMask: Tensor): Tensor {
  const [b, t] = attentionMask.shape;
  return reshape(greater(cast(attentionMask, 'float32'), scalar(0, 'float32')), [b!, 1, 1, t!]);
}

/** Causal mask for `seq` new queries after `past` cached positions: bool [1, 1, seq, past+seq]. */
export function causalAttentionMask(seq: Dim, past: Dim = 0): Tensor {
  const m = causalMask(seq, past);
  return reshape(m, [1, 1, ...m.shape]);
}

/**
 * UniLM seq2seq mask from segment ids [B, T] (0 = source, 1 = target): every token sees the whole
 * source; target tokens also see earlier targets. As bert4keras: idx = cumsum(segment_ids), and j
 * is visible from i iff idx[j] <= idx[i].
 */
export function unilmMask(segmentIds: Tensor): Tensor {
  const [b, t] = segmentIds.shape;
  const idx = cumsum(cast(segmentIds, 'float32'), 1);
  return lessOrEqual(reshape(idx, [b!, 1, 1, t!]), reshape(idx, [b!, 1, t!, 1]));
}

export function andMasks(a: Tensor | null, b: Tensor | null): Tensor | null {
  return a && b ? logicalAnd(a, b) : a ?? b;
}
