/**
 * The models a server holds, and what each can do. A model directory (config + checkpoint +
 * tokenizer, as `buildModel(dir)` and `loadTokenizer(dir)` read it) becomes a `ServedModel` whose
 * capabilities follow its family and heads:
 *
 *   GPT-2 / CPM-LM            completions
 *   T5 / T5.1.1 / mT5         completions (the prompt is the encoder input)
 *   BERT family, MLM head     fill-mask, embeddings
 *   BERT family, classifier   classify, embeddings (a saved classifier, or a `*ForSequenceClassification` config)
 *   BERT family, bare encoder embeddings
 *
 * and every model tokenizes. Batched work (embeddings, fill-mask, classify) pads the rows of a batch
 * to the longest and runs them in one ORT call.
 */
import { basename } from 'node:path';
import { buildModel, inferFamily, readConfigFile, type Model } from '../models/build.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import type { Tokenizer } from '../tokenizers/types.ts';
import { generatorFor } from '../generation/forModel.ts';
import type { IncrementalLM } from '../generation/causalLM.ts';
import { HttpError } from './http.ts';
import { BERT_FAMILIES } from '../models/bert.ts';
import { GPT2_FAMILIES } from '../models/gpt2Family.ts';
import { T5_FAMILIES } from '../models/t5.ts';

export type Capability = 'tokenize' | 'embeddings' | 'fill-mask' | 'classify' | 'completions';


export interface EncodedRow {
  ids: number[];
  segments: number[];
}

export class ServedModel {
  readonly capabilities = new Set<Capability>(['tokenize']);
  /** Label names when the model classifies. */
  labels?: string[];

  private constructor(readonly id: string, readonly dir: string, readonly model: Model, readonly tokenizer: Tokenizer) {}

  /** Loads `dir`; `id` defaults to the directory's name. */
  static async load(dir: string, id = basename(dir.replace(/\/+$/, ''))): Promise<ServedModel> {
    const { raw: config, file } = readConfigFile(dir);
    const family = inferFamily(config, file);
    const tokenizer = await loadTokenizer(dir);
    // A saved directory rebuilds its own application and head; an HF *ForSequenceClassification
    // config loads as a classifier with its labels.
    let model = buildModel(dir, { checkpoint: dir });
    if (BERT_FAMILIES.includes(family) && !model.labels && model.application === 'encoder') {
      // Serve fill-mask when the checkpoint has a trained MLM head (a fresh one would predict noise).
      try {
        const mlm = buildModel(dir, { checkpoint: dir, application: 'mlm' });
        if (mlm.loadReport?.missingOptional.every((n) => n.includes('pooler'))) model = mlm;
      } catch {
        /* no MLM head in this checkpoint: a bare encoder, for embeddings */
      }
    }
    const labels = model.application === 'encoder' && model.outputs.logits ? model.labels : undefined;
    const served = new ServedModel(id, dir, model, tokenizer);
    served.labels = labels;
    if (GPT2_FAMILIES.includes(family) || T5_FAMILIES.includes(family)) served.capabilities.add('completions');
    if (BERT_FAMILIES.includes(family)) served.capabilities.add('embeddings');
    if (model.application === 'mlm') served.capabilities.add('fill-mask');
    if (labels) served.capabilities.add('classify');
    return served;
  }

  require(c: Capability): void {
    if (!this.capabilities.has(c)) throw new HttpError(400, `model '${this.id}' (${this.model.family}, ${this.model.application}) cannot do ${c}; it can: ${[...this.capabilities].join(', ')}`);
  }

  /**
   * Encodes a text (or takes ids) within the model's length, refusing longer inputs with 400. The
   * mask token written in the text (e.g. `[MASK]`) becomes the mask id, as fill-mask users expect.
   */
  encode(input: string | number[], maxTokens: number, what: string): EncodedRow {
    let ids: number[], segments: number[];
    const mask = this.tokenizer.specialTokens.mask;
    if (typeof input === 'string' && mask && this.tokenizer.framing === 'bert' && input.includes(mask.token)) {
      const { cls, sep } = this.tokenizer.specialTokens;
      const pieces = input.split(mask.token).map((p) => this.tokenizer.encode(p, undefined, { addSpecialTokens: false }).ids);
      ids = [...(cls ? [cls.id] : []), ...pieces.flatMap((p, i) => (i ? [mask.id, ...p] : p)), ...(sep ? [sep.id] : [])];
      segments = ids.map(() => 0);
    } else if (typeof input === 'string') ({ ids, segments } = this.tokenizer.encode(input));
    else {
      for (const id of input) if (!Number.isInteger(id) || id < 0 || id >= this.tokenizer.vocabSize) throw new HttpError(400, `${what}: token id ${id} is outside the vocabulary [0, ${this.tokenizer.vocabSize})`);
      ids = input;
      segments = input.map(() => 0);
    }
    const limit = Math.min(maxTokens, this.model.maxTokens ?? Infinity);
    if (ids.length === 0) throw new HttpError(400, `${what} is empty`);
    if (ids.length > limit) throw new HttpError(400, `${what} has ${ids.length} tokens; this model takes at most ${limit}`);
    return { ids, segments };
  }

  /** One padded ORT call over rows; returns the outputs with the batch's row lengths. */
  async run(rows: EncodedRow[], outputs: string[]) {
    const width = Math.max(...rows.map((r) => r.ids.length));
    const pad = this.tokenizer.specialTokens.pad?.id ?? 0;
    const padded = (f: (r: EncodedRow) => number[], fill: number) => rows.map((r) => [...f(r), ...new Array(width - r.ids.length).fill(fill)]);
    const feeds: Record<string, number[][]> = { input_ids: padded((r) => r.ids, pad), attention_mask: padded((r) => r.ids.map(() => 1), 0) };
    if (this.model.inputs.token_type_ids) feeds.token_type_ids = padded((r) => r.segments, 0);
    return this.model.predict(feeds, { outputs });
  }

  /** A KV-cached decoder for one prompt, with the ids that end generation. */
  async generator(prompt: number[]): Promise<{ lm: IncrementalLM; prompt: number[]; endIds: number[] }> {
    const g = await generatorFor(this.model, prompt);
    const eos = this.tokenizer.specialTokens.eos ?? this.tokenizer.specialTokens.eod;
    const endIds = [...g.endIds];
    if (eos && eos.id < g.lm.vocabSize && !endIds.includes(eos.id)) endIds.push(eos.id);
    return { ...g, endIds };
  }
}
