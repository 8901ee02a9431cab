/**
 * The BERT-shaped encoders (bert4keras's BERT, ALBERT, ALBERT_Unshared, ELECTRA; RoBERTa is BERT with
 * its own position ids), one skeleton with per-family steps:
 *
 *   embeddings:  word[ids] + position[pos] + type[tt] -> LN -> Dropout   (B, T, E)
 *                (ALBERT, and ELECTRA when E != H: dense E -> H)           (B, T, H)
 *   each block (post-LN):  Att -> Dropout -> Add -> LN -> FFN -> Dropout -> Add -> LN
 *                ALBERT shares one block (per group) across all layers; albert_unshared copies it.
 *   heads:       pooler (tanh(dense(h[:, 0]))) + classifier | NSP; MLM (dense -> act -> LN -> tied
 *                embeddings + bias); ELECTRA discriminator (dense -> act -> dense to 1); RoBERTa and
 *                ELECTRA classify h[:, 0] with Hugging Face's head (dense -> tanh/gelu -> out_proj).
 *
 * Applications pick the mask and the head: `encoder` (padding mask; with numClasses a sequence
 * classifier over the pooler, or RoBERTa's / ELECTRA's head), `tagger` (token classification: dense over every position, numClasses
 * tags), `mlm`, `lm` (causal), `unilm` (bert4keras prefix mask from token_type_ids), `nsp`, and
 * ELECTRA's `discriminator` / `generator`.
 * Our weight names follow Google's checkpoints; `bertFamily.weightMap` maps them to Google and
 * Hugging Face names.
 */
import { crossEntropy } from '../graph/composite.ts';
import {
  abs, add, cast, cumsum, div, equal, exp, gather, input, lessOrEqual, log, logicalNot, matmul, maximum, mul, nonZeroIndices, range,
  reduceSum, reshape, scalar, slice, sub, transpose, where,
} from '../graph/ops.ts';
import { GraphError, dimAdd, dimSub, type Dim, type Tensor } from '../graph/tensor.ts';
import { andMasks, attention, causalAttentionMask, paddingMask, unilmMask, type LayerCache } from '../nn/attention.ts';
import { activate, dense, dropout, layerNorm, type Activation } from '../nn/layers.ts';
import { initializers, type Scope } from '../nn/params.ts';
import type { BuildOptions, BuiltGraph, FamilyDefinition, ModelInputs, Naming, WeightMapping } from './family.ts';
import { ConfigError, readConfig } from './config.ts';

export type BertFamilyName = 'bert' | 'roberta' | 'albert' | 'albert_unshared' | 'electra';

export interface BertConfig {
  family: BertFamilyName;
  vocabSize: number;
  hiddenSize: number;
  /** Embedding size E (ALBERT, ELECTRA); equals hiddenSize for BERT / RoBERTa. */
  embeddingSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  hiddenAct: Activation;
  maxPosition: number;
  typeVocabSize: number;
  layerNormEps: number;
  hiddenDropout: number;
  attentionDropout: number;
  padTokenId: number;
  /** ALBERT: layers are split into this many groups, each sharing one block. */
  numHiddenGroups: number;
}

export const BERT_APPLICATIONS = ['encoder', 'mlm', 'lm', 'unilm', 'nsp', 'discriminator', 'generator', 'tagger'];

/** Hugging Face / Google activation names -> ours. */
export function parseActivation(name: unknown, where: string): Activation {
  switch (name) {
    case 'gelu': return 'gelu';
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return 'gelu_tanh';
    case 'relu': return 'relu';
    case 'tanh': return 'tanh';
    case 'silu': case 'swish': return 'swish';
    default: throw new ConfigError(`${where}: unsupported activation ${JSON.stringify(name)} (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, tanh, silu, swish)`);
  }
}

// Keys bert_config.json / config.json carry that do not change the forward pass (or are checked below).
const BERT_KEYS = [
  'vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'hidden_act',
  'hidden_dropout_prob', 'attention_probs_dropout_prob', 'max_position_embeddings', 'type_vocab_size',
  'initializer_range', 'layer_norm_eps', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'position_embedding_type',
  'use_cache', 'classifier_dropout', 'classifier_dropout_prob', 'is_decoder', 'add_cross_attention', 'directionality',
  'pooler_fc_size', 'pooler_num_attention_heads', 'pooler_num_fc_layers', 'pooler_size_per_head', 'pooler_type',
  'embedding_size', 'num_hidden_groups', 'inner_group_num', 'net_structure_type', 'num_memory_blocks',
  'down_scale_factor', 'gap_size', 'summary_type', 'summary_use_proj', 'summary_activation', 'summary_last_dropout',
  'summary_first_dropout', 'summary_proj_to_labels', 'gradient_checkpointing', 'layer_norm_epsilon',
];

/** The BERT-shaped families: one encoder code path, told apart by config and weight names. */
export const BERT_FAMILIES: readonly string[] = ['bert', 'roberta', 'albert', 'albert_unshared', 'electra'];

