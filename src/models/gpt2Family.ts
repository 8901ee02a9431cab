/**
 * GPT-2 (and CPM-LM) under the family contract: config from Hugging Face `config.json` or OpenAI's
 * `hparams.json`, the `lm` application over src/models/gpt2.ts, and weight maps for Hugging Face
 * names (Conv1D kernels already [in, out]; the fused c_attn [C, 3C] split into q, k, v) and OpenAI's
 * TF names (`model/h0/attn/c_attn/w` [1, C, 3C]).
 */
import { crossEntropy } from '../graph/composite.ts';
import { input, slice } from '../graph/ops.ts';
import { GraphError, dimSub, type Tensor } from '../graph/tensor.ts';
import type { Scope } from '../nn/params.ts';
import { parseActivation } from './bert.ts';
import { ConfigError, readConfig } from './config.ts';
import type { BuildOptions, BuiltGraph, FamilyDefinition, ModelInputs, Naming, WeightMapping } from './family.ts';
import { gpt2, type GPT2Config } from './gpt2.ts';

const HF_KEYS = [
  'vocab_size', 'n_positions', 'n_ctx', 'n_embd', 'n_layer', 'n_head', 'n_inner', 'activation_function',
  'resid_pdrop', 'embd_pdrop', 'attn_pdrop', 'layer_norm_epsilon', 'scale_attn_weights',
  'scale_attn_by_inverse_layer_idx', 'reorder_and_upcast_attn', 'summary_type', 'summary_use_proj',
  'summary_activation', 'summary_proj_to_labels', 'summary_first_dropout', 'n_special', 'predict_special_tokens',
];
const OPENAI_KEYS = ['n_vocab', 'n_ctx', 'n_embd', 'n_head', 'n_layer'];

export function parseGpt2Config(raw: Record<string, unknown>, source = 'config'): GPT2Config {
  const openai = 'n_vocab' in raw; // OpenAI's hparams.json
  const c = readConfig(raw, openai ? OPENAI_KEYS : HF_KEYS, source);
  if (c.optional('scale_attn_weights') === false) throw new ConfigError(`${source}: scale_attn_weights false is not supported`);
  if (c.optional('scale_attn_by_inverse_layer_idx') === true) throw new ConfigError(`${source}: scale_attn_by_inverse_layer_idx is not supported`);
  const hiddenSize = c.int('n_embd');
  const numHeads = c.int('n_head');
  if (hiddenSize % numHeads !== 0) throw new ConfigError(`${source}: n_embd ${hiddenSize} is not divisible by n_head ${numHeads}`);
  return {
    vocabSize: c.int(openai ? 'n_vocab' : 'vocab_size'),
    hiddenSize,
    numLayers: c.int('n_layer'),
    numHeads,
    intermediateSize: c.int('n_inner', 4 * hiddenSize),
    maxPosition: openai ? c.int('n_ctx') : c.int('n_positions', c.int('n_ctx', 1024)),
    layerNormEpsilon: c.number('layer_norm_epsilon', 1e-5),
    dropout: c.number('resid_pdrop', 0.1),
    activation: parseActivation(c.optional('activation_function') ?? 'gelu_new', `${source}: activation_function`),
  };
}

function effectiveConfig(c: GPT2Config, o: BuildOptions): GPT2Config {
  if (o.hierarchicalPosition) throw new GraphError('gpt2', 'hierarchicalPosition is only implemented for the BERT-shaped families');
  if (o.attentionKeySize !== undefined) throw new GraphError('gpt2', 'attentionKeySize is not supported for GPT-2');
  if (o.withPool || o.withNsp || o.numClasses !== undefined) throw new GraphError('gpt2', 'GPT-2 has no pooler, NSP or classifier head');
  return {
    ...c,
    vocabSize: o.keepTokens?.length ?? c.vocabSize,
    dropout: o.dropoutRate ?? c.dropout,
  };
}

/**
 * The `lm` graph. `given` tensors stand in for graph inputs of the same name; `inputs_embeds`
 * (B, T, C) replaces the token-embedding lookup, and without a given `input_ids` the graph then
 * takes no ids at all (Hugging Face's inputs_embeds).
 */
export function buildGpt2(scope: Scope, c: GPT2Config, application: string, o: BuildOptions, given: ModelInputs = {}): BuiltGraph {
  if (application !== 'lm') throw new GraphError('gpt2', `unknown application '${application}' (GPT-2 supports: lm)`);
  const embeds = given.inputs_embeds;
  const ids = given.input_ids ?? (embeds ? undefined : input('input_ids', 'int64', ['batch', 'seq']));
  const attentionMask = given.attention_mask ?? input('attention_mask', 'int64', ['batch', 'seq']);
  const out = gpt2(scope, effectiveConfig(c, o), { ids, inputsEmbeds: embeds, attentionMask, attention: o.attention });
  const inputs: ModelInputs = { ...(ids ? { input_ids: ids } : {}), ...(embeds ? { inputs_embeds: embeds } : {}), attention_mask: attentionMask };
  return { inputs, outputs: { last_hidden_state: out.hidden, logits: out.logits } };
}

