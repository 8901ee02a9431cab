/**
 * Kernelized attention (Performer's FAVOR+, Choromanski et al. 2020; linear attention, Katharopoulos
 * et al. 2020): softmax(q kᵀ) v is replaced by φ(q) (φ(k)ᵀ v) / φ(q) Σ φ(k), which costs O(n m d)
 * instead of O(n² d). Only the score computation changes; the projections (and so every checkpoint)
 * are the same as softmax attention's.
 *
 *   performer:  φ(x) = exp(ω x − ‖x‖²/2) / √m, ω [m, D] Gaussian (orthogonal blocks by default),
 *               q and k scaled by D^-1/4 so that E[φ(q)·φ(k)] = exp(q·k / √D) (FAVOR+);
 *               `estimator: 'favor++'` (the default where attention is bidirectional):
 *               φ(x) ∝ exp(A‖ω‖² + B ωx − ‖x‖²/2), B = √(1 − 4A), as unbiased for any A < 1/8, with A
 *               chosen per sequence and head to minimise the variance (Likhosherstov et al. 2022,
 *               "optimal positive random features"; A = 0 is FAVOR+);
 *   linear:     φ(x) = elu(x) + 1 (the post's "why not train plain linear attention").
 *
 * ω is drawn on the host from a seed and baked in as a constant (inference), or fed as an input named
 * `performer_omega/<scope>` in a training graph built with `redraw` (`featureRedraw` draws new ones
 * every N steps). Causal attention is chunked: quadratic within chunks of `chunk` positions, running
 * sums across them; its decoding state is the running sums S = Σ φ(k) vᵀ and z = Σ φ(k) (and the key
 * stabiliser they are scaled by): constant memory in the sequence length, replacing the KV cache.
 */
import type { HostTensor } from '../graph/dtype.ts';
import {
  add, cast, chunkAxis, chunkDims, concat, constant, cumsum, div, exp, greater, input, matmul, maximum, mul, neg, padAxis, reduceMax, reduceMean, reduceSum, relu, reshape, scalar,
  slice, sqrt, sub, transpose, trilu, unchunkAxis, where,
} from '../graph/ops.ts';
import { dimAdd, GraphError, reachableTensors, type Tensor } from '../graph/tensor.ts';
import { ParamStore, Scope } from './params.ts';
import { hashString, Random } from '../util/random.ts';

export type AttentionKind = 'softmax' | 'performer' | 'linear';

/** The `attention` build option. */
export interface AttentionSpec {
  kind: AttentionKind;
  /** performer: number of random features m (default 256). */
  features?: number;
  /** performer, training graphs only: draw new features every this many steps (fed, see featureRedraw). */
  redraw?: number;
  /** performer: orthogonal ω blocks (default true) or i.i.d. Gaussian rows. */
  orthogonal?: boolean;
  /** performer: seed of the features (inference uses the draw of this seed). */
  seed?: number;
  /** performer and linear, causal: chunk length of the causal form (default 64; see causalKernelAttention). */
  chunk?: number;
  /**
   * performer: 'favor+' (the post's positive random features) or 'favor++' (the same features reshaped
   * by a per-sequence A that minimises their variance: 2–3× smaller errors on the trained and the
   * reference checkpoints measured, not always on isotropic random q, k; bidirectional only, as A
   * depends on every key). Default:
   * 'favor++' for bidirectional attention, 'favor+' for causal attention and decoding.
   */
  estimator?: PerformerEstimator;
}
export type PerformerEstimator = 'favor+' | 'favor++';

const SPEC_KEYS = { kind: 1, features: 1, redraw: 1, orthogonal: 1, seed: 1, chunk: 1, estimator: 1 } satisfies Record<keyof AttentionSpec, 1>;
const KINDS = { softmax: 1, performer: 1, linear: 1 } satisfies Record<AttentionKind, 1>;
export const DEFAULT_FEATURES = 256;