export function parseBertConfig(raw: Record<string, unknown>, family: string, source = 'config'): BertConfig {
  if (!BERT_FAMILIES.includes(family)) throw new ConfigError(`${source}: '${family}' is not a BERT-shaped family`);
  const c = readConfig(raw, BERT_KEYS, source);
  const hiddenSize = c.int('hidden_size');
  const pet = c.optional('position_embedding_type');
  if (pet !== undefined && pet !== 'absolute') throw new ConfigError(`${source}: position_embedding_type '${pet}' is not supported (only 'absolute')`);
  if (c.optional('add_cross_attention') === true) throw new ConfigError(`${source}: add_cross_attention is not supported (encoder-only BERT)`);
  const inner = c.optional('inner_group_num');
  if (inner !== undefined && inner !== 1) throw new ConfigError(`${source}: inner_group_num ${inner} is not supported (every released ALBERT uses 1)`);
  const isAlbert = family === 'albert' || family === 'albert_unshared';
  const numLayers = c.int('num_hidden_layers');
  const numHiddenGroups = isAlbert ? c.int('num_hidden_groups', 1) : 1;
  if (numLayers % numHiddenGroups !== 0) throw new ConfigError(`${source}: num_hidden_layers ${numLayers} is not a multiple of num_hidden_groups ${numHiddenGroups}`);
  const numHeads = c.int('num_attention_heads');
  const config: BertConfig = {
    family: family as BertFamilyName,
    vocabSize: c.int('vocab_size'),
    hiddenSize,
    embeddingSize: family === 'bert' || family === 'roberta' ? hiddenSize : c.int('embedding_size', isAlbert ? 128 : hiddenSize),
    numLayers,
    numHeads,
    intermediateSize: c.int('intermediate_size'),
    hiddenAct: parseActivation(c.optional('hidden_act') ?? 'gelu', `${source}: hidden_act`),
    maxPosition: c.int('max_position_embeddings', 512),
    typeVocabSize: c.int('type_vocab_size', 2),
    layerNormEps: c.number('layer_norm_eps', c.number('layer_norm_epsilon', 1e-12)),
    hiddenDropout: c.number('hidden_dropout_prob', 0.1),
    attentionDropout: c.number('attention_probs_dropout_prob', 0.1),
    padTokenId: c.int('pad_token_id', family === 'roberta' ? 1 : 0),
    numHiddenGroups,
  };
  if (hiddenSize % numHeads !== 0) throw new ConfigError(`${source}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`);
  return config;
}

function checkApplication(c: BertConfig, application: string, o: BuildOptions): void {
  if (!BERT_APPLICATIONS.includes(application)) throw new GraphError(c.family, `unknown application '${application}' (supported: ${BERT_APPLICATIONS.join(', ')})`);
  if ((application === 'discriminator' || application === 'generator') && c.family !== 'electra') throw new GraphError(c.family, `application '${application}' is ELECTRA's; use 'mlm' or 'encoder'`);
  if (application === 'unilm' && c.typeVocabSize < 2) throw new GraphError(c.family, `application 'unilm' needs segment ids, but type_vocab_size is ${c.typeVocabSize}`);
  if (o.numClasses !== undefined && (!Number.isInteger(o.numClasses) || o.numClasses < 1)) throw new GraphError(c.family, `numClasses must be a positive integer, got ${o.numClasses}`);
  if (application === 'tagger' && o.numClasses === undefined) throw new GraphError(c.family, "application 'tagger' needs numClasses (the number of tags)");
}

/**
 * Hugging Face's sequence-classification head over h[:, 0] for RoBERTa and ELECTRA (no pooler):
 * dropout -> dense(H) -> tanh (RoBERTa) / gelu (ELECTRA) -> dropout -> out_proj. BERT and ALBERT
 * classify the pooler's output instead.
 */
function classificationHeadKind(c: BertConfig): 'pooler' | 'roberta' | 'electra' {
  return c.family === 'roberta' ? 'roberta' : c.family === 'electra' ? 'electra' : 'pooler';
}

/** The pooler is built for NSP and BERT/ALBERT sequence classifiers (a tagger classifies positions, not the [CLS] vector). */
function hasPooler(c: BertConfig, application: string, o: BuildOptions): boolean {
  const classifier = o.numClasses !== undefined && application !== 'tagger' && classificationHeadKind(c) === 'pooler';
  return !!(o.withPool || o.withNsp || application === 'nsp' || classifier);
}

/** Hierarchical alpha from the option (true = 0.4, as bert4keras), or null when off. */
function hierarchicalAlpha(o: BuildOptions): number | null {
  if (o.hierarchicalPosition === undefined || o.hierarchicalPosition === false) return null;
  const alpha = o.hierarchicalPosition === true ? 0.4 : o.hierarchicalPosition;
  if (!(alpha > 0 && alpha < 1)) throw new GraphError('hierarchicalPosition', `alpha must be in (0, 1), got ${alpha}`);
  return alpha;
}

