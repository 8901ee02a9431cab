/**
 * Recurrent layers as Keras's SimpleRNN / LSTM / GRU (reset_after=True, which is also PyTorch's GRU),
 * unrolled over a static sequence length like `crf.ts`: the input projection x·W + b is one GEMM over
 * all steps, then each step adds h·U and applies the cell. Autodiff differentiates the unrolled graph.
 *
 * Why unrolled (bench/rnn.ts; docs/REPRODUCTIONS.md has the table): it needs no new primitive, every
 * op already has a checked VJP, and once compiled it runs at ~1–3× PyTorch's fused kernels. Its cost
 * is graph size: 7 (SimpleRNN) to 22 (GRU) nodes per step forward, ~3.5× that with the backward
 * pass, and ORT's session creation grows faster than the node count (its allocation planner scans
 * the freed buffers for every output): a training graph takes ~1–5 CPU s at T = 256, 7–44 at
 * T = 1024 (H = 64) and is impractical at 4096; forward-only graphs are usable to T = 4096. Longer
 * training sequences need an ONNX Scan primitive with a backward Scan as its VJP (designed in
 * docs/REPRODUCTIONS.md, Post 7888; graph-valued attributes, which runtime/lower.ts does not emit yet).
 *
 * Weights (names as Keras's; one layout inside, loaders map the others to it):
 *   kernel [I, G·H], recurrent_kernel [H, G·H], bias [G·H]; GRU also recurrent_bias [G·H].
 *   Gate blocks along G·H in Keras order: LSTM i, f, c, o (= PyTorch's i, f, g, o); GRU z, r, h
 *   (PyTorch's r, z, n reordered). G = 1 / 4 / 3 for simple / lstm / gru.
 * Cells (row vectors, a = activation, σ = sigmoid):
 *   simple  h' = a(x W + h U + b)
 *   lstm    i, f, g, o = σ, σ, a, σ of (x W + h U + b);  c' = f⊙c + i⊙g;  h' = o⊙a(c')
 *   gru     z, r = σ(x W_zr + b_zr + h U_zr + rb_zr);  n = a(x W_h + b_h + r⊙(h U_h + rb_h));
 *           h' = z⊙h + (1 − z)⊙n
 * Masking as Keras: a masked step keeps the previous state and repeats the previous output (zeros
 * with `zeroMaskedOutputs`, as Keras's zero_output_for_mask), so a right-padded row ends with the
 * state of its last token, and a reversed pass over it starts from the initial state at its last
 * token (PyTorch's packed sequences give the same values at tokens).
 */
import type { HostTensor } from '../graph/dtype.ts';
import { split, squeeze, unsqueeze } from '../graph/composite.ts';
import { add, cast, concat, expand, greater, matmul, mul, relu, reshape, scalar, sigmoid, slice, sub, tanh, where } from '../graph/ops.ts';
import { GraphError, formatShape, type Tensor } from '../graph/tensor.ts';
import { initializers, type ParamStore, type Scope } from './params.ts';
import { Random } from '../util/random.ts';

export type RnnCell = 'simple' | 'lstm' | 'gru';
export type RnnActivation = 'tanh' | 'relu';
/** Gate blocks per cell. */
export const GATES = { simple: 1, lstm: 4, gru: 3 } as const satisfies Record<RnnCell, number>;

export interface RnnOptions {
  cell: RnnCell;
  units: number;
  /** The candidate / output activation (Keras `activation`); gates are always sigmoid. Default tanh. */
  activation?: RnnActivation;
  /** [B, T], nonzero (or true) = token. Masked steps keep the state (see the header). */
  mask?: Tensor | null;
  /** [h0] or, for LSTM, [h0, c0], each [B, H]. Default zeros. */
  initialState?: Tensor[];
  /** Run from t = T−1 down to 0; outputs stay aligned with the input steps (as PyTorch's reverse direction). */
  reverse?: boolean;
  /** LSTM: initialise the forget-gate bias to this (Keras unit_forget_bias: 1). Default 1. */
  forgetBias?: number;
  /** Output zeros at masked steps instead of repeating the state (Keras zero_output_for_mask; `bidirectional` sets it, as Keras's Bidirectional does). */
  zeroMaskedOutputs?: boolean;
}

