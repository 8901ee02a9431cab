/**
 * Encoder-decoder (T5, T5.1.1, mT5) incremental decoding. The encoder runs once per input; each
 * decoder layer's cross-attention keys/values are projected once and fed back every step; the
 * self-attention cache grows by one position per step, on the host as GPT-2's (causalLM.ts: buffers
 * with spare capacity, the new keys/values appended, rows reordered on the host for beam search).
 * `encoder_index` says which input each row decodes (beam search and n samples per input make several
 * rows per input): a gather of the cross keys/values inside the graph.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { gather, input, reshape, slice } from '../graph/ops.ts';
import { dimSub, type Tensor } from '../graph/tensor.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import type { AttentionSpec } from '../nn/attention.ts';
import { t5Decoder, t5Encoder, type LayerCache, type T5Config } from '../models/t5.ts';
import { compile, type Executable, type RuntimeOptions } from '../runtime/session.ts';
import { appendPresent, cacheCapacity, emptyCache, int64, int64Vector, overCapacity, reorderRows, type DecoderRuntimeOptions, type DecoderState, type IncrementalLM, type StepInput } from './causalLM.ts';

interface Seq2SeqState extends DecoderState {
  /** Per layer cross keys/values of the inputs, [inputs, H, S, dKv]. */
  cross: { k: HostTensor; v: HostTensor }[];
  /** For each row, the input it decodes. */
  encoderRow: number[];
}

export class T5Seq2Seq {
  private encodeExe?: Promise<Executable>;
  private stepExe?: Promise<Executable>;
  private smallStepExe?: Promise<Executable>;
  private readonly headSize: number;

  /** `attention`: the encoder self-attention's kind (the model's `attention` option; the decoder keeps softmax). */
  constructor(readonly store: ParamStore, readonly config: T5Config, private readonly runtime: DecoderRuntimeOptions = {}, readonly attention?: AttentionSpec) {
    this.headSize = config.dKv;
  }

  /** Encoder + cross-attention projections of every decoder layer, run once per batch of inputs. */
  private encoderGraph(): Record<string, Tensor> {
    const c = this.config;
    const ids = input('input_ids', 'int64', ['inputs', 'src']);
    const mask = input('attention_mask', 'int64', ['inputs', 'src']);
    const scope = new Scope(this.store);
    const hidden = t5Encoder(scope, c, { inputIds: ids, attentionMask: mask }, this.attention ? { attention: this.attention } : {});
    // A one-token decoder pass projects every layer's cross keys/values from the encoder output.
    const dummy = reshape(slice(ids, 1, 0, 1), ['inputs', 1]);
    const { crossKv } = t5Decoder(scope, c, { decoderInputIds: dummy, encoderHidden: hidden, encoderAttentionMask: mask });
    const out: Record<string, Tensor> = {};
    crossKv.forEach((l, i) => { out[`cross_k_${i}`] = l.k; out[`cross_v_${i}`] = l.v; });
    return out;
  }

  /** One decoder step over rows (the prompt pass too: then `past` is 0). */
  stepGraph(): Record<string, Tensor> {
    const c = this.config;
    const ids = input('decoder_input_ids', 'int64', ['batch', 'seq']);
    const decoderMask = input('decoder_attention_mask', 'int64', ['batch', 'past+seq']);
    const encoderMask = input('attention_mask', 'int64', ['inputs', 'src']);
    const encoderIndex = input('encoder_index', 'int64', ['batch']);
    const pastLength = input('past_length', 'int64', [1]);
    const selfCache: LayerCache[] = [];
    const crossKv: LayerCache[] = [];
    for (let i = 0; i < c.numDecoderLayers; i++) {
      const past = ['batch', c.numHeads, 'past', this.headSize];
      const cross = ['inputs', c.numHeads, 'src', this.headSize];
      selfCache.push({ k: input(`past_k_${i}`, 'float32', past), v: input(`past_v_${i}`, 'float32', past), append: 'host' });
      crossKv.push({ k: gather(input(`cross_k_${i}`, 'float32', cross), encoderIndex), v: gather(input(`cross_v_${i}`, 'float32', cross), encoderIndex) });
    }
    const out = t5Decoder(new Scope(this.store), c, {
      decoderInputIds: ids, decoderAttentionMask: decoderMask, encoderAttentionMask: gather(encoderMask, encoderIndex),
      selfCache, crossKv, past: 'past', pastLength,
    });
    const last = slice(out.logits, 1, dimSub('seq', 1), 'seq');
    const outputs: Record<string, Tensor> = { logits: reshape(last, ['batch', c.vocabSize]) };
    out.selfCache.forEach((l, i) => { outputs[`present_k_${i}`] = l.k; outputs[`present_v_${i}`] = l.v; });
    return outputs;
  }