/**
 * Learned absolute positions, optionally extended hierarchically (Su Jianlin): with n learned rows p,
 * u = (p - alpha p[0]) / (1 - alpha) and q[i n + j] = alpha u[i] + (1 - alpha) u[j]. Positions below
 * n take p directly (the formula gives p there too, up to rounding), so short inputs are unchanged.
 */
export function positionEmbedding(table: Tensor, positionIds: Tensor, alpha: number | null): Tensor {
  if (alpha === null) return gather(table, positionIds);
  const n = table.shape[0] as number;
  const p0 = slice(table, 0, 0, 1); // (1, E)
  const u = div(sub(table, mul(p0, alpha)), 1 - alpha); // (n, E)
  const i = div(positionIds, scalar(n, 'int64')); // integer division: the block
  const j = sub(positionIds, mul(i, scalar(n, 'int64'))); // position within the block
  const hierarchical = add(mul(gather(u, i), alpha), mul(gather(u, j), 1 - alpha)); // (.., E)
  const plain = gather(table, where(equal(i, scalar(0, 'int64')), j, scalar(0, 'int64')));
  const isPlain = reshape(equal(i, scalar(0, 'int64')), [...positionIds.shape, 1]);
  return where(isPlain, plain, hierarchical);
}

/**
 * RoBERTa's position ids: pads get pad_id, real tokens pad_id + 1, 2, ... counted over non-pads (left
 * padding too). Pads are the pad ids, or (inputs_embeds without ids) the attention mask's zeros.
 */
function robertaPositionIds(ids: Tensor | null, attentionMask: Tensor, padTokenId: number): Tensor {
  const isToken = cast(ids ? logicalNot(equal(ids, scalar(padTokenId, 'int64'))) : equal(attentionMask, scalar(1, 'int64')), 'float32'); // (B, T)
  const counted = mul(cumsum(isToken, 1), isToken);
  return cast(add(counted, padTokenId), 'int64');
}

interface Inputs {
  /** (B, T) int64; null when `inputsEmbeds` stands alone. */
  ids: Tensor | null;
  /** (B, T, E): vectors in place of the word-embedding lookup; positions and segments are still added. */
  inputsEmbeds?: Tensor | null;
  attentionMask: Tensor;
  tokenTypeIds: Tensor | null;
  /** Explicit position ids (B, T) (incremental decoding); default 0..T-1 (RoBERTa: from the padding). */
  positionIds?: Tensor | null;
}

/** Embeddings -> (B, T, H), plus the word table for tied output layers. */
function embeddings(scope: Scope, c: BertConfig, x: Inputs, o: BuildOptions): { h: Tensor; wordTable: Tensor } {
  const e = scope.child('embeddings');
  const vocab = o.keepTokens?.length ?? c.vocabSize;
  const [, seq] = (x.inputsEmbeds ?? x.ids!).shape as [Dim, Dim];
  const alpha = hierarchicalAlpha(o);
  const limit = bertMaxLength(c, o);
  if (typeof seq === 'number' && seq > limit.tokens) throw new GraphError(c.family, `${seq} tokens exceed the ${limit.tokens} positions${limit.hint ? ` (${limit.hint})` : ''}`);
  const wordTable = e.param('word_embeddings', [vocab, c.embeddingSize], initializers.truncatedNormal(0.02));
  const embeds = x.inputsEmbeds;
  if (embeds && (embeds.rank !== 3 || embeds.shape[2] !== c.embeddingSize)) throw new GraphError(c.family, `inputs_embeds must be (batch, seq, ${c.embeddingSize}), got [${embeds.shape.join(', ')}]`);
  const words = embeds ?? gather(wordTable, x.ids!); // (B, T, E)
  const positionTable = e.param('position_embeddings', [c.maxPosition, c.embeddingSize], initializers.truncatedNormal(0.02));
  const positionIds = x.positionIds ?? (c.family === 'roberta' ? robertaPositionIds(x.ids, x.attentionMask, c.padTokenId) : reshape(range(seq), [1, seq]));
  let h = add(words, positionEmbedding(positionTable, positionIds, alpha));
  if (c.typeVocabSize > 0) {
    const typeTable = e.param('token_type_embeddings', [c.typeVocabSize, c.embeddingSize], initializers.truncatedNormal(0.02));
    h = add(h, x.tokenTypeIds ? gather(typeTable, x.tokenTypeIds) : slice(typeTable, 0, 0, 1)); // (B, T, E)
  }
  h = dropout(e, layerNorm(e.child('LayerNorm'), h, c.layerNormEps), o.dropoutRate ?? c.hiddenDropout);
  const projected = c.family === 'albert' || c.family === 'albert_unshared' || c.embeddingSize !== c.hiddenSize;
  if (projected) h = dense(scope.child('embeddings_project'), h, c.hiddenSize); // (B, T, H)
  return { h, wordTable };
}