export interface RnnOutput {
  /** [B, T, H] (bidirectional: [B, T, 2H], forward then backward). */
  sequence: Tensor;
  /** Final state: [h] or [h, c], each [B, H] (bidirectional: forward's, then backward's). */
  state: Tensor[];
}

/** FNV-1a of a weight name: each layer's orthogonal init gets its own stream. */
function nameSeed(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const sizes = (cell: RnnCell, units: number) => Array<number>(GATES[cell]).fill(units);

/** The cell's weights under `scope`, created when absent as Keras does (glorot-uniform kernel, zero biases, LSTM forget bias 1), except that the recurrent kernel is orthogonal per gate block (Keras: one orthogonal [H, G·H]), so each block's spectrum is 1 as in the analysis tool. */
export function rnnWeights(scope: Scope, cell: RnnCell, inputSize: number, units: number, forgetBias = 1): Record<string, Tensor> {
  const g = GATES[cell] * units;
  const fresh = (name: string) => !scope.options.declareOnly && !scope.store.has(scope.fullName(name));
  if (fresh('recurrent_kernel')) scope.store.set(scope.fullName('recurrent_kernel'), orthogonalBlocks(units, GATES[cell], 1, new Random(nameSeed(scope.fullName('recurrent_kernel')) ^ scope.store.seed), scope.dtype));
  if (cell === 'lstm' && fresh('bias')) {
    const b = new (scope.dtype === 'float64' ? Float64Array : Float32Array)(g);
    b.fill(forgetBias, units, 2 * units);
    scope.store.set(scope.fullName('bias'), { dtype: scope.dtype, shape: [g], data: b });
  }
  const w: Record<string, Tensor> = {
    kernel: scope.param('kernel', [inputSize, g], initializers.uniform(Math.sqrt(6 / (inputSize + g)))),
    recurrent_kernel: scope.param('recurrent_kernel', [units, g], initializers.zeros()),
    bias: scope.param('bias', [g], initializers.zeros()),
  };
  if (cell === 'gru') w.recurrent_bias = scope.param('recurrent_bias', [g], initializers.zeros());
  return w;
}

/**
 * [H, gates·H]: each H×H block `scale`·Q, Q orthogonal from the QR decomposition (R's diagonal
 * positive, by modified Gram–Schmidt) of a matrix of standard normals drawn row-major from `r`.
 */
export function orthogonalBlocks(h: number, gates: number, scale: number, r: Random, dtype: 'float32' | 'float64' | string = 'float32'): HostTensor {
  const out = new (dtype === 'float64' ? Float64Array : Float32Array)(h * gates * h);
  for (let k = 0; k < gates; k++) {
    const q = orthogonal(h, r);
    for (let i = 0; i < h; i++) for (let j = 0; j < h; j++) out[i * gates * h + k * h + j] = scale * q[i * h + j]!;
  }
  return { dtype: dtype === 'float64' ? 'float64' : 'float32', shape: [h, gates * h], data: out };
}

/** An n×n orthogonal matrix (row-major): modified Gram–Schmidt on the columns of n² normals drawn row-major. */
export function orthogonal(n: number, r: Random): Float64Array {
  const a = Float64Array.from({ length: n * n }, () => r.normal());
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[i * n + k]! * a[i * n + j]!;
      for (let i = 0; i < n; i++) a[i * n + j]! -= dot * a[i * n + k]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += a[i * n + j]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) a[i * n + j]! /= norm;
  }
  return a;
}

/**
 * x [B, n, C] -> n × [B, C] for steps lo..hi by halving: a slice's VJP zero-pads its gradient to the
 * sliced tensor's size, so n slices of one [B, T, C] tensor would cost O(T²) in the backward pass
 * (T full-size pads summed); halving makes it O(T log T).
 */
function unstack(x: Tensor, lo: number, hi: number): Tensor[] {
  if (hi - lo === 1) return [squeeze(x, 1)];
  const mid = (lo + hi) >> 1;
  return [...unstack(slice(x, 1, 0, mid - lo), lo, mid), ...unstack(slice(x, 1, mid - lo, hi - lo), mid, hi)];
}

function act(x: Tensor, a: RnnActivation): Tensor {
  switch (a) {
    case 'tanh': return tanh(x);
    case 'relu': return relu(x);
  }
}

