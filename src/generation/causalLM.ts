/**
 * A causal LM as a step function for incremental decoding: one graph serves the prompt pass and
 * every later step. It takes the new tokens, their positions, the attention mask over past+new
 * positions, the previous per-layer keys/values and `cache_index` (which previous row each row
 * continues: beam search reorders rows with it, inside the graph), and returns the logits of the
 * last position and the new cache.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { gather, input, reshape } from '../graph/ops.ts';
import type { Tensor } from '../graph/tensor.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { gpt2, type GPT2Config, type LayerCache } from '../models/gpt2.ts';
import { compile, type Executable, type RuntimeOptions } from '../runtime/session.ts';

export interface DecoderState {
  /** Per layer: keys and values [rows, heads, past, headSize]. */
  cache: { k: HostTensor; v: HostTensor }[];
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

/** GPT-2 / CPM-LM as an IncrementalLM over a parameter store (weights baked into the session). */
export class GPT2Decoder implements IncrementalLM {
  private exe?: Promise<Executable>;
  private smallExe?: Promise<Executable>;
  readonly vocabSize: number;
  readonly maxPosition: number;
  private readonly headSize: number;
  /** Past the external-data threshold: one session only (a second would map a second copy). */
  private readonly big: boolean;

  constructor(readonly store: ParamStore, readonly config: GPT2Config, private readonly runtime: DecoderRuntimeOptions = {}) {
    this.vocabSize = config.vocabSize;
    this.maxPosition = config.maxPosition;
    this.headSize = config.hiddenSize / config.numHeads;
    let bytes = 0;
    for (const v of store.values.values()) bytes += v.data.byteLength;
    this.big = bytes >= (runtime.externalDataThreshold ?? 1.5e9);
  }

  /** The step graph (also usable for export). */
  buildGraph(): { outputs: Record<string, Tensor> } {
    const c = this.config;
    const ids = input('input_ids', 'int64', ['batch', 'seq']);
    const positions = input('position_ids', 'int64', ['batch', 'seq']);
    const mask = input('attention_mask', 'int64', ['batch', 'past+seq']);
    const cacheIndex = input('cache_index', 'int64', ['batch']);
    const cache: LayerCache[] = [];
    for (let i = 0; i < c.numLayers; i++) {
      const shape = ['rows', c.numHeads, 'past', this.headSize];
      cache.push({ k: gather(input(`past_k_${i}`, 'float32', shape), cacheIndex), v: gather(input(`past_v_${i}`, 'float32', shape), cacheIndex) });
    }
    // Only the last position's logits leave the graph: the head is the largest matmul per token.
    const out = gpt2(new Scope(this.store), c, { ids, positionIds: positions, attentionMask: mask, cache, past: 'past', lastPositionOnly: true });
    const outputs: Record<string, Tensor> = { logits: reshape(out.logits, ['batch', c.vocabSize]) };
    out.cache.forEach((l, i) => { outputs[`present_k_${i}`] = l.k; outputs[`present_v_${i}`] = l.v; });
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
    const empty = (): HostTensor => ({ dtype: 'float32', shape: [rows, this.config.numHeads, 0, this.headSize], data: new Float32Array(0) });
    return { cache: Array.from({ length: this.config.numLayers }, () => ({ k: empty(), v: empty() })), past: 0 };
  }

  async step(inp: StepInput, state: DecoderState): Promise<{ logits: Float32Array; state: DecoderState }> {
    const exe = await this.executable(inp.ids.length * inp.ids[0]!.length);
    const feeds: Record<string, HostTensor> = {
      input_ids: int64(inp.ids),
      position_ids: int64(inp.positions),
      attention_mask: int64(inp.attentionMask),
      cache_index: int64Vector(inp.cacheIndex),
    };
    state.cache.forEach((l, i) => { feeds[`past_k_${i}`] = l.k; feeds[`past_v_${i}`] = l.v; });
    const out = await exe.run(feeds);
    const cache = state.cache.map((_, i) => ({ k: out[`present_k_${i}`]!, v: out[`present_v_${i}`]! }));
    return { logits: out.logits!.data as Float32Array, state: { cache, past: state.past + inp.ids[0]!.length } };
  }
}