/**
 * One post-LN block: Att -> Dropout -> Add -> LN -> FFN -> Dropout -> Add -> LN. With `cache`, the
 * attention also sees earlier positions' keys/values; the returned k/v include them.
 */
function block(scope: Scope, c: BertConfig, h: Tensor, mask: Tensor | null, o: BuildOptions, cache: LayerCache | null = null, structure?: Structure): { h: Tensor } & LayerCache {
  const rate = o.dropoutRate ?? c.hiddenDropout;
  const att = scope.child('attention');
  const a = attention(att, h, {
    heads: c.numHeads, headSize: o.attentionKeySize, mask, dropout: o.attentionDropoutRate ?? c.attentionDropout, cache, kind: o.attention, structure,
    names: { query: 'self/query', key: 'self/key', value: 'self/value', output: 'output/dense' },
  }); // (B, T, H)
  h = layerNorm(att.child('output/LayerNorm'), add(h, dropout(att, a.output, rate)), c.layerNormEps);
  const f = dense(scope.child('intermediate/dense'), h, c.intermediateSize, { activation: c.hiddenAct }); // (B, T, F)
  const y = dense(scope.child('output/dense'), f, c.hiddenSize); // (B, T, H)
  return { h: layerNorm(scope.child('output/LayerNorm'), add(h, dropout(scope, y, rate)), c.layerNormEps), k: a.k, v: a.v };
}

/** The mask's structure for kernelized attention kinds (undefined: UniLM, which has none). */
type Structure = { padding: Tensor | null; causal: boolean } | undefined;

export type { LayerCache };

export interface BertStepInputs {
  ids: Tensor; // (B, T) new tokens
  tokenTypeIds: Tensor | null; // (B, T)
  positionIds: Tensor; // (B, T)
  /** (B, P+T) 1 = token, 0 = padding. */
  attentionMask: Tensor;
  /**
   * (B, P+T): position j is visible from i iff visibility[j] <= visibility[i]. Positions 0, 1, 2, ...
   * give the causal `lm` mask; cumsum(segment ids) gives UniLM's (bert4keras's rule).
   */
  visibility: Tensor;
  cache: LayerCache[];
  past: Dim;
}

/**
 * Incremental decoding for the `lm` and `unilm` applications: the new tokens' MLM-head logits at the
 * last position (B, 1, V) and every layer's keys/values including the new positions. With UniLM the
 * source (segment 0) never attends to the target, so its cached keys/values stay exact.
 */
export function bertDecoderStep(scope: Scope, c: BertConfig, application: string, o: BuildOptions, x: BertStepInputs): { logits: Tensor; cache: LayerCache[] } {
  if (application !== 'lm' && application !== 'unilm') throw new GraphError(c.family, `incremental decoding needs application 'lm' or 'unilm', not '${application}'`);
  checkApplication(c, application, o);
  if (o.attention && o.attention.kind !== 'softmax') throw new GraphError(c.family, `incremental decoding of a BERT-shaped '${application}' keeps a KV cache (UniLM's prefix mask has no running-sum form); attention kind '${o.attention.kind}' is not supported there: decode with kind 'softmax', or use a GPT-2-shaped model`);
  const [b, seq] = x.ids.shape as [Dim, Dim];
  const total = dimAdd(x.past, seq);
  let { h, wordTable } = embeddings(scope, c, { ids: x.ids, attentionMask: x.attentionMask, tokenTypeIds: x.tokenTypeIds, positionIds: x.positionIds }, o);
  const vis = cast(x.visibility, 'float32');
  const visible = lessOrEqual(reshape(vis, [b, 1, 1, total]), reshape(slice(vis, 1, x.past, total), [b, 1, seq, 1])); // (B, 1, T, P+T)
  const mask = andMasks(visible, paddingMask(x.attentionMask));
  const cache: LayerCache[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const r = block(scope.child(layerScopeName(c, i)), c, h, mask, o, x.cache[i] ?? null);
    h = r.h;
    cache.push({ k: r.k, v: r.v });
  }
  const last = slice(h, 1, dimSub(seq, 1), seq); // (B, 1, H)
  return { logits: mlmHead(scope, c, last, wordTable), cache };
}

/** Scope name of layer i's weights: ALBERT shares one block per group. */
export function layerScopeName(c: BertConfig, i: number): string {
  if (c.family !== 'albert') return `encoder/layer_${i}`;
  return `encoder/group_${Math.floor((i * c.numHiddenGroups) / c.numLayers)}`;
}

function attentionMaskFor(application: string, x: Inputs): Tensor | null {
  const padding = paddingMask(x.attentionMask); // (B, 1, 1, T)
  const [, seq] = x.attentionMask.shape as [Dim, Dim];
  if (application === 'lm') return andMasks(causalAttentionMask(seq), padding);
  if (application === 'unilm') return andMasks(unilmMask(x.tokenTypeIds!), padding);
  return padding;
}

