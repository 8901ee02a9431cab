/**
 * A causal LM as a step function for incremental decoding: one graph serves the prompt pass and
 * every later step. It takes the new tokens, their positions, the attention mask over past+new
 * positions and the previous per-layer keys/values, and returns the logits of the last position and
 * the new positions' keys/values. `cacheIndex` (which previous row each row continues: beam search
 * reorders rows with it) is applied on the host, and only when it is not the identity: a gather
 * inside the graph would copy the whole cache on every step, and greedy / sampling steps never
 * reorder. The cache depends on the attention kind (`STATES`): softmax keeps every key/value (grows
 * with the sequence) in host buffers with spare capacity, which the step graph reads as they are
 * (unfilled slots masked) and to which the host appends the step's new keys/values — so a step
 * neither concatenates nor copies back the whole cache; kernelized kinds keep running sums
 * S = Σ φ(k) vᵀ and z = Σ φ(k) per layer (constant size), and take the attention mask of the new
 * positions only.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { input, reshape } from '../graph/ops.ts';
import type { Tensor } from '../graph/tensor.ts';
import type { AttentionKind, AttentionSpec, RunningSums } from '../nn/attention.ts';
import { DEFAULT_FEATURES, EMPTY_STABILISER } from '../nn/performer.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { gpt2, type GPT2Config, type GPT2Inputs, type GPT2Outputs, type LayerCache } from '../models/gpt2.ts';
import { compile, type Executable, type RuntimeOptions } from '../runtime/session.ts';

export interface DecoderState {
  /**
   * Per layer: keys and values `k`, `v` [rows, heads, capacity, headSize] (softmax; positions
   * 0..past-1 filled, the rest spare), or the running sums `s` [rows, heads, m, headSize],
   * `z` [rows, heads, m] and (performer) `c` [rows, heads] (kernelized kinds).
   */
  cache: Record<string, HostTensor>[];
  /** Past length. */
  past: number;
}

export interface StepInput {
  ids: number[][]; // [rows][new tokens]
  positions: number[][];
  /** [rows][past + new] 1 = real token, 0 = padding. */
  attentionMask: number[][];
  /** For each row, the row of `state` it continues. */
  cacheIndex: number[];
}

/** What the decoding strategies need from a model. */
export interface IncrementalLM {
  readonly vocabSize: number;
  readonly maxPosition: number;
  /** An empty state for `rows` sequences. */
  initialState(rows: number): DecoderState;
  /** Logits of the last new position of each row, [rows, vocab] flattened, and the new state. */
  step(input: StepInput, state: DecoderState): Promise<{ logits: Float32Array; state: DecoderState }>;
}

export interface DecoderRuntimeOptions extends RuntimeOptions {
  /** Threads for single-token steps (default 1). */
  decodeThreads?: number;
}

/**
 * How one kind of decoding state enters and leaves the step graph: per layer i, each part p is the
 * input `past_${p}_${i}` and the output `present_${p}_${i}`.
 */
interface StateKind {
  /** Part name -> its shape after the rows axis ('past' grows with the sequence) and its initial fill. */
  parts: Record<string, { shape: (d: StateDims) => (number | 'past')[]; fill?: number }>;
  /** gpt2() inputs from layer i's parts. */
  inputs(parts: Record<string, Tensor>): Pick<GPT2Inputs, 'cache' | 'states'>;
  /** Layer i's parts after the step (the KV cache: the new positions' keys/values). */
  outputs(out: GPT2Outputs, i: number): Record<string, Tensor>;
  /** Kernelized kinds take the mask of the new positions only (no past axis in the graph). */
  newMaskOnly: boolean;
  /** The KV cache: the outputs are appended to the host buffers (else they replace the state). */
  appends?: boolean;
}
interface StateDims { heads: number; headSize: number; features: number }