/** Causal LM loss, shifted as Hugging Face does: logits at t score labels[t + 1]; -100 ignored. */
export function gpt2Loss(built: BuiltGraph, _application: string, _options?: BuildOptions, given: ModelInputs = {}): { labels: Tensor; loss: Tensor } {
  const labels = given.labels ?? input('labels', 'int64', ['batch', 'seq']);
  const logits = built.outputs.logits!;
  const seq = logits.shape[1]!;
  return { labels, loss: crossEntropy(slice(logits, 1, 0, dimSub(seq, 1)), slice(labels, 1, 1, seq)) };
}

export function gpt2WeightMap(c: GPT2Config, _application: string, naming: Naming, o: BuildOptions): WeightMapping[] {
  const C = c.hiddenSize;
  const hf = naming === 'hf';
  const p = hf ? 'transformer.' : 'model/';
  const sep = hf ? '.' : '/';
  const w = hf ? 'weight' : 'w';
  const b = hf ? 'bias' : 'b';
  const g = hf ? 'weight' : 'g';
  const rows = o.keepTokens ? { rows: o.keepTokens } : {};
  const map: WeightMapping[] = [
    { ours: 'wte', theirs: hf ? `${p}wte.weight` : `${p}wte`, ...rows },
    { ours: 'wpe', theirs: hf ? `${p}wpe.weight` : `${p}wpe` },
  ];
  // OpenAI kernels are [1, in, out] (1x1 convolutions): reshape to our [in, out].
  const kernel = (ours: string, theirs: string, sliceOf?: { axis: number; start: number; end: number }): WeightMapping => ({
    ours, theirs, ...(hf ? {} : { reshape: true }), ...(sliceOf ? { slice: sliceOf } : {}),
  });
  for (let i = 0; i < c.numLayers; i++) {
    const h = hf ? `${p}h.${i}` : `${p}h${i}`;
    const ours = `h${i}`;
    for (const ln of ['ln_1', 'ln_2']) {
      map.push({ ours: `${ours}/${ln}/gamma`, theirs: `${h}${sep}${ln}${sep}${g}` }, { ours: `${ours}/${ln}/beta`, theirs: `${h}${sep}${ln}${sep}${b}` });
    }
    ['q', 'k', 'v'].forEach((name, k) => {
      const kernelAxis = hf ? 1 : 2; // the 3C axis
      map.push(
        kernel(`${ours}/attn/${name}/kernel`, `${h}${sep}attn${sep}c_attn${sep}${w}`, { axis: kernelAxis, start: k * C, end: (k + 1) * C }),
        { ours: `${ours}/attn/${name}/bias`, theirs: `${h}${sep}attn${sep}c_attn${sep}${b}`, slice: { axis: 0, start: k * C, end: (k + 1) * C } },
      );
    });
    map.push(
      kernel(`${ours}/attn/c_proj/kernel`, `${h}${sep}attn${sep}c_proj${sep}${w}`),
      { ours: `${ours}/attn/c_proj/bias`, theirs: `${h}${sep}attn${sep}c_proj${sep}${b}` },
      kernel(`${ours}/mlp/intermediate/kernel`, `${h}${sep}mlp${sep}c_fc${sep}${w}`),
      { ours: `${ours}/mlp/intermediate/bias`, theirs: `${h}${sep}mlp${sep}c_fc${sep}${b}` },
      kernel(`${ours}/mlp/output/kernel`, `${h}${sep}mlp${sep}c_proj${sep}${w}`),
      { ours: `${ours}/mlp/output/bias`, theirs: `${h}${sep}mlp${sep}c_proj${sep}${b}` },
    );
  }
  map.push({ ours: 'ln_f/gamma', theirs: `${p}ln_f${sep}${g}` }, { ours: 'ln_f/beta', theirs: `${p}ln_f${sep}${b}` });
  return map;
}

/** The GPT-2-shaped families (CPM-LM is GPT-2 with its own tokenizer). */
export const GPT2_FAMILIES: readonly string[] = ['gpt2', 'cpm'];

export const gpt2Family: FamilyDefinition<GPT2Config> & { loss: typeof gpt2Loss; maxLength(c: GPT2Config, o: BuildOptions): { tokens: number; hint?: string } } = {
  names: GPT2_FAMILIES,
  applications: ['lm'],
  parseConfig: (raw) => parseGpt2Config(raw),
  build: buildGpt2,
  weightMap: gpt2WeightMap,
  loss: gpt2Loss,
  // The maxPosition option caps the usable length; the position table keeps the config's size.
  maxLength: (c, o) => (o.maxPosition !== undefined && o.maxPosition < c.maxPosition ? { tokens: o.maxPosition, hint: 'the maxPosition option' } : { tokens: c.maxPosition }),
};