/** MLM head: dense -> act -> LN -> tied embeddings + bias: (B, T, H) -> (B, T, V). */
function mlmHead(scope: Scope, c: BertConfig, h: Tensor, wordTable: Tensor): Tensor {
  // HF's RoBERTa and ELECTRA generator heads use erf GELU whatever hidden_act says.
  const act = c.family === 'roberta' || c.family === 'electra' ? 'gelu' : c.hiddenAct;
  const m = scope.child('mlm');
  let t = dense(m.child('transform/dense'), h, c.embeddingSize, { activation: act }); // (B, T, E)
  t = layerNorm(m.child('transform/LayerNorm'), t, c.layerNormEps);
  const vocab = wordTable.shape[0] as number;
  return add(matmul(t, transpose(wordTable, [1, 0])), m.param('output_bias', [vocab], initializers.zeros()));
}

function pooler(scope: Scope, h: Tensor): Tensor {
  const [b, , hidden] = h.shape as [Dim, Dim, number];
  const first = reshape(slice(h, 1, 0, 1), [b, hidden]); // (B, H): the [CLS] position
  return dense(scope.child('pooler/dense'), first, hidden, { activation: 'tanh' });
}

/**
 * The application's graph. `given` tensors stand in for graph inputs of the same name; a given
 * `inputs_embeds` (B, T, E) replaces the word-embedding lookup (positions, segments and the
 * embedding LayerNorm still apply), and without a given `input_ids` the graph then takes no ids.
 */
export function buildBert(scope: Scope, c: BertConfig, application: string, o: BuildOptions, given: ModelInputs = {}): BuiltGraph {
  checkApplication(c, application, o);
  const embeds = given.inputs_embeds ?? null;
  const ids = given.input_ids ?? (embeds ? null : input('input_ids', 'int64', ['batch', 'seq']));
  const attentionMask = given.attention_mask ?? input('attention_mask', 'int64', ['batch', 'seq']);
  const tokenTypeIds = c.typeVocabSize > 1 ? given.token_type_ids ?? input('token_type_ids', 'int64', ['batch', 'seq']) : null;
  const x: Inputs = { ids, inputsEmbeds: embeds, attentionMask, tokenTypeIds };
  const inputs: Record<string, Tensor> = { ...(ids ? { input_ids: ids } : {}), ...(embeds ? { inputs_embeds: embeds } : {}), attention_mask: attentionMask };
  if (tokenTypeIds) inputs.token_type_ids = tokenTypeIds;

  let { h, wordTable } = embeddings(scope, c, x, o); // (B, T, H)
  const mask = attentionMaskFor(application, x);
  const structure: Structure = application === 'unilm' ? undefined : { padding: attentionMask, causal: application === 'lm' };
  for (let i = 0; i < c.numLayers; i++) h = block(scope.child(layerScopeName(c, i)), c, h, mask, o, null, structure).h;
  const outputs: Record<string, Tensor> = { last_hidden_state: h };

  if (hasPooler(c, application, o)) outputs.pooler_output = pooler(scope, h);
  const logitsAt = ['mlm', 'lm', 'unilm', 'generator'].includes(application) ? (rows: Tensor) => mlmHead(scope, c, rows, wordTable) : undefined;
  if (logitsAt) outputs.logits = logitsAt(h);
  if (application === 'nsp' || o.withNsp) {
    const nsp = dense(scope.child('nsp'), outputs.pooler_output!, 2); // (B, 2)
    outputs[application === 'nsp' ? 'logits' : 'nsp_logits'] = nsp;
  }
  if (application === 'discriminator') {
    const d = scope.child('discriminator');
    const t = dense(d.child('dense'), h, c.hiddenSize, { activation: c.hiddenAct });
    const [b, seq] = attentionMask.shape;
    outputs.logits = reshape(dense(d.child('dense_prediction'), t, 1), [b!, seq!]); // (B, T)
  }
  if (application === 'tagger') {
    outputs.logits = dense(scope.child('classifier'), dropout(scope, h, o.dropoutRate ?? c.hiddenDropout), o.numClasses!); // (B, T, C)
  } else if (o.numClasses !== undefined) {
    const rate = o.dropoutRate ?? c.hiddenDropout;
    const kind = classificationHeadKind(c);
    let logits: Tensor;
    if (kind === 'pooler') logits = dense(scope.child('classifier'), dropout(scope, outputs.pooler_output!, rate), o.numClasses);
    else {
      const [b, , hidden] = h.shape as [Dim, Dim, number];
      const first = reshape(slice(h, 1, 0, 1), [b, hidden]); // (B, H): the [CLS] / <s> position
      const x = dense(scope.child('classifier/dense'), dropout(scope, first, rate), hidden, { activation: kind === 'roberta' ? 'tanh' : 'gelu' });
      logits = dense(scope.child('classifier/out_proj'), dropout(scope, x, rate), o.numClasses); // (B, C)
    }
    outputs[application === 'encoder' ? 'logits' : 'class_logits'] = logits;
  }
  return { inputs, outputs, logitsAt };
}