/** Check the `attention` option; errors name it. */
export function checkAttentionSpec(spec: unknown): AttentionSpec {
  const fail = (msg: string): never => { throw new GraphError('attention option', msg); };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) fail(`must be an object such as { kind: 'performer', features: 256 }, got ${JSON.stringify(spec)}`);
  const s = spec as AttentionSpec;
  const unknown = Object.keys(s).filter((k) => !Object.hasOwn(SPEC_KEYS, k));
  if (unknown.length) fail(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: ${Object.keys(SPEC_KEYS).join(', ')})`);
  if (!Object.hasOwn(KINDS, s.kind)) fail(`kind must be one of ${Object.keys(KINDS).join(', ')}, got ${JSON.stringify(s.kind)}`);
  if (s.kind !== 'performer') {
    const extra = (['features', 'redraw', 'orthogonal', 'seed', 'estimator'] as const).filter((k) => s[k] !== undefined);
    if (extra.length) fail(`${extra.join(', ')} only apply to kind 'performer', not '${s.kind}'`);
  }
  if (s.kind === 'softmax' && s.chunk !== undefined) fail(`chunk only applies to kinds 'performer' and 'linear' (their causal form), not 'softmax'`);
  if (s.chunk !== undefined && !(Number.isInteger(s.chunk) && s.chunk >= 1)) fail(`chunk must be a positive integer (positions per chunk, e.g. 64), got ${s.chunk}`);
  if (s.features !== undefined && !(Number.isInteger(s.features) && s.features >= 1)) fail(`features must be a positive integer, got ${s.features}`);
  if (s.redraw !== undefined && !(Number.isInteger(s.redraw) && s.redraw >= 1)) fail(`redraw must be a positive integer (steps), got ${s.redraw}`);
  if (s.seed !== undefined && !Number.isInteger(s.seed)) fail(`seed must be an integer, got ${s.seed}`);
  if (s.orthogonal !== undefined && typeof s.orthogonal !== 'boolean') fail(`orthogonal must be a boolean, got ${JSON.stringify(s.orthogonal)}`);
  if (s.estimator !== undefined && s.estimator !== 'favor+' && s.estimator !== 'favor++') fail(`estimator must be 'favor+' or 'favor++', got ${JSON.stringify(s.estimator)}`);
  return s;
}

// ---- random features on the host ------------------------------------------------------------

/**
 * ω [m, d] row-major. Orthogonal: each block of d rows is an orthonormal basis (Gram–Schmidt of a
 * Gaussian block), each row rescaled by the norm of an independent Gaussian d-vector (chi(d)), so
 * every row keeps the Gaussian's length distribution (the paper's `scaling=0`). i.i.d.: plain N(0, I).
 */
export function drawFeatures(m: number, d: number, seed: number, orthogonal = true): Float32Array {
  const r = new Random(seed);
  const w = new Float32Array(m * d);
  if (!orthogonal) {
    for (let i = 0; i < w.length; i++) w[i] = r.normal();
    return w;
  }
  const row = new Float64Array(d);
  for (let start = 0; start < m; start += d) {
    const block: Float64Array[] = [];
    for (let i = 0; i < Math.min(d, m - start); i++) {
      // Modified Gram–Schmidt against the block's earlier rows (a fresh draw if it degenerates).
      let norm = 0;
      do {
        for (let j = 0; j < d; j++) row[j] = r.normal();
        for (const b of block) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += row[j]! * b[j]!;
          for (let j = 0; j < d; j++) row[j]! -= dot * b[j]!;
        }
        norm = Math.hypot(...row);
      } while (norm < 1e-6);
      block.push(row.map((x) => x / norm));
      let chi = 0;
      for (let j = 0; j < d; j++) chi += r.normal() ** 2;
      for (let j = 0; j < d; j++) w[(start + i) * d + j] = block[i]![j]! * Math.sqrt(chi);
    }
  }
  return w;
}

/** Seed of one layer's features for draw number `draw` (0 = inference). */
export function layerSeed(spec: AttentionSpec, scopePath: string, draw = 0): number {
  return (hashString(scopePath) ^ Math.imul((spec.seed ?? 0) + 1, 0x9e3779b1) ^ Math.imul(draw, 0x85ebca6b)) >>> 0;
}

const OMEGA_INPUT = 'performer_omega/';

/** The fed ω leaves of one build (keyed by its scopes' shared map): ALBERT's shared layers share one. */
const fedLeaves = new WeakMap<Map<string, Tensor>, Map<string, Tensor>>();

/** ω [m, D] for attention in `scope`: a seeded constant, or fed when training with redraw. */
export function featureMatrix(scope: Scope, spec: AttentionSpec, headSize: number): Tensor {
  const m = spec.features ?? DEFAULT_FEATURES;
  if (scope.training && spec.redraw !== undefined) {
    const name = `${OMEGA_INPUT}${scope.prefix}`;
    const leaves = fedLeaves.get(scope.declared) ?? new Map<string, Tensor>();
    fedLeaves.set(scope.declared, leaves);
    if (!leaves.has(name)) leaves.set(name, input(name, 'float32', [m, headSize]));
    return leaves.get(name)!;
  }
  return constant({ dtype: 'float32', shape: [m, headSize], data: drawFeatures(m, headSize, layerSeed(spec, scope.prefix), spec.orthogonal ?? true) });
}

/**
 * Feature redraw for training: finds the fed ω inputs of the training graph `build` makes and returns
 * `step -> feeds` drawing fresh features every `spec.redraw` steps (merge them into each batch:
 * `{ ...batch, ...redraw(step) }`). Draw 0 is the inference draw.
 */
export function featureRedraw(build: (scope: Scope) => Tensor | Record<string, Tensor>, spec: AttentionSpec): (step: number) => Record<string, HostTensor> {
  const out = build(new Scope(new ParamStore(), '', { training: true, declareOnly: true }));
  const leaves = new Map<string, number[]>();
  const roots = out instanceof Object && 'node' in out ? [out as Tensor] : Object.values(out as Record<string, Tensor>);
  for (const t of reachableTensors(roots)) {
    if (t.node.op === 'input' && String(t.node.attrs.name).startsWith(OMEGA_INPUT)) leaves.set(t.node.attrs.name as string, t.shape as number[]);
  }
  let cached: { draw: number; feeds: Record<string, HostTensor> } | null = null;
  return (step) => {
    const draw = Math.floor(step / (spec.redraw ?? Infinity)) || 0;
    if (cached?.draw === draw) return cached.feeds;
    const feeds: Record<string, HostTensor> = {};
    for (const [name, [m, d]] of leaves) {
      feeds[name] = { dtype: 'float32', shape: [m!, d!], data: drawFeatures(m!, d!, layerSeed(spec, name.slice(OMEGA_INPUT.length), draw), spec.orthogonal ?? true) };
    }
    cached = { draw, feeds };
    return feeds;
  };
}

// ---- feature maps (graph) -------------------------------------------------------------------

/** Exponent below which a feature is exactly 0 (padded keys). */
const OFF = -1e30;

/**
 * FAVOR++'s reshaping of the features, per sequence and head (B, H, 1, 1): the exponent ωx becomes
 * A‖ω‖² + B ωx with B = √(1 − 4A). E over ω ~ N(0, I) of the product of two such features is
 * (1 − 4A)^(-D/2) exp(‖q + k‖²/2) · exp(−(‖q‖² + ‖k‖²)/2) = exp(q·k) up to the constant (1 − 4A)^(-D/2),
 * which the attention ratio cancels (as it does √m).
 */
export interface FeatureShape { a: Tensor; b: Tensor }

/**
 * The variance-minimising A for q, k (B, H, T, D), scaled by D^-1/4: with ρ = mean over query-key
 * pairs of ‖q + k‖² / D (real tokens only), A* = (1 − 2ρ − √((2ρ + 1)² + 8ρ)) / 16 — the root of
 * d/dA log E[φ(q)²φ(k)²] (Likhosherstov et al. 2022, OPRF). ρ → 0 gives A = 0 (FAVOR+).
 */
export function optimalFeatureShape(q: Tensor, k: Tensor, padding: Tensor | null): FeatureShape {
  const d = q.shape[3] as number;
  const [b, t] = padding?.shape ?? [];
  const w = padding ? cast(reshape(greater(cast(padding, q.dtype), scalar(0, q.dtype)), [b!, 1, t!, 1]), q.dtype) : null;
  // Masked mean over the positions (axis 2); queries use the same mask (padded queries are discarded).
  const mean = (x: Tensor) => (w ? div(reduceSum(mul(x, w), 2, true), maximum(reduceSum(w, 2, true), scalar(1, q.dtype))) : reduceMean(x, 2, true));
  const squares = (x: Tensor) => mean(reduceSum(mul(x, x), -1, true)); // (B, H, 1, 1)
  const cross = reduceSum(mul(mean(q), mean(k)), -1, true); // (B, H, 1, 1)
  const rho = div(add(add(squares(q), squares(k)), mul(cross, 2)), d);
  const root = sqrt(add(mul(add(mul(rho, 2), 1), add(mul(rho, 2), 1)), mul(rho, 8)));
  const a = div(sub(sub(1, mul(rho, 2)), root), 16);
  return { a, b: sqrt(sub(1, mul(a, 4))) };
}

/** ω x (B, H, T, m), or A‖ω‖² + B ω x with a feature shape. */
function featureExponents(x: Tensor, omega: Tensor, shape?: FeatureShape): Tensor {
  const h = matmul(x, transpose(omega, [1, 0])); // (B, H, T, m)
  if (!shape) return h;
  const m = omega.shape[0] as number;
  const norms = reshape(reduceSum(mul(omega, omega), -1), [1, 1, 1, m]);
  return add(mul(h, shape.b), mul(norms, shape.a));
}

/**
 * Query features exp(ωq − ‖q‖²/2 − max_i(ωq)) / √m of q (B, H, T, D), already scaled by D^-1/4, for
 * ω [m, D] -> (B, H, T, m). The row max (and the row's ‖q‖²/2) is a per-query constant that the
 * normalisation cancels: it only keeps exp from overflowing.
 */
export function queryFeatures(q: Tensor, omega: Tensor, shape?: FeatureShape): Tensor {
  const h = featureExponents(q, omega, shape);
  return div(exp(sub(h, reduceMax(h, -1, true))), Math.sqrt(omega.shape[0] as number));
}

/** Key exponents ωk − ‖k‖²/2 (B, H, T, m); padded keys (attention_mask 0) at OFF, so their features are 0. */
export function keyExponents(k: Tensor, omega: Tensor, padding: Tensor | null, shape?: FeatureShape): Tensor {
  const e = sub(featureExponents(k, omega, shape), mul(reduceSum(mul(k, k), -1, true), 0.5));
  if (!padding) return e;
  const [b, t] = padding.shape;
  return where(reshape(greater(cast(padding, e.dtype), scalar(0, e.dtype)), [b!, 1, t!, 1]), e, scalar(OFF, e.dtype));
}

/** exp(e − c) / √m with c (B, H, 1, 1): one constant per sequence and head, which the ratio cancels. */
function keyFeatures(e: Tensor, c: Tensor): Tensor {
  return div(exp(sub(e, c)), Math.sqrt(e.shape[3] as number));
}

/** elu(x) + 1 = relu(x) + exp(min(x, 0)): positive, and without an exp of large x on either branch. */
export function eluFeatures(x: Tensor): Tensor {
  return add(relu(x), exp(neg(relu(neg(x)))));
}

// ---- attention from features ----------------------------------------------------------------

/**
 * Causal decoding state of one layer: S = Σ φ(k) vᵀ (B, H, m, D), z = Σ φ(k) (B, H, m), and (performer)
 * c (B, H), the key stabiliser S and z are scaled by: φ(k) = exp(ωk − ‖k‖²/2 − c) / √m.
 */
export interface RunningSums { s: Tensor; z: Tensor; c?: Tensor }

/** 0/0 (a query with no visible key: left padding) gives 0, not NaN. */
function normalise(num: Tensor, den: Tensor): Tensor {
  return div(num, where(greater(den, 0), den, scalar(1, den.dtype)));
}

/** Bidirectional: φ(q) (φ(k)ᵀ v) / φ(q) Σ_j φ(k_j). qf (B, H, T, m), kf (B, H, S, m), v (B, H, S, D) -> (B, H, T, D). */
export function kernelAttention(qf: Tensor, kf: Tensor, v: Tensor): Tensor {
  const kv = matmul(transpose(kf, [0, 1, 3, 2]), v); // (B, H, m, D)
  const z = reduceSum(kf, 2, true); // (B, H, 1, m)
  return normalise(matmul(qf, kv), reduceSum(mul(qf, z), -1, true));
}

/**
 * A relative position bias (T5's) in the form kernelized attention can apply: exp(bias) exact for key
 * minus query in [−W − a, 2W − a) around a query at offset a of its chunk of W positions (the chunk and
 * its two neighbours), and one constant per direction beyond, where T5's bias is constant (every
 * distance ≥ max_distance shares the last bucket; W = max_distance).
 */
export interface RelativeBand {
  width: number;
  /** exp(bias) (1, H, W, 3W): [query offset a, key offset b in the three chunks] -> key − query = b − W − a. */
  window: Tensor;
  /** exp(bias) of keys two or more chunks before / after the query's chunk, (1, H, 1, 1). */
  before: Tensor;
  after: Tensor;
}

/**
 * Bidirectional kernel attention with a relative bias: out_i = Σ_j e^{b(j−i)} φ(q_i)·φ(k_j) v_j / Σ_j e^{b(j−i)} φ(q_i)·φ(k_j).
 * T is cut in chunks of W; a chunk's queries see the keys of its own and its two neighbouring chunks
 * through the exact bias (a quadratic form over 3W keys), and every other key through running sums of
 * the chunks before and after, each scaled by its far-field constant. O(T · 3W · m) and memory
 * (B, H, T/W, W, 3W) + (B, H, T/W, m, D); padded keys must have zero features.
 */
export function bandedKernelAttention(qf: Tensor, kf: Tensor, v: Tensor, band: RelativeBand): Tensor {
  const w = band.width;
  const [b, h, t, m] = qf.shape;
  const d = v.shape[3]!;
  const [n] = chunkDims(t!, w, true);
  const qc = chunkAxis(qf, 2, w, true), kc = chunkAxis(kf, 2, w, true), vc = chunkAxis(v, 2, w, true); // (B, H, n, W, m|D): exactly W, as the window
  // The keys of chunks i−1, i, i+1 for each chunk i: one zero chunk padded on either side.
  const neighbours = (x: Tensor) => {
    const padded = padAxis(x, 2, 1, 1);
    return concat([slice(padded, 2, 0, n!), slice(padded, 2, 1, dimAdd(n!, 1)), slice(padded, 2, 2, dimAdd(n!, 2))], 3); // (B, H, n, 3W, ·)
  };
  const scores = mul(matmul(qc, transpose(neighbours(kc), [0, 1, 2, 4, 3])), reshape(band.window, [1, h!, 1, w, 3 * w])); // (B, H, n, W, 3W)
  const sums = matmul(transpose(kc, [0, 1, 2, 4, 3]), vc); // (B, H, n, m, D)
  const zs = reduceSum(kc, 3); // (B, H, n, m)
  // Chunks ≤ i − 2: the exclusive prefix sum one chunk back; chunks ≥ i + 2: the exclusive suffix sum one chunk on.
  const farBefore = (x: Tensor) => slice(padAxis(cumsum(x, 2, { exclusive: true }), 2, 1, 0), 2, 0, n!);
  const farAfter = (x: Tensor) => slice(padAxis(cumsum(x, 2, { exclusive: true, reverse: true }), 2, 0, 1), 2, 1, dimAdd(n!, 1));
  const [before, after] = [reshape(band.before, [1, h!, 1, 1, 1]), reshape(band.after, [1, h!, 1, 1, 1])];
  const zOf = (x: Tensor) => reshape(x, [b!, h!, n!, m!, 1]);
  const num = add(matmul(scores, neighbours(vc)), add(mul(matmul(qc, farBefore(sums)), before), mul(matmul(qc, farAfter(sums)), after))); // (B, H, n, W, D)
  const den = add(reduceSum(scores, -1, true), add(mul(matmul(qc, zOf(farBefore(zs))), before), mul(matmul(qc, zOf(farAfter(zs))), after))); // (B, H, n, W, 1)
  return unchunkAxis(normalise(num, den), 2, t!, w, true); // (B, H, T, D)
}

/** Default chunk length of the causal form. */
export const DEFAULT_CHUNK = 64;

/**
 * Causal, chunked: out_t = φ(q_t) S_t / φ(q_t)·z_t with S_t = S_0 + Σ_{j≤t} φ(k_j) v_jᵀ, z_t = z_0 + Σ_{j≤t} φ(k_j).
 * T is split into n chunks of c = min(chunk, T) positions (the last zero-padded: zero features add
 * nothing). Within a chunk, the masked quadratic form (φ(Q) φ(K)ᵀ ∘ lower-triangular) V; across
 * chunks, the sums S and z of the chunks before, a prefix sum over chunks only. Memory (B, H, n, m, D)
 * + (B, H, n, c, c) instead of the (B, H, T, m, D) of prefix sums over positions (805 MB per layer
 * for GPT-2-small at T = 1,024, m = 256). One graph for training (S_0 = 0) and decoding (S_0 = the
 * state; a single new token is one chunk of 1).
 */
export function causalKernelAttention(qf: Tensor, kf: Tensor, v: Tensor, state: RunningSums | null, chunk = DEFAULT_CHUNK): { context: Tensor; state: RunningSums } {
  const [b, h, t, m] = qf.shape;
  const d = v.shape[3]!;
  const [n] = chunkDims(t!, chunk);
  const qc = chunkAxis(qf, 2, chunk), kc = chunkAxis(kf, 2, chunk), vc = chunkAxis(v, 2, chunk); // (B, H, n, c, m|D)
  const scores = trilu(matmul(qc, transpose(kc, [0, 1, 2, 4, 3])), false); // (B, H, n, c, c), j ≤ i
  const sums = matmul(transpose(kc, [0, 1, 2, 4, 3]), vc); // (B, H, n, m, D): each chunk's Σ φ(k) vᵀ
  const zs = reduceSum(kc, 3); // (B, H, n, m)
  let sBefore = cumsum(sums, 2, { exclusive: true }), zBefore = cumsum(zs, 2, { exclusive: true });
  if (state) {
    sBefore = add(sBefore, reshape(state.s, [b!, h!, 1, m!, d]));
    zBefore = add(zBefore, reshape(state.z, [b!, h!, 1, m!]));
  }
  const num = add(matmul(scores, vc), matmul(qc, sBefore)); // (B, H, n, c, D)
  const den = add(reduceSum(scores, -1, true), matmul(qc, reshape(zBefore, [b!, h!, n!, m!, 1]))); // (B, H, n, c, 1)
  const context = unchunkAxis(normalise(num, den), 2, t!, chunk); // (B, H, T, D)
  const next = { s: reduceSum(sums, 2), z: reduceSum(zs, 2) };
  return { context, state: state ? { s: add(state.s, next.s), z: add(state.z, next.z) } : next };
}

/**
 * FAVOR+ attention of q, k (B, H, T, D), already scaled by D^-1/4, and v, for ω [m, D]. Keys are
 * stabilised by one constant per sequence and head, their largest exponent (the paper's implementation):
 * bidirectional, over all keys; causal, the running max over the keys so far, the state's sums rescaled
 * by exp(c_old − c_new) when it grows, so decoding stays exact. (Within one call the max includes later
 * keys: harmless, every position's ratio cancels the same constant.)
 */
export function performerAttention(q: Tensor, k: Tensor, v: Tensor, omega: Tensor, o: { padding: Tensor | null; causal: boolean; state?: RunningSums | null; chunk?: number; estimator?: PerformerEstimator; band?: RelativeBand | null }): { context: Tensor; state?: RunningSums } {
  const [b, h] = q.shape;
  if (o.estimator === 'favor++' && o.causal) throw new GraphError('attention', `estimator 'favor++' picks its A from every key of the sequence, which causal attention (and decoding) must not see: use estimator 'favor+' for causal models`);
  const shape = (o.estimator ?? (o.causal ? 'favor+' : 'favor++')) === 'favor++' ? optimalFeatureShape(q, k, o.padding) : undefined;
  const qf = queryFeatures(q, omega, shape);
  const e = keyExponents(k, omega, o.padding, shape); // (B, H, T, m)
  // (B, H); floored so that a chunk of padding alone (all at OFF) still gives its keys exp(OFF − c) = 0.
  const chunkMax = maximum(reduceMax(e, [2, 3]), scalar(-1e4, e.dtype));
  if (!o.causal) {
    const kf = keyFeatures(e, reshape(chunkMax, [b!, h!, 1, 1]));
    return { context: o.band ? bandedKernelAttention(qf, kf, v, o.band) : kernelAttention(qf, kf, v) };
  }
  if (o.band) throw new GraphError('attention', 'a relative position band applies to bidirectional attention only');
  const prev = o.state ?? null;
  const c = prev?.c ? maximum(prev.c, chunkMax) : chunkMax; // (B, H)
  const rescale = prev?.c ? exp(sub(prev.c, c)) : null;
  const carried = prev && rescale ? { s: mul(prev.s, reshape(rescale, [b!, h!, 1, 1])), z: mul(prev.z, reshape(rescale, [b!, h!, 1])) } : prev;
  const r = causalKernelAttention(qf, keyFeatures(e, reshape(c, [b!, h!, 1, 1])), v, carried, o.chunk);
  return { context: r.context, state: { ...r.state, c } };
}

/** The initial key stabiliser of a decoding state: far below any exponent (its sums are 0). */
export const EMPTY_STABILISER = OFF;
