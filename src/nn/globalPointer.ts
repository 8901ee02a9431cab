/**
 * GlobalPointer and EfficientGlobalPointer, as bert4keras's layers (https://kexue.fm/archives/8373,
 * https://kexue.fm/archives/8877): every span (start m, end n) of the sequence gets a score per head
 * (entity type), [B, H, T, T]; a span is predicted when its score is > 0. Train with
 * `globalPointerCrossEntropy` (graph/composite.ts).
 *
 *   GlobalPointer:           s_h(m, n) = <R_m q_{h,m}, R_n k_{h,n}> / √D
 *   EfficientGlobalPointer:  s_h(m, n) = <R_m q_m, R_n k_n> / √D + w_{h,start}·[q_m; k_m]/2 + w_{h,end}·[q_n; k_n]/2
 *
 * R_i is the rotary position embedding (RoPE), so scores depend on n − m. Padded rows and columns
 * are set to −1e12 and spans with n < m get −1e12 added, as bert4keras does (K.infinity() = 1e12).
 */
import type { HostTensor } from '../graph/dtype.ts';
import { squeeze, unsqueeze } from '../graph/composite.ts';
import {
  add, cast, concat, constant, div, greater, matmul, mul, neg, range, reshape, scalar, slice, sub, transpose, where,
} from '../graph/ops.ts';
import { GraphError, formatShape, type Dim, type Tensor } from '../graph/tensor.ts';
import { dense } from './layers.ts';
import { initializers, type Scope } from './params.ts';

export interface GlobalPointerOptions {
  /** Number of span types. */
  heads: number;
  /** Size of q and k per head (even when RoPE is on). */
  headSize: number;
  /** Rotary position embedding on q and k (default true). */
  rope?: boolean;
  useBias?: boolean;
  /** Exclude spans that end before they start (default true). */
  trilMask?: boolean;
  /** Longest sequence when the length is a dynamic dim: the RoPE tables are host constants (default 512). */
  maxLength?: number;
}

/** Positive-infinity stand-in, as bert4keras's K.infinity(). */
const INF = 1e12;

/** keras 'lecun_normal': truncated normal with variance 1 / fan_in. */
const lecunNormal = (fanIn: number) => initializers.truncatedNormal(Math.sqrt(1 / fanIn) / 0.87962566103423978);

/**
 * bert4keras's SinusoidalPositionEmbedding (merge 'zero') as RoPE tables [n, D]: with
 * θ_i = 10000^(−2i/D), cos[t, 2i] = cos[t, 2i+1] = cos(t θ_i), and sin likewise.
 */
function ropeTables(n: number, d: number, dtype: 'float32' | 'float64'): { cos: HostTensor; sin: HostTensor } {
  const make = () => (dtype === 'float64' ? new Float64Array(n * d) : new Float32Array(n * d));
  const cos = make(), sin = make();
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < d / 2; i++) {
      const angle = t * Math.pow(10000, (-2 * i) / d);
      cos[t * d + 2 * i] = cos[t * d + 2 * i + 1] = Math.cos(angle);
      sin[t * d + 2 * i] = sin[t * d + 2 * i + 1] = Math.sin(angle);
    }
  }
  return { cos: { dtype, shape: [n, d], data: cos }, sin: { dtype, shape: [n, d], data: sin } };
}

/**
 * RoPE on x [..., T, D] (T at axis −2): x·cos + x₂·sin with x₂ = (−x₁, x₀, −x₃, x₂, ...), as
 * bert4keras's apply_rotary_position_embeddings.
 */
export function applyRope(x: Tensor, maxLength = 512): Tensor {
  const t = x.shape[x.rank - 2]!, d = x.shape[x.rank - 1];
  if (typeof d !== 'number' || d % 2 !== 0) throw new GraphError('applyRope', `last dim of ${formatShape(x.shape)} must be static and even`);
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new GraphError('applyRope', `needs float32 or float64, got ${x.dtype}`);
  const rows = typeof t === 'number' ? t : maxLength;
  const { cos, sin } = ropeTables(rows, d, x.dtype);
  const table = (h: HostTensor) => (typeof t === 'number' ? constant(h) : slice(constant(h), 0, 0, t)); // (T, D)
  const pairs = reshape(x, [...x.shape.slice(0, -1), d / 2, 2]); // (..., T, D/2, 2)
  const even = slice(pairs, -1, 0, 1), odd = slice(pairs, -1, 1, 2);
  const rotated = reshape(concat([neg(odd), even], -1), x.shape); // (..., T, D)
  return add(mul(x, table(cos)), mul(rotated, table(sin)));
}

/** Padding (mask [B, T], nonzero = token) and lower-triangle masks on scores [B, H, T, T], as bert4keras. */
function maskSpans(scores: Tensor, mask: Tensor | null, tril: boolean): Tensor {
  const [b, , t] = scores.shape;
  const dtype = scores.dtype;
  if (mask) {
    if (mask.rank !== 2 || mask.shape[1] !== t) throw new GraphError('globalPointer', `mask ${formatShape(mask.shape)} does not match scores ${formatShape(scores.shape)}; expected [B, ${t}]`);
    const token = mask.dtype === 'bool' ? mask : greater(cast(mask, 'float32'), scalar(0, 'float32'));
    const minusInf = scalar(-INF, dtype);
    scores = where(reshape(token, [b!, 1, t!, 1]), scores, minusInf); // padded starts
    scores = where(reshape(token, [b!, 1, 1, t!]), scores, minusInf); // padded ends
  }
  if (tril) {
    const below = greater(reshape(range(t!), [t!, 1]), reshape(range(t!), [1, t!])); // (T, T): end n < start m
    scores = sub(scores, mul(cast(below, dtype), INF));
  }
  return scores;
}