/** Binary cross-entropy with logits, mean over positions where `weights` is 1. */
/** Binary cross-entropy with logits, mean over positions where `weights` is 1. */
export function maskedBinaryCrossEntropy(logits: Tensor, labels: Tensor, weights: Tensor): Tensor {
  const y = cast(labels, logits.dtype);
  const w = cast(weights, logits.dtype);
  // max(x, 0) - x y + log(1 + exp(-|x|)): stable for large |x|.
  const perToken = add(sub(maximum(logits, scalar(0, logits.dtype)), mul(logits, y)), log(add(exp(mul(abs(logits), -1)), 1)));
  return div(reduceSum(mul(perToken, w)), reduceSum(w));
}

/**
 * The application's training loss, as Hugging Face computes it: token cross-entropy ignoring -100
 * (`lm` / `unilm` shifted: logits at t score labels[t + 1]); NSP and classifier over [B] labels;
 * ELECTRA's discriminator BCE over attention_mask == 1.
 */
export function bertLoss(built: BuiltGraph, application: string, options: BuildOptions, given: ModelInputs = {}): { labels: Tensor; loss: Tensor } {
  const { outputs, inputs } = built;
  const perSequence = application === 'nsp' || (application === 'encoder' && options.numClasses !== undefined);
  const labels = given.labels ?? input('labels', 'int64', perSequence ? ['batch'] : ['batch', 'seq']);
  const logits = outputs.logits;
  if (!logits) throw new GraphError('loss', `application '${application}' has no logits to train (add numClasses for a classifier)`);
  if (application === 'discriminator') return { labels, loss: maskedBinaryCrossEntropy(logits, labels, inputs.attention_mask!) };
  const h = outputs.last_hidden_state;
  if (application === 'lm' || application === 'unilm') {
    const seq = logits.shape[1]!; // logits at t score labels[t + 1]
    if (!built.logitsAt || !h) return { labels, loss: crossEntropy(slice(logits, 1, 0, dimSub(seq, 1)), slice(labels, 1, 1, seq)) };
    return { labels, loss: labelledTokenLoss(built.logitsAt, slice(h, 1, 0, dimSub(seq, 1)), slice(labels, 1, 1, seq)) };
  }
  if (built.logitsAt && h && !perSequence) return { labels, loss: labelledTokenLoss(built.logitsAt, h, labels) }; // mlm, generator
  return { labels, loss: crossEntropy(logits, labels) };
}

/**
 * Token cross-entropy (labels -100 ignored) with the output head run only at the labelled rows of h
 * (B, T, H): UniLM's source, MLM's unmasked 85% and the padding cost nothing, which at a 13k-21k
 * vocabulary is most of a step's head. Equal to the head everywhere, then `crossEntropy`.
 */
function labelledTokenLoss(logitsAt: (rows: Tensor) => Tensor, h: Tensor, labels: Tensor): Tensor {
  const flat = reshape(labels, [-1]);
  const at = nonZeroIndices(logicalNot(equal(flat, scalar(-100, 'int64'))));
  return crossEntropy(logitsAt(gather(reshape(h, [-1, h.shape[2]!]), at)), gather(flat, at));
}

// ---- weight names ---------------------------------------------------------------------------

/** One weight in our naming and both checkpoint namings. Kernels: HF Linear stores [out, in]. */
interface Entry {
  ours: string;
  hf: string;
  google: string;
  kind: 'kernel' | 'vector' | 'table';
  /** Google stores [out, in] too (NSP output_weights). */
  googleTransposed?: boolean;
  /** Vocabulary-sized: keepTokens selects rows. */
  vocab?: boolean;
  optional?: boolean;
}

function denseEntries(ours: string, hf: string, google: string, optional?: boolean): Entry[] {
  return [
    { ours: `${ours}/kernel`, hf: `${hf}.weight`, google: `${google}/kernel`, kind: 'kernel', optional },
    { ours: `${ours}/bias`, hf: `${hf}.bias`, google: `${google}/bias`, kind: 'vector', optional },
  ];
}

function lnEntries(ours: string, hf: string, google: string): Entry[] {
  return [
    { ours: `${ours}/gamma`, hf: `${hf}.weight`, google: `${google}/gamma`, kind: 'vector' },
    { ours: `${ours}/beta`, hf: `${hf}.bias`, google: `${google}/beta`, kind: 'vector' },
  ];
}

const HF_PREFIX: Record<BertFamilyName, string> = { bert: 'bert.', roberta: 'roberta.', albert: 'albert.', albert_unshared: 'albert.', electra: 'electra.' };
const GOOGLE_PREFIX: Record<BertFamilyName, string> = { bert: 'bert/', roberta: 'bert/', albert: 'bert/', albert_unshared: 'bert/', electra: 'electra/' };