const STATES = {
  // Softmax: the KV cache, k and v [rows, H, capacity, D]; the mask covers capacity + new positions.
  cache: {
    parts: { k: { shape: (d) => [d.heads, 'past', d.headSize] }, v: { shape: (d) => [d.heads, 'past', d.headSize] } },
    inputs: (p) => ({ cache: [{ k: p.k!, v: p.v!, append: 'host' }] }),
    outputs: (out, i) => ({ k: out.cache[i]!.k, v: out.cache[i]!.v }),
    newMaskOnly: false,
    appends: true,
  },
  // Linear: S [rows, H, D, D] and z [rows, H, D], whatever the length.
  sums: {
    parts: { s: { shape: (d) => [d.heads, d.features, d.headSize] }, z: { shape: (d) => [d.heads, d.features] } },
    inputs: (p) => ({ states: [{ s: p.s!, z: p.z! }] }),
    outputs: (out, i) => ({ s: out.states[i]!.s, z: out.states[i]!.z }),
    newMaskOnly: true,
  },
  // Performer: S [rows, H, m, D], z [rows, H, m] and the key stabiliser c [rows, H] they are scaled by.
  stabilisedSums: {
    parts: {
      s: { shape: (d) => [d.heads, d.features, d.headSize] }, z: { shape: (d) => [d.heads, d.features] },
      c: { shape: (d) => [d.heads], fill: EMPTY_STABILISER },
    },
    inputs: (p) => ({ states: [{ s: p.s!, z: p.z!, c: p.c! }] }),
    outputs: (out, i) => ({ s: out.states[i]!.s, z: out.states[i]!.z, c: out.states[i]!.c! }),
    newMaskOnly: true,
  },
} satisfies Record<string, StateKind>;

/** The state each attention kind decodes with. */
const STATE_OF_KIND = { softmax: STATES.cache, performer: STATES.stabilisedSums, linear: STATES.sums } satisfies Record<AttentionKind, StateKind>;

/** Steps with at most this many new tokens in all rows run on the single-token session. */
const SMALL_STEP_TOKENS = 1;

/** int64 [rows, n] feed from equal-length rows of ids. */
export function int64(rows: number[][]): HostTensor {
  const n = rows[0]?.length ?? 0;
  const data = new BigInt64Array(rows.length * n);
  rows.forEach((r, i) => r.forEach((v, j) => (data[i * n + j] = BigInt(v))));
  return { dtype: 'int64', shape: [rows.length, n], data };
}

/** int64 [n] feed. */
export function int64Vector(values: number[]): HostTensor {
  return { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map(BigInt)) };
}

/** How many positions of a host cache buffer some state has filled (appends happen in place). */
const FILLED = new WeakMap<object, number>();

/**
 * Slots of an empty host KV cache: never 0, so the prompt step's product over the past slots is not
 * a product over an empty axis (which some ORT backends have got wrong); masked like any spare slot.
 */
export const INITIAL_CACHE_SLOTS = 64;

/** An empty host KV cache buffer [rows, heads, INITIAL_CACHE_SLOTS, size] (zeros, all spare). */
export function emptyCache(rows: number, heads: number, size: number): HostTensor {
  return { dtype: 'float32', shape: [rows, heads, INITIAL_CACHE_SLOTS, size], data: new Float32Array(rows * heads * INITIAL_CACHE_SLOTS * size) };
}

/**
 * The host KV cache after a step: `fresh` [rows, H, seq, D] written at positions past..past+seq-1 of
 * `buffer` [rows, H, capacity, D], in place. When it does not fit, a new buffer with 1/8 spare (in
 * multiples of 64 positions) takes the filled part: growth copies stay amortised, masked spare
 * slots cheap. A buffer another step already extended (a state continued twice) is copied first,
 * so every state keeps its own positions.
 */
export function appendToCache(buffer: HostTensor, fresh: HostTensor, past: number): HostTensor {
  const [rows, heads, capacity, size] = buffer.shape as number[];
  const seq = fresh.shape[2]!;
  let target = buffer;
  if (past + seq > capacity! || (FILLED.get(buffer.data) ?? past) > past) {
    const grown = Math.ceil(((past + seq) * 9) / 8 / 64) * 64;
    target = { dtype: 'float32', shape: [rows!, heads!, grown, size!], data: new Float32Array(rows! * heads! * grown * size!) };
    const from = buffer.data as Float32Array, to = target.data as Float32Array;
    for (let rh = 0; rh < rows! * heads!; rh++) to.set(from.subarray(rh * capacity! * size!, (rh * capacity! + past) * size!), rh * grown * size!);
  }
  const cap = target.shape[2]!, src = fresh.data as Float32Array, to = target.data as Float32Array;
  for (let rh = 0; rh < rows! * heads!; rh++) to.set(src.subarray(rh * seq * size!, (rh + 1) * seq * size!), (rh * cap + past) * size!);
  FILLED.set(target.data, past + seq);
  return target;
}

