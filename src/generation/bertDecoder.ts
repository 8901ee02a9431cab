/**
 * Incremental decoding with a BERT-shaped model trained as `lm` (causal) or `unilm` (seq2seq with
 * a prefix mask, bert4keras's UniLM): the prompt (for UniLM the source, segment 0, e.g.
 * `[CLS] source [SEP]`) runs once; generated tokens (segment 1) each add one position to the cache.
 * bert4keras recomputes the whole sequence at every step; this does not. The KV cache is kept on the
 * host as GPT-2's is (causalLM.ts): buffers with spare capacity read by the step graph as they are,
 * the new keys/values appended after each step, rows reordered on the host only for beam search.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { input, reshape } from '../graph/ops.ts';
import type { Tensor } from '../graph/tensor.ts';
import { Scope, type ParamStore } from '../nn/params.ts';
import { bertDecoderStep, type BertConfig, type LayerCache } from '../models/bert.ts';
import type { BuildOptions } from '../models/family.ts';
import { compile, type Executable } from '../runtime/session.ts';
import { appendPresent, cacheCapacity, emptyCache, int64, overCapacity, reorderRows, type DecoderRuntimeOptions, type DecoderState, type IncrementalLM, type StepInput } from './causalLM.ts';

interface BertState extends DecoderState {
  /** Per row: visibility index of every position so far. */
  visibility: number[][];
}

export class BertDecoder implements IncrementalLM {
  readonly vocabSize: number;
  readonly maxPosition: number;
  private exe?: Promise<Executable>;
  private readonly headSize: number;
  private readonly positionOffset: number;

  constructor(
    readonly store: ParamStore,
    readonly config: BertConfig,
    readonly application: 'lm' | 'unilm',
    readonly options: BuildOptions = {},
    private readonly runtime: DecoderRuntimeOptions = {},
  ) {
    this.vocabSize = options.keepTokens?.length ?? config.vocabSize;
    // RoBERTa numbers positions from pad_token_id + 1.
    this.positionOffset = config.family === 'roberta' ? config.padTokenId + 1 : 0;
    this.maxPosition = (options.maxPosition ?? config.maxPosition) - this.positionOffset;
    this.headSize = options.attentionKeySize ?? config.hiddenSize / config.numHeads;
  }

  stepGraph(): Record<string, Tensor> {
    const c = this.config;
    const cache: LayerCache[] = Array.from({ length: c.numLayers }, (_, i) => {
      const shape = ['batch', c.numHeads, 'past', this.headSize];
      return { k: input(`past_k_${i}`, 'float32', shape), v: input(`past_v_${i}`, 'float32', shape), append: 'host' };
    });
    const out = bertDecoderStep(new Scope(this.store), c, this.application, this.options, {
      ids: input('input_ids', 'int64', ['batch', 'seq']),
      tokenTypeIds: c.typeVocabSize > 1 ? input('token_type_ids', 'int64', ['batch', 'seq']) : null,
      positionIds: input('position_ids', 'int64', ['batch', 'seq']),
      attentionMask: input('attention_mask', 'int64', ['batch', 'past+seq']),
      visibility: input('visibility', 'int64', ['batch', 'past+seq']),
      cache, past: 'past',
    });
    const outputs: Record<string, Tensor> = { logits: reshape(out.logits, ['batch', this.vocabSize]) };
    out.cache.forEach((l, i) => { outputs[`present_k_${i}`] = l.k; outputs[`present_v_${i}`] = l.v; });
    return outputs;
  }

  initialState(rows: number): BertState {
    const empty = () => emptyCache(rows, this.config.numHeads, this.headSize);
    return { cache: Array.from({ length: this.config.numLayers }, () => ({ k: empty(), v: empty() })), past: 0, visibility: Array.from({ length: rows }, () => []) };
  }

  async step(inp: StepInput, state: DecoderState): Promise<{ logits: Float32Array; state: DecoderState }> {
    const s = state as BertState;
    const reordered = reorderRows(s, inp.cacheIndex);
    const prompt = s.past === 0;
    // Visibility: lm = position (causal); UniLM = 0 for the source, then 1, 2, ... for generated tokens.
    const visibility = inp.cacheIndex.map((src, r) => {
      const prev = s.visibility[src] ?? [];
      const added = inp.ids[r]!.map((_, j) => this.application === 'lm' ? inp.positions[r]![j]! : prompt ? 0 : Math.max(0, ...prev) + 1 + j);
      return [...prev, ...added];
    });
    // Spare cache slots: masked out (their visibility is never compared with a visible position).
    const capacity = cacheCapacity(reordered);
    const feeds: Record<string, HostTensor> = {
      input_ids: int64(inp.ids),
      position_ids: int64(inp.positions.map((row) => row.map((p) => p + this.positionOffset))),
      attention_mask: int64(overCapacity(inp.attentionMask, s.past, capacity)),
      visibility: int64(overCapacity(visibility, s.past, capacity)),
    };
    if (this.config.typeVocabSize > 1) feeds.token_type_ids = int64(inp.ids.map((row) => row.map(() => (this.application === 'unilm' && !prompt ? 1 : 0))));
    reordered.cache.forEach((l, i) => { feeds[`past_k_${i}`] = l.k!; feeds[`past_v_${i}`] = l.v!; });
    this.exe ??= compile(this.stepGraph(), { params: 'initializers', paramValue: (n) => this.store.get(n), name: 'bert_step' }, this.runtime);
    const out = await (await this.exe).run(feeds);
    const next: BertState = { cache: appendPresent(reordered.cache, out, s.past), past: s.past + inp.ids[0]!.length, visibility };
    return { logits: out.logits!.data as Float32Array, state: next };
  }
}