/** One cell step from the precomputed x·W + b row `xw` [B, G·H]; returns the new [h] or [h, c]. */
export function rnnStep(cell: RnnCell, w: Record<string, Tensor>, xw: Tensor, state: Tensor[], a: RnnActivation = 'tanh'): Tensor[] {
  const h = state[0]!, units = h.shape[1] as number;
  let hu = matmul(h, w.recurrent_kernel!); // (B, G·H)
  switch (cell) {
    case 'simple': return [act(add(xw, hu), a)];
    case 'lstm': {
      const [i, f, g, o] = split(add(xw, hu), 1, sizes(cell, units)) as [Tensor, Tensor, Tensor, Tensor];
      const c = add(mul(sigmoid(f), state[1]!), mul(sigmoid(i), act(g, a))); // (B, H)
      return [mul(sigmoid(o), act(c, a)), c];
    }
    case 'gru': {
      hu = add(hu, w.recurrent_bias!);
      const [xz, xr, xh] = split(xw, 1, sizes(cell, units)) as [Tensor, Tensor, Tensor];
      const [uz, ur, uh] = split(hu, 1, sizes(cell, units)) as [Tensor, Tensor, Tensor];
      const z = sigmoid(add(xz, uz)), r = sigmoid(add(xr, ur));
      const n = act(add(xh, mul(r, uh)), a);
      return [add(n, mul(z, sub(h, n)))]; // z⊙h + (1 − z)⊙n
    }
  }
}

/**
 * A recurrent layer over x [B, T, I] (static T and I): weights under `scope` (see the header),
 * returns the output sequence [B, T, H] and the final state.
 */
export function rnn(scope: Scope, x: Tensor, options: RnnOptions): RnnOutput {
  const { cell, units, activation = 'tanh', mask, reverse = false } = options;
  const op = `rnn(${cell})`;
  const [b, t, i] = x.shape;
  if (x.rank !== 3 || typeof t !== 'number' || typeof i !== 'number' || t < 1) {
    throw new GraphError(op, `x must be [B, T, I] with static T >= 1 and I (the recurrence is unrolled; pad batches to a fixed length), got ${formatShape(x.shape)}`);
  }
  if (!(cell in GATES)) throw new GraphError(op, `unknown cell '${cell}' (simple, lstm or gru)`);
  if (x.dtype !== scope.dtype) throw new GraphError(op, `x is ${x.dtype} but the layer's weights are ${scope.dtype}`);
  if (mask && (mask.rank !== 2 || mask.shape[1] !== t)) throw new GraphError(op, `mask ${formatShape(mask.shape)} does not match x ${formatShape(x.shape)}; expected [B, ${t}]`);
  const nState = cell === 'lstm' ? 2 : 1;
  const init = options.initialState;
  if (init && (init.length !== nState || init.some((s) => s.rank !== 2 || s.shape[1] !== units || s.dtype !== x.dtype))) {
    throw new GraphError(op, `initialState must be ${nState} tensor(s) [B, ${units}] ${x.dtype} (${cell === 'lstm' ? '[h, c]' : '[h]'}), got ${init.map((s) => `${s.dtype} ${formatShape(s.shape)}`).join(', ')}`);
  }
  const w = rnnWeights(scope, cell, i, units, options.forgetBias);
  const xw = add(matmul(x, w.kernel!), w.bias!); // (B, T, G·H): one GEMM for every step
  const zeros = expand(scalar(0, x.dtype), [b!, units]);
  let state = init ? [...init] : Array<Tensor>(nState).fill(zeros);
  const valid = mask ? (mask.dtype === 'bool' ? mask : greater(cast(mask, x.dtype), scalar(0, x.dtype))) : null;
  const steps = unstack(xw, 0, t); // t × (B, G·H)
  const outputs: Tensor[] = Array(t);
  for (let k = 0; k < t; k++) {
    const s = reverse ? t - 1 - k : k;
    const next = rnnStep(cell, w, steps[s]!, state, activation);
    if (valid) {
      const m = reshape(slice(valid, 1, s, s + 1), [-1, 1]); // (B, 1)
      state = next.map((n, j) => where(m, n, state[j]!));
    } else state = next;
    const m = valid && options.zeroMaskedOutputs ? reshape(slice(valid, 1, s, s + 1), [-1, 1]) : null;
    outputs[s] = unsqueeze(m ? where(m, state[0]!, scalar(0, x.dtype)) : state[0]!, 1); // (B, 1, H)
  }
  return { sequence: concat(outputs, 1), state };
}