/** Every layer's cache parts after a step: the step's outputs `present_<part>_<layer>` appended at `past`. */
export function appendPresent(cache: Record<string, HostTensor>[], out: Record<string, HostTensor>, past: number): Record<string, HostTensor>[] {
  return cache.map((l, i) => Object.fromEntries(Object.entries(l).map(([p, t]) => [p, appendToCache(t, out[`present_${p}_${i}`]!, past)])));
}

/** [rows][past + seq] per-position values (a mask) over a cache of `capacity` slots: the spare slots past..capacity-1 get `fill`. */
export function overCapacity(rows: number[][], past: number, capacity: number, fill = 0): number[][] {
  if (capacity === past) return rows;
  const spare = Array<number>(capacity - past).fill(fill);
  return rows.map((r) => [...r.slice(0, past), ...spare, ...r.slice(past)]);
}

/** The slots of a host KV cache state (its buffers' capacity; 0 for an empty state). */
export function cacheCapacity(state: DecoderState): number {
  return Object.values(state.cache[0] ?? {})[0]?.shape[2] ?? 0;
}

/** `state` with row r taken from row index[r]; the same state when `index` is the identity. */
export function reorderRows(state: DecoderState, index: number[]): DecoderState {
  const rows = state.cache[0] ? Object.values(state.cache[0])[0]!.shape[0]! : index.length;
  if (index.length === rows && index.every((src, r) => src === r)) return state;
  index.forEach((src, r) => {
    if (!(Number.isInteger(src) && src >= 0 && src < rows)) throw new RangeError(`cacheIndex[${r}] is ${src}; values must be in 0..${rows - 1}, the rows of the state`);
  });
  const take = (t: HostTensor): HostTensor => {
    const src = t.data as Float32Array, size = src.length / rows;
    const data = new Float32Array(index.length * size);
    index.forEach((s, r) => data.set(src.subarray(s * size, (s + 1) * size), r * size));
    return { dtype: t.dtype, shape: [index.length, ...t.shape.slice(1)], data };
  };
  return { cache: state.cache.map((l) => Object.fromEntries(Object.entries(l).map(([p, t]) => [p, take(t)]))), past: state.past };
}

/** GPT-2 / CPM-LM as an IncrementalLM over a parameter store (weights baked into the session). */
export class GPT2Decoder implements IncrementalLM {
  private exe?: Promise<Executable>;
  private smallExe?: Promise<Executable>;
  readonly vocabSize: number;
  readonly maxPosition: number;
  private readonly headSize: number;
  /** Past the external-data threshold: one session only (a second would map a second copy). */
  private readonly big: boolean;

  private readonly state: StateKind;
  private readonly dims: StateDims;

  constructor(readonly store: ParamStore, readonly config: GPT2Config, private readonly runtime: DecoderRuntimeOptions = {}, readonly attention?: AttentionSpec) {
    this.vocabSize = config.vocabSize;
    const kind = attention?.kind ?? 'softmax';
    this.state = STATE_OF_KIND[kind];
    // Linear attention's features are the head's own D (elu + 1), performer's m.
    const features = kind === 'linear' ? config.hiddenSize / config.numHeads : attention?.features ?? DEFAULT_FEATURES;
    this.maxPosition = config.maxPosition;
    this.headSize = config.hiddenSize / config.numHeads;
    this.dims = { heads: config.numHeads, headSize: this.headSize, features };
    let bytes = 0;
    for (const v of store.values.values()) bytes += v.data.byteLength;
    this.big = bytes >= (runtime.externalDataThreshold ?? 1.5e9);
  }