/**
 * Google's ELECTRA pretraining checkpoints hold both models: the discriminator under `electra/`, the
 * generator's trunk under `generator/`, and one set of embeddings (`electra/embeddings/`) they share.
 */
function googleTrunkPrefix(c: BertConfig, application: string): string {
  return c.family === 'electra' && application === 'generator' ? 'generator/' : GOOGLE_PREFIX[c.family];
}

function blockEntries(c: BertConfig, application: string, ours: string, group: number, layer: number): Entry[] {
  const hp = HF_PREFIX[c.family];
  const gp = googleTrunkPrefix(c, application);
  if (c.family === 'albert' || c.family === 'albert_unshared') {
    const hf = `${hp}encoder.albert_layer_groups.${group}.albert_layers.0`;
    const g = `${gp}encoder/transformer/group_${group}/inner_group_0`;
    return [
      ...denseEntries(`${ours}/attention/self/query`, `${hf}.attention.query`, `${g}/attention_1/self/query`),
      ...denseEntries(`${ours}/attention/self/key`, `${hf}.attention.key`, `${g}/attention_1/self/key`),
      ...denseEntries(`${ours}/attention/self/value`, `${hf}.attention.value`, `${g}/attention_1/self/value`),
      ...denseEntries(`${ours}/attention/output/dense`, `${hf}.attention.dense`, `${g}/attention_1/output/dense`),
      ...lnEntries(`${ours}/attention/output/LayerNorm`, `${hf}.attention.LayerNorm`, `${g}/LayerNorm`),
      ...denseEntries(`${ours}/intermediate/dense`, `${hf}.ffn`, `${g}/ffn_1/intermediate/dense`),
      ...denseEntries(`${ours}/output/dense`, `${hf}.ffn_output`, `${g}/ffn_1/intermediate/output/dense`),
      ...lnEntries(`${ours}/output/LayerNorm`, `${hf}.full_layer_layer_norm`, `${g}/LayerNorm_1`),
    ];
  }
  const hf = `${hp}encoder.layer.${layer}`;
  const g = `${gp}encoder/layer_${layer}`;
  return [
    ...denseEntries(`${ours}/attention/self/query`, `${hf}.attention.self.query`, `${g}/attention/self/query`),
    ...denseEntries(`${ours}/attention/self/key`, `${hf}.attention.self.key`, `${g}/attention/self/key`),
    ...denseEntries(`${ours}/attention/self/value`, `${hf}.attention.self.value`, `${g}/attention/self/value`),
    ...denseEntries(`${ours}/attention/output/dense`, `${hf}.attention.output.dense`, `${g}/attention/output/dense`),
    ...lnEntries(`${ours}/attention/output/LayerNorm`, `${hf}.attention.output.LayerNorm`, `${g}/attention/output/LayerNorm`),
    ...denseEntries(`${ours}/intermediate/dense`, `${hf}.intermediate.dense`, `${g}/intermediate/dense`),
    ...denseEntries(`${ours}/output/dense`, `${hf}.output.dense`, `${g}/output/dense`),
    ...lnEntries(`${ours}/output/LayerNorm`, `${hf}.output.LayerNorm`, `${g}/output/LayerNorm`),
  ];
}