export const simpleRNN = (scope: Scope, x: Tensor, options: Omit<RnnOptions, 'cell'>): RnnOutput => rnn(scope, x, { ...options, cell: 'simple' });
export const lstm = (scope: Scope, x: Tensor, options: Omit<RnnOptions, 'cell'>): RnnOutput => rnn(scope, x, { ...options, cell: 'lstm' });
export const gru = (scope: Scope, x: Tensor, options: Omit<RnnOptions, 'cell'>): RnnOutput => rnn(scope, x, { ...options, cell: 'gru' });

/**
 * Keras's Bidirectional(merge_mode='concat'): a forward layer under `scope/forward` and a reversed
 * one under `scope/backward`; sequence [B, T, 2H], zero at masked steps (Keras forces
 * zero_output_for_mask here, so the reversed half has no state to repeat; PyTorch's packed output is
 * zero there too); state = forward's then backward's. The initial state, if given, is forward's then
 * backward's.
 */
export function bidirectional(scope: Scope, x: Tensor, options: RnnOptions): RnnOutput {
  const n = options.cell === 'lstm' ? 2 : 1;
  const init = options.initialState;
  if (init && init.length !== 2 * n) throw new GraphError(`bidirectional(${options.cell})`, `initialState needs ${2 * n} tensors (forward's, then backward's), got ${init.length}`);
  const fwd = rnn(scope.child('forward'), x, { zeroMaskedOutputs: true, ...options, reverse: false, initialState: init?.slice(0, n) });
  const bwd = rnn(scope.child('backward'), x, { zeroMaskedOutputs: true, ...options, reverse: true, initialState: init?.slice(n) });
  return { sequence: concat([fwd.sequence, bwd.sequence], -1), state: [...fwd.state, ...bwd.state] };
}

// ---- weights from Keras and PyTorch ---------------------------------------------------------

/** Our weights for one direction of one layer: kernel, recurrent_kernel, bias (+ recurrent_bias for GRU). */
export type RnnWeightValues = Record<string, HostTensor>;

function toF64(t: HostTensor, what: string, shape: number[]): Float64Array {
  if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) throw new GraphError('rnnWeights', `${what} is ${formatShape(t.shape)}, expected ${formatShape(shape)}`);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new GraphError('rnnWeights', `${what} is ${t.dtype}; convert it to float32 or float64 first`);
  return Float64Array.from(t.data as Float32Array);
}

function host(dtype: 'float32' | 'float64', shape: number[], data: ArrayLike<number>): HostTensor {
  return { dtype, shape, data: dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data) };
}

/** PyTorch gate blocks (rows of [G·H, …]) in our order: GRU r, z, n -> z, r, n; LSTM and simple unchanged. */
const torchBlock = (cell: RnnCell, k: number) => (cell === 'gru' ? [1, 0, 2][k]! : k);

/**
 * One direction of one layer of a PyTorch nn.RNN / nn.LSTM / nn.GRU state dict: `get(name)` reads
 * `weight_ih_l{layer}{suffix}` [G·H, I], `weight_hh_…` [G·H, H], `bias_ih_…`, `bias_hh_…` [G·H]
 * (suffix '_reverse' for the backward direction). Kernels are transposed and GRU gates reordered;
 * simple/LSTM biases are summed (the cell only sees b_ih + b_hh), GRU keeps b_hh as recurrent_bias
 * because its candidate multiplies it by r.
 */
