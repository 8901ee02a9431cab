/** Incremental decoding for a built Model, by family. */
import type { Model } from '../models/build.ts';
import type { GPT2Config } from '../models/gpt2.ts';
import { GPT2_FAMILIES } from '../models/gpt2Family.ts';
import { T5_FAMILIES, type T5Config } from '../models/t5.ts';
import { GPT2Decoder, type DecoderRuntimeOptions, type IncrementalLM } from './causalLM.ts';
import { T5Seq2Seq } from './seq2seq.ts';
import { BertDecoder } from './bertDecoder.ts';
import { BERT_FAMILIES, type BertConfig } from '../models/bert.ts';



/** A decoder-only model's KV-cached decoder: GPT-2 / CPM-LM, or a BERT-shaped `lm` / `unilm`. */
export function decoderFor(model: Model, runtime: DecoderRuntimeOptions = {}): IncrementalLM {
  if (model.options.quantize) runtime = { quantize: model.options.quantize, ...runtime }; // a quantized model decodes with int8 weights
  if (GPT2_FAMILIES.includes(model.family)) {
    const c = model.config as GPT2Config;
    return new GPT2Decoder(model.store, { ...c, vocabSize: model.options.keepTokens?.length ?? c.vocabSize }, runtime, model.options.attention);
  }
  if (BERT_FAMILIES.includes(model.family)) {
    if (model.application !== 'lm' && model.application !== 'unilm') throw new Error(`a ${model.family} model generates as application 'lm' or 'unilm', not '${model.application}'`);
    return new BertDecoder(model.store, model.config as BertConfig, model.application, model.options, runtime);
  }
  throw new Error(`no incremental decoder for family '${model.family}' (T5 / mT5: use generatorFor)`);
}

/** A T5 / mT5 model's encoder-decoder generator, with the model's vocabulary, quantization and attention kind. */
export function t5GeneratorFor(model: Model): T5Seq2Seq {
  if (!T5_FAMILIES.includes(model.family)) throw new Error(`a T5 generator needs a T5 / mT5 model, not ${model.family}`);
  const c = model.config as T5Config;
  const vocabSize = model.options.keepTokens?.length ?? c.vocabSize;
  return new T5Seq2Seq(model.store, { ...c, vocabSize }, model.options.quantize ? { quantize: model.options.quantize } : {}, model.options.attention);
}

/**
 * What to decode for one input: for a causal LM the input is the prompt; for T5 the input is
 * encoded once and decoding starts from the decoder start token, ending at EOS.
 */
export async function generatorFor(model: Model, input: number[]): Promise<{ lm: IncrementalLM; prompt: number[]; endIds: number[] }> {
  if (T5_FAMILIES.includes(model.family)) {
    const c = model.config as T5Config;
    return { lm: await t5GeneratorFor(model).encode([input]), prompt: [c.decoderStartTokenId], endIds: [c.eosTokenId] };
  }
  return { lm: decoderFor(model), prompt: input, endIds: [] };
}