function entries(c: BertConfig, application: string, o: BuildOptions): Entry[] {
  const hp = HF_PREFIX[c.family];
  const gp = GOOGLE_PREFIX[c.family];
  const isAlbert = c.family === 'albert' || c.family === 'albert_unshared';
  const list: Entry[] = [
    { ours: 'embeddings/word_embeddings', hf: `${hp}embeddings.word_embeddings.weight`, google: `${gp}embeddings/word_embeddings`, kind: 'table', vocab: true },
    { ours: 'embeddings/position_embeddings', hf: `${hp}embeddings.position_embeddings.weight`, google: `${gp}embeddings/position_embeddings`, kind: 'table' },
    ...lnEntries('embeddings/LayerNorm', `${hp}embeddings.LayerNorm`, `${gp}embeddings/LayerNorm`),
  ];
  if (c.typeVocabSize > 0) list.push({ ours: 'embeddings/token_type_embeddings', hf: `${hp}embeddings.token_type_embeddings.weight`, google: `${gp}embeddings/token_type_embeddings`, kind: 'table' });
  if (isAlbert) list.push(...denseEntries('embeddings_project', `${hp}encoder.embedding_hidden_mapping_in`, `${gp}encoder/embedding_hidden_mapping_in`));
  else if (c.embeddingSize !== c.hiddenSize) list.push(...denseEntries('embeddings_project', `${hp}embeddings_project`, `${googleTrunkPrefix(c, application)}embeddings_project`));

  const seen = new Set<string>();
  for (let i = 0; i < c.numLayers; i++) {
    const ours = layerScopeName(c, i);
    if (seen.has(ours)) continue;
    seen.add(ours);
    list.push(...blockEntries(c, application, ours, Math.floor((i * c.numHiddenGroups) / c.numLayers), i));
  }

  if (hasPooler(c, application, o)) {
    // HF's *ForMaskedLM checkpoints have no pooler: a classifier over one starts from a fresh pooler. NSP needs the trained one.
    const optional = application !== 'nsp' && !o.withNsp;
    list.push(...denseEntries('pooler/dense', isAlbert ? `${hp}pooler` : `${hp}pooler.dense`, `${gp}pooler/dense`, optional));
  }
  if (['mlm', 'lm', 'unilm', 'generator'].includes(application)) {
    const [hfHead, hfBias, gHead] =
      c.family === 'roberta' ? ['lm_head', 'lm_head.bias', 'cls/predictions']
      : isAlbert ? ['predictions', 'predictions.bias', 'cls/predictions']
      : c.family === 'electra' ? ['generator_predictions', 'generator_lm_head.bias', 'generator_predictions']
      : ['cls.predictions.transform', 'cls.predictions.bias', 'cls/predictions'];
    const hfLn = c.family === 'roberta' ? 'lm_head.layer_norm' : `${hfHead}.LayerNorm`;
    const gTransform = c.family === 'electra' ? gHead : `${gHead}/transform`;
    list.push(
      ...denseEntries('mlm/transform/dense', `${hfHead}.dense`, `${gTransform}/dense`),
      ...lnEntries('mlm/transform/LayerNorm', hfLn, `${gTransform}/LayerNorm`),
      { ours: 'mlm/output_bias', hf: hfBias, google: `${gHead}/output_bias`, kind: 'vector', vocab: true },
    );
  }
  if (application === 'nsp' || o.withNsp) {
    // ALBERT's sentence-order head has NSP's shape; HF names it sop_classifier.
    const hfNsp = isAlbert ? 'sop_classifier.classifier' : 'cls.seq_relationship';
    list.push(
      { ours: 'nsp/kernel', hf: `${hfNsp}.weight`, google: 'cls/seq_relationship/output_weights', kind: 'kernel', googleTransposed: true },
      { ours: 'nsp/bias', hf: `${hfNsp}.bias`, google: 'cls/seq_relationship/output_bias', kind: 'vector' },
    );
  }
  if (application === 'discriminator') {
    list.push(
      ...denseEntries('discriminator/dense', 'discriminator_predictions.dense', 'discriminator_predictions/dense'),
      ...denseEntries('discriminator/dense_prediction', 'discriminator_predictions.dense_prediction', 'discriminator_predictions/dense_1'),
    );
  }
  // A fine-tuning head is never in a pretrained checkpoint: initialised fresh when absent.
  if (o.numClasses !== undefined) {
    if (application === 'tagger' || classificationHeadKind(c) === 'pooler') list.push(...denseEntries('classifier', 'classifier', 'classifier', true));
    else list.push(...denseEntries('classifier/dense', 'classifier.dense', 'classifier/dense', true), ...denseEntries('classifier/out_proj', 'classifier.out_proj', 'classifier/out_proj', true));
  }
  return list;
}

export function bertWeightMap(c: BertConfig, application: string, naming: Naming, o: BuildOptions): WeightMapping[] {
  return entries(c, application, o).map((e): WeightMapping => {
    const m: WeightMapping = { ours: e.ours, theirs: naming === 'hf' ? e.hf : e.google };
    if (e.kind === 'kernel' && (naming === 'hf' || e.googleTransposed)) m.transpose = true;
    if (e.vocab && o.keepTokens) m.rows = o.keepTokens;
    if (e.optional) m.optional = true;
    return m;
  });
}

/**
 * Longest input: the n learned positions (RoBERTa reserves pad_id + 1 of them), n^2 hierarchically,
 * capped by the maxPosition option when given.
 */
export function bertMaxLength(c: BertConfig, o: BuildOptions): { tokens: number; hint?: string } {
  const offset = c.family === 'roberta' ? c.padTokenId + 1 : 0;
  const hierarchical = hierarchicalAlpha(o) !== null;
  const covered = (hierarchical ? c.maxPosition * c.maxPosition : c.maxPosition) - offset;
  if (o.maxPosition !== undefined && o.maxPosition < covered) return { tokens: o.maxPosition, hint: 'the maxPosition option' };
  return { tokens: covered, hint: hierarchical ? undefined : 'hierarchicalPosition extends them' };
}

export const bertFamily: FamilyDefinition<BertConfig> & { loss: typeof bertLoss; maxLength: typeof bertMaxLength } = {
  names: BERT_FAMILIES,
  applications: BERT_APPLICATIONS,
  parseConfig: (raw, family) => parseBertConfig(raw, family),
  build: buildBert,
  weightMap: bertWeightMap,
  loss: bertLoss,
  maxLength: bertMaxLength,
};