function checkInput(op: string, x: Tensor, o: GlobalPointerOptions): number {
  const c = x.shape[2];
  if (x.rank !== 3 || typeof c !== 'number') throw new GraphError(op, `input must be [B, T, C] with a static C, got ${formatShape(x.shape)}`);
  if ((o.rope ?? true) && o.headSize % 2 !== 0) throw new GraphError(op, `headSize ${o.headSize} must be even for RoPE`);
  return c;
}

/**
 * GlobalPointer: x [B, T, C] -> span scores [B, H, T, T]. One dense layer ('dense') gives q and k
 * for every head: [B, T, H, 2D] split into q = [..., :D], k = [..., D:].
 */
export function globalPointer(scope: Scope, x: Tensor, mask: Tensor | null, o: GlobalPointerOptions): Tensor {
  const c = checkInput('globalPointer', x, o);
  const [b, t] = x.shape as [Dim, Dim];
  const { heads: h, headSize: d } = o;
  const qk = reshape(dense(scope.child('dense'), x, h * 2 * d, { bias: o.useBias ?? true, kernelInit: lecunNormal(c) }), [b, t, h, 2 * d]); // (B, T, H, 2D)
  let q = transpose(slice(qk, -1, 0, d), [0, 2, 1, 3]); // (B, H, T, D)
  let k = transpose(slice(qk, -1, d, 2 * d), [0, 2, 1, 3]); // (B, H, T, D)
  if (o.rope ?? true) [q, k] = [applyRope(q, o.maxLength), applyRope(k, o.maxLength)];
  const scores = matmul(q, transpose(k, [0, 1, 3, 2])); // (B, H, T, T)
  return div(maskSpans(scores, mask, o.trilMask ?? true), Math.sqrt(d));
}

/**
 * EfficientGlobalPointer: x [B, T, C] -> span scores [B, H, T, T]. 'p_dense' gives one shared q, k
 * (interleaved: q = [..., ::2], k = [..., 1::2]); 'q_dense' gives per-head additive start/end biases.
 */
export function efficientGlobalPointer(scope: Scope, x: Tensor, mask: Tensor | null, o: GlobalPointerOptions): Tensor {
  const c = checkInput('efficientGlobalPointer', x, o);
  const [b, t] = x.shape as [Dim, Dim];
  const { heads: h, headSize: d } = o;
  const bias = o.useBias ?? true;
  const p = dense(scope.child('p_dense'), x, 2 * d, { bias, kernelInit: lecunNormal(c) }); // (B, T, 2D)
  const pairs = reshape(p, [b, t, d, 2]);
  let q = squeeze(slice(pairs, -1, 0, 1), -1), k = squeeze(slice(pairs, -1, 1, 2), -1); // (B, T, D)
  if (o.rope ?? true) [q, k] = [applyRope(q, o.maxLength), applyRope(k, o.maxLength)];
  const shared = div(matmul(q, transpose(k, [0, 2, 1])), Math.sqrt(d)); // (B, T, T)
  const heads = div(transpose(dense(scope.child('q_dense'), p, 2 * h, { bias, kernelInit: lecunNormal(2 * d) }), [0, 2, 1]), 2); // (B, 2H, T)
  const perHead = reshape(heads, [b, h, 2, t]); // channel 2h+0: end bias, 2h+1: start bias
  const endBias = slice(perHead, 2, 0, 1); // (B, H, 1, T)
  const startBias = reshape(slice(perHead, 2, 1, 2), [b, h, t, 1]); // (B, H, T, 1)
  const scores = add(add(unsqueeze(shared, 1), endBias), startBias); // (B, H, T, T)
  return maskSpans(scores, mask, o.trilMask ?? true);
}

export interface GlobalPointerSpan {
  batch: number;
  head: number;
  start: number;
  /** Inclusive. */
  end: number;
  score: number;
}

/** Spans scoring above `threshold` (bert4keras decodes with > 0) from host scores [B, H, T, T]. */
export function decodeSpans(scores: HostTensor, threshold = 0): GlobalPointerSpan[] {
  const [b, h, t, t2] = scores.shape;
  if (scores.shape.length !== 4 || t !== t2) throw new Error(`decodeSpans: scores must be [B, H, T, T], got ${formatShape(scores.shape)}`);
  const out: GlobalPointerSpan[] = [];
  const data = scores.data as ArrayLike<number>;
  for (let i = 0, k = 0; i < b!; i++) {
    for (let head = 0; head < h!; head++) {
      for (let start = 0; start < t!; start++) {
        for (let end = 0; end < t!; end++, k++) if (data[k]! > threshold) out.push({ batch: i, head, start, end, score: data[k]! });
      }
    }
  }
  return out;
}