  /**
   * The step graph (also usable for export; with the KV cache, `past_*` are the host buffers'
   * slots, masked where spare, and `present_*` only the new positions' keys/values, which a consumer
   * appends itself).
   */
  buildGraph(): { outputs: Record<string, Tensor> } {
    const c = this.config;
    const ids = input('input_ids', 'int64', ['batch', 'seq']);
    const positions = input('position_ids', 'int64', ['batch', 'seq']);
    const mask = input('attention_mask', 'int64', ['batch', this.state.newMaskOnly ? 'seq' : 'past+seq']);
    const cache: LayerCache[] = [];
    const states: RunningSums[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const parts = Object.fromEntries(Object.entries(this.state.parts).map(([p, { shape }]) => [p, input(`past_${p}_${i}`, 'float32', ['batch', ...shape(this.dims)])]));
      const layer = this.state.inputs(parts);
      cache.push(...(layer.cache ?? []));
      states.push(...(layer.states ?? []));
    }
    // Only the last position's logits leave the graph: the head is the largest matmul per token.
    const out = gpt2(new Scope(this.store), c, {
      ids, positionIds: positions, attentionMask: mask, lastPositionOnly: true, attention: this.attention,
      ...(this.state.newMaskOnly ? { states, past: 0 } : { cache, past: 'past' }),
    });
    const outputs: Record<string, Tensor> = { logits: reshape(out.logits, ['batch', c.vocabSize]) };
    for (let i = 0; i < c.numLayers; i++) for (const [p, t] of Object.entries(this.state.outputs(out, i))) outputs[`present_${p}_${i}`] = t;
    return { outputs };
  }

  /**
   * Two sessions over the same graph: the prompt pass and batched steps are compute-bound and use
   * every thread; a single-token step is a GEMV that one thread already runs at memory bandwidth,
   * where a second thread only adds synchronisation (measured: 22 vs 35 ms per GPT-2-small token).
   */
  private executable(tokens: number): Promise<Executable> {
    // A model past the external-data threshold gets one session: a second would map a second copy.
    const small = tokens <= SMALL_STEP_TOKENS && !this.big;
    const make = (runtime: RuntimeOptions) => compile(this.buildGraph().outputs, { params: 'initializers', paramValue: (n) => this.store.get(n), name: 'gpt2_step' }, runtime);
    if (small) return (this.smallExe ??= make({ ...this.runtime, threads: this.runtime.decodeThreads ?? 1 }));
    return (this.exe ??= make(this.runtime));
  }

  initialState(rows: number): DecoderState {
    const part = ({ shape, fill = 0 }: StateKind['parts'][string]): HostTensor => {
      const dims = [rows, ...shape(this.dims).map((d) => (d === 'past' ? INITIAL_CACHE_SLOTS : d))];
      return { dtype: 'float32', shape: dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill) };
    };
    const layer = () => Object.fromEntries(Object.entries(this.state.parts).map(([p, spec]) => [p, part(spec)]));
    return { cache: Array.from({ length: this.config.numLayers }, layer), past: 0 };
  }

  async step(inp: StepInput, state: DecoderState): Promise<{ logits: Float32Array; state: DecoderState }> {
    const rows = inp.ids.length, seq = inp.ids[0]!.length;
    const exe = await this.executable(rows * seq);
    state = reorderRows(state, inp.cacheIndex);
    const capacity = this.state.appends ? cacheCapacity(state) : state.past;
    const mask = this.state.newMaskOnly ? inp.attentionMask.map((r) => r.slice(r.length - seq)) : overCapacity(inp.attentionMask, state.past, capacity);
    const feeds: Record<string, HostTensor> = { input_ids: int64(inp.ids), position_ids: int64(inp.positions), attention_mask: int64(mask) };
    state.cache.forEach((l, i) => { for (const [p, t] of Object.entries(l)) feeds[`past_${p}_${i}`] = t; });
    const out = await exe.run(feeds);
    const cache = this.state.appends
      ? appendPresent(state.cache, out, state.past)
      : state.cache.map((l, i) => Object.fromEntries(Object.keys(l).map((p) => [p, out[`present_${p}_${i}`]!])));
    return { logits: out.logits!.data as Float32Array, state: { cache, past: state.past + seq } };
  }
}

