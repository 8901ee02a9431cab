/** An IncrementalLM for a built Model, by family. */
import type { Model } from '../models/build.ts';
import type { GPT2Config } from '../models/gpt2.ts';
import { GPT2Decoder, type DecoderRuntimeOptions, type IncrementalLM } from './causalLM.ts';

export function decoderFor(model: Model, runtime: DecoderRuntimeOptions = {}): IncrementalLM {
  if (model.family === 'gpt2' || model.family === 'cpm') {
    const c = model.config as GPT2Config;
    return new GPT2Decoder(model.store, { ...c, vocabSize: model.options.keepTokens?.length ?? c.vocabSize }, runtime);
  }
  throw new Error(`KV-cached generation is implemented for the GPT-2 family (gpt2, CPM-LM); '${model.family}' is not supported yet`);
}