export function rnnWeightsFromPyTorch(cell: RnnCell, get: (name: string) => HostTensor, options: { layer?: number; reverse?: boolean; dtype?: 'float32' | 'float64' } = {}): RnnWeightValues {
  const sfx = `_l${options.layer ?? 0}${options.reverse ? '_reverse' : ''}`, dtype = options.dtype ?? 'float32';
  const wih = get(`weight_ih${sfx}`);
  const gh = wih.shape[0]!, units = gh / GATES[cell], inputSize = wih.shape[1]!;
  if (wih.shape.length !== 2 || !Number.isInteger(units)) throw new GraphError('rnnWeightsFromPyTorch', `weight_ih${sfx} is ${formatShape(wih.shape)}; a ${cell} cell needs [${GATES[cell]}·H, I]`);
  // [G·H, n] with PyTorch's gate order -> [n, G·H] with ours.
  const kernel = (t: HostTensor, name: string, n: number) => {
    const src = toF64(t, name, [gh, n]), out = new Float64Array(n * gh);
    for (let k = 0; k < GATES[cell]; k++) for (let u = 0; u < units; u++) for (let j = 0; j < n; j++) out[j * gh + torchBlock(cell, k) * units + u] = src[(k * units + u) * n + j]!;
    return host(dtype, [n, gh], out);
  };
  const vector = (name: string) => {
    const src = toF64(get(name), name, [gh]), out = new Float64Array(gh);
    for (let k = 0; k < GATES[cell]; k++) for (let u = 0; u < units; u++) out[torchBlock(cell, k) * units + u] = src[k * units + u]!;
    return out;
  };
  const bih = vector(`bias_ih${sfx}`), bhh = vector(`bias_hh${sfx}`);
  const w: RnnWeightValues = { kernel: kernel(wih, `weight_ih${sfx}`, inputSize), recurrent_kernel: kernel(get(`weight_hh${sfx}`), `weight_hh${sfx}`, units) };
  if (cell === 'gru') { w.bias = host(dtype, [gh], bih); w.recurrent_bias = host(dtype, [gh], bhh); } else w.bias = host(dtype, [gh], bih.map((v, k) => v + bhh[k]!));
  return w;
}

/**
 * Keras weights (`layer.get_weights()` order): kernel [I, G·H], recurrent_kernel [H, G·H], bias [G·H]
 * (GRU reset_after=True: bias [2, G·H], input row then recurrent row). Gate orders already match ours.
 */
export function rnnWeightsFromKeras(cell: RnnCell, kernel: HostTensor, recurrentKernel: HostTensor, bias: HostTensor, dtype: 'float32' | 'float64' = 'float32'): RnnWeightValues {
  const [i, gh] = kernel.shape as [number, number], units = gh / GATES[cell];
  const w: RnnWeightValues = { kernel: host(dtype, [i, gh], toF64(kernel, 'kernel', [i, gh])), recurrent_kernel: host(dtype, [units, gh], toF64(recurrentKernel, 'recurrent_kernel', [units, gh])) };
  if (cell === 'gru') {
    const b = toF64(bias, 'bias (GRU reset_after=True)', [2, gh]);
    w.bias = host(dtype, [gh], b.subarray(0, gh));
    w.recurrent_bias = host(dtype, [gh], b.subarray(gh));
  } else w.bias = host(dtype, [gh], toF64(bias, 'bias', [gh]));
  return w;
}

/** What `loadPyTorchRnn` reads: a `CheckpointReader` (nn/ does not import checkpoint/) or any map-like source. */
export interface TensorReader { readonly path: string; has(name: string): boolean; read(name: string): HostTensor; list(): { name: string }[] }

/** Put one direction's weights into the store under `scopeName` (e.g. 'encoder/lstm' or 'encoder/lstm/forward'). */
export function setRnnWeights(store: ParamStore, scopeName: string, weights: RnnWeightValues): void {
  for (const [name, t] of Object.entries(weights)) store.set(`${scopeName}/${name}`, t);
}

/**
 * Load layer `layer` of a PyTorch RNN/LSTM/GRU from a checkpoint (e.g. `openCheckpoint('lstm.safetensors')`
 * or a pytorch_model.bin) whose tensors are named `${prefix}weight_ih_l0` etc. Bidirectional modules
 * go to `scopeName/forward` and `scopeName/backward`, as `bidirectional` reads them.
 */
export function loadPyTorchRnn(store: ParamStore, scopeName: string, reader: TensorReader, options: { cell: RnnCell; prefix?: string; layer?: number; bidirectional?: boolean; dtype?: 'float32' | 'float64' }): void {
  const prefix = options.prefix ?? '';
  const get = (name: string) => {
    if (!reader.has(prefix + name)) throw new GraphError('loadPyTorchRnn', `${reader.path} has no tensor '${prefix + name}' (has: ${reader.list().map((t) => t.name).slice(0, 12).join(', ')})`);
    return reader.read(prefix + name);
  };
  const dir = (reverse: boolean) => rnnWeightsFromPyTorch(options.cell, get, { layer: options.layer, reverse, dtype: options.dtype });
  if (options.bidirectional) {
    setRnnWeights(store, `${scopeName}/forward`, dir(false));
    setRnnWeights(store, `${scopeName}/backward`, dir(true));
  } else setRnnWeights(store, scopeName, dir(false));
}