  private compileOnce(graph: () => Record<string, Tensor>, name: string, runtime: RuntimeOptions = this.runtime): Promise<Executable> {
    return compile(graph(), { params: 'initializers', paramValue: (n) => this.store.get(n), name }, runtime);
  }

  /**
   * Encode `inputs` (token ids per input, unpadded) and return a decoder for them. Prompts given
   * to the decoding strategies are decoder prompts (usually `[decoderStartTokenId]`), one per input
   * in the same order; strategies that make several rows per input (n samples) keep them together.
   */
  async encode(inputs: number[][]): Promise<IncrementalLM> {
    if (inputs.length === 0) throw new Error('no inputs to encode');
    const c = this.config;
    for (const [i, seq] of inputs.entries()) {
      if (seq.length === 0) throw new Error(`input ${i} is empty`);
      for (const id of seq) if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) throw new Error(`input ${i} has id ${id} outside the vocabulary [0, ${c.vocabSize})`);
    }
    const len = Math.max(...inputs.map((s) => s.length));
    const ids = inputs.map((s) => [...s, ...Array(len - s.length).fill(c.padTokenId)]);
    const mask = inputs.map((s) => [...Array(s.length).fill(1), ...Array(len - s.length).fill(0)]);
    const encoderMask = int64(mask);
    this.encodeExe ??= this.compileOnce(() => this.encoderGraph(), 't5_encoder');
    const out = await (await this.encodeExe).run({ input_ids: int64(ids), attention_mask: encoderMask });
    const cross = Array.from({ length: c.numDecoderLayers }, (_, i) => ({ k: out[`cross_k_${i}`]!, v: out[`cross_v_${i}`]! }));
    // As for GPT-2: single-token steps are GEMVs that one thread runs at memory bandwidth.
    this.stepExe ??= this.compileOnce(() => this.stepGraph(), 't5_decoder_step');
    const stepFor = (tokens: number) => (tokens <= 1 ? (this.smallStepExe ??= this.compileOnce(() => this.stepGraph(), 't5_decoder_step', { ...this.runtime, threads: this.runtime.decodeThreads ?? 1 })) : this.stepExe!);
    const B = inputs.length;
    const headSize = this.headSize;
    return {
      vocabSize: c.vocabSize,
      // Relative positions: no learned position table bounds the length.
      maxPosition: Number.MAX_SAFE_INTEGER,
      initialState(rows: number): Seq2SeqState {
        if (rows % B !== 0) throw new Error(`${rows} decoder rows for ${B} inputs`);
        const empty = () => emptyCache(rows, c.numHeads, headSize);
        return {
          cache: Array.from({ length: c.numDecoderLayers }, () => ({ k: empty(), v: empty() })), past: 0, cross,
          encoderRow: Array.from({ length: rows }, (_, r) => Math.floor((r * B) / rows)),
        };
      },
      async step(inp: StepInput, state: DecoderState) {
        const s = state as Seq2SeqState;
        const encoderRow = inp.cacheIndex.map((src) => s.encoderRow[src]!);
        const reordered = reorderRows(s, inp.cacheIndex);
        const feeds: Record<string, HostTensor> = {
          decoder_input_ids: int64(inp.ids), decoder_attention_mask: int64(overCapacity(inp.attentionMask, s.past, cacheCapacity(reordered))), attention_mask: encoderMask,
          encoder_index: int64Vector(encoderRow), past_length: int64Vector([s.past]),
        };
        reordered.cache.forEach((l, i) => { feeds[`past_k_${i}`] = l.k!; feeds[`past_v_${i}`] = l.v!; });
        s.cross.forEach((l, i) => { feeds[`cross_k_${i}`] = l.k; feeds[`cross_v_${i}`] = l.v; });
        const r = await (await stepFor(inp.ids.length * inp.ids[0]!.length)).run(feeds);
        const next: Seq2SeqState = { cache: appendPresent(reordered.cache, r, s.past), past: s.past + inp.ids[0]!.length, cross: s.cross, encoderRow };
        return { logits: r.logits!.data as Float32Array, state: next };
      },
    };
  }
}
