/**
 * T5 (1.0), T5.1.1 and mT5: an encoder-decoder with RMSNorm (no mean, no bias), attention without
 * biases or 1/sqrt(d) scaling, and a relative position bias that only block 0 holds and every
 * block reuses (bidirectional buckets in the encoder, causal ones in the decoder).
 *
 *   encoder block: RMSNorm -> SelfAtt(+bias) -> Add -> RMSNorm -> FFN -> Add
 *   decoder block: RMSNorm -> SelfAtt(+bias, causal) -> Add -> RMSNorm -> CrossAtt -> Add -> RMSNorm -> FFN -> Add
 *
 * 1.0: ReLU FFN (wi, wo), output layer tied to the shared embeddings. 1.1 / mT5: gated-GELU FFN
 * (gelu_tanh(x wi_0) * (x wi_1), then wo), untied lm_head. Following Hugging Face (the reference
 * fixtures encode it), the decoder output is scaled by d_model**-0.5 only when the head is tied;
 * bert4keras scales always, which is wrong for the untied 1.1 / mT5 heads.
 *
 * The decoder is one function of (decoder ids, encoder output or precomputed cross K/V, optional
 * self-attention caches) returning the new caches, so a KV-cached generation step reuses it.
 */
import { crossEntropy } from '../graph/composite.ts';
import { add, concat, constant, exp, gather, input, lessOrEqual, matmul, maximum, mul, neg, range, reshape, sub, transpose } from '../graph/ops.ts';
import { dimAdd, GraphError, type Dim, type Tensor } from '../graph/tensor.ts';
import { andMasks, attention, paddingMask, type LayerCache, type RelativeBand } from '../nn/attention.ts';
import { activate, dense, dropout, embedding, rmsNorm } from '../nn/layers.ts';
import { initializers, type Scope } from '../nn/params.ts';
import { ConfigError, GENERIC_HF_KEYS } from './config.ts';
import type { BuildOptions, BuiltGraph, FamilyDefinition, ModelInputs, Naming, WeightMapping } from './family.ts';

export type T5Version = 't5' | 't5.1.1' | 'mt5';
/** FFN activations HF's T5 accepts in feed_forward_proj ('gelu_new' is the tanh approximation). */
export type T5Activation = 'relu' | 'gelu' | 'gelu_new' | 'silu';

export interface T5Config {
  /** 't5' = 1.0 layout; 't5.1.1' / 'mt5' = the 1.1 layout (also picks the Google checkpoint names). */
  version: T5Version;
  vocabSize: number;
  dModel: number;
  /** Size of each head's query/key/value (heads * dKv need not equal dModel). */
  dKv: number;
  dFf: number;
  numHeads: number;
  numLayers: number;
  numDecoderLayers: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  layerNormEpsilon: number;
  activation: T5Activation;
  /** FFN is act(x wi_0) * (x wi_1) (1.1 / mT5) rather than act(x wi). */
  gated: boolean;
  /** Output layer = shared embeddings (1.0), with the d_model**-0.5 rescale. */
  tieWordEmbeddings: boolean;
  dropoutRate: number;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
}

export type { LayerCache };

// ---- relative position buckets --------------------------------------------------------------

/**
 * HF's T5Attention._relative_position_bucket for one relative position (key - query). Distances
 * below max_exact get their own bucket, larger ones log-spaced buckets up to max_distance, then the
 * last bucket. The log step mirrors HF's float32 arithmetic (`relative_position.float()`); during
 * development it matched PyTorch for every position in -2000..2000 at six bucket/distance settings.
 */
export function relativePositionBucket(relative: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let buckets = numBuckets;
  let offset = 0;
  let distance: number;
  if (bidirectional) {
    buckets = Math.floor(buckets / 2);
    if (relative > 0) offset = buckets; // keys after the query use the upper half
    distance = Math.abs(relative);
  } else {
    distance = Math.max(-relative, 0); // the decoder never looks ahead
  }
  const maxExact = Math.floor(buckets / 2);
  if (distance < maxExact) return offset + distance;
  const f = Math.fround;
  const logRatio = f(f(Math.log(f(distance / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(logRatio * (buckets - maxExact)));
  return offset + Math.min(large, buckets - 1);
}

/**
 * Bucket ids for relative positions -maxDistance..maxDistance, as an int64 constant. Every distance
 * at or beyond maxDistance falls in the capped last bucket, so clamping the relative position to
 * this range gives the right bucket for any sequence length.
 */
function bucketTable(bidirectional: boolean, numBuckets: number, maxDistance: number): Tensor {
  const data = new BigInt64Array(2 * maxDistance + 1);
  for (let r = -maxDistance; r <= maxDistance; r++) data[r + maxDistance] = BigInt(relativePositionBucket(r, bidirectional, numBuckets, maxDistance));
  return constant({ dtype: 'int64', shape: [data.length], data });
}

/**
 * Key position minus query position, (Tq, Tk) int64, for `queries` new positions after `past`
 * cached ones attending to `keys` positions. `keys` is passed in, spelled as the attention's
 * concat of cache and new keys spells it ('past+seq'): nn's causalAttentionMask spells it
 * 'seq+past', and the two would not broadcast.
 */
function relativePositions(queries: Dim, keys: Dim, past: Dim, filled: Tensor | null = null): Tensor {
  if (!filled) {
    const queryPos = reshape(range(dimAdd(past, queries), past), [queries, 1]);
    return sub(reshape(range(keys), [1, keys]), queryPos);
  }
  // A host cache of `past` slots, the first `filled` real (the rest masked): the new positions follow them.
  const fresh = add(range(queries), filled);
  const keyPos = concat([range(past), fresh], 0);
  return sub(reshape(keyPos, [1, keys]), reshape(fresh, [queries, 1]));
}

/**
 * The encoder's bias as kernelized attention applies it (nn/performer.ts RelativeBand): exp(bias) for
 * every key − query offset within a chunk of W = max_distance positions and its two neighbours, and
 * the two constants of the capped last buckets beyond (any distance ≥ max_distance).
 */
export function relativeBand(table: Tensor, c: T5Config): RelativeBand {
  const w = c.relativeAttentionMaxDistance, far = 10 * w;
  const bucket = (r: number) => BigInt(relativePositionBucket(r, true, c.relativeAttentionNumBuckets, w));
  // Keys two chunks away are ≥ W + 1 positions off, and every distance ≥ W is in the capped bucket
  // (relativePositionBucket's log ratio reaches 1 at W; the config check keeps W above max_exact).
  const ids = new BigInt64Array(w * 3 * w);
  for (let a = 0; a < w; a++) for (let b = 0; b < 3 * w; b++) ids[a * 3 * w + b] = bucket(b - w - a);
  const window = transpose(gather(table, constant({ dtype: 'int64', shape: [w, 3 * w], data: ids })), [2, 0, 1]); // (H, W, 3W)
  const constantAt = (r: number) => reshape(exp(gather(table, constant({ dtype: 'int64', shape: [1], data: BigInt64Array.of(bucket(r)) }))), [1, c.numHeads, 1, 1]);
  return { width: w, window: reshape(exp(window), [1, c.numHeads, w, 3 * w]), before: constantAt(-far), after: constantAt(far) };
}

/** The position bias [1, H, Tq, Tk] from the bucket embeddings `table` [buckets, H]. */
function positionBias(table: Tensor, c: T5Config, bidirectional: boolean, relative: Tensor): Tensor {
  const maxDistance = c.relativeAttentionMaxDistance;
  const [queries, keys] = relative.shape;
  const clamped = neg(maximum(neg(maximum(relative, -maxDistance)), -maxDistance));
  const buckets = gather(bucketTable(bidirectional, c.relativeAttentionNumBuckets, maxDistance), add(clamped, maxDistance));
  const bias = transpose(gather(table, buckets), [2, 0, 1]); // (H, Tq, Tk)
  return reshape(bias, [1, c.numHeads, queries!, keys!]);
}

// ---- blocks ---------------------------------------------------------------------------------

function ffnActivation(x: Tensor, activation: T5Activation): Tensor {
  switch (activation) {
    case 'relu': return activate(x, 'relu');
    case 'gelu': return activate(x, 'gelu');
    case 'gelu_new': return activate(x, 'gelu_tanh');
    case 'silu': return activate(x, 'swish');
  }
}

/** T5DenseActDense / T5DenseGatedActDense: no biases; dropout after the activation. Fresh weights as HF initialises them. */
function feedForward(scope: Scope, x: Tensor, c: T5Config, rate: number): Tensor {
  const s = scope.child('DenseReluDense');
  const wi = (name: string) => dense(s.child(name), x, c.dFf, { bias: false, kernelInit: initializers.normal(c.dModel ** -0.5) });
  const h = c.gated ? mul(ffnActivation(wi('wi_0'), c.activation), wi('wi_1')) : ffnActivation(wi('wi'), c.activation);
  return dense(s.child('wo'), dropout(s, h, rate), c.dModel, { bias: false, kernelInit: initializers.normal(c.dFf ** -0.5) });
}

const ATTENTION_NAMES = { query: 'q', key: 'k', value: 'v', output: 'o' };

interface Rates {
  hidden: number;
  attention: number;
}

function rates(c: T5Config, options: BuildOptions = {}): Rates {
  const hidden = options.dropoutRate ?? c.dropoutRate;
  return { hidden, attention: options.attentionDropoutRate ?? hidden };
}

// ---- encoder --------------------------------------------------------------------------------

export interface T5EncoderInputs {
  inputIds: Tensor; // (B, S) int64
  /** (B, S) 1 = token, 0 = padding. */
  attentionMask?: Tensor | null;
}

/** The encoder stack: (B, S) ids -> (B, S, C) after the final RMSNorm. */
export function t5Encoder(scope: Scope, c: T5Config, inputs: T5EncoderInputs, options: BuildOptions = {}): Tensor {
  const r = rates(c, options);
  const [, seq] = inputs.inputIds.shape;
  const { output: embedded } = embedding(scope, inputs.inputIds, c.vocabSize, c.dModel, 'shared');
  const enc = scope.child('encoder');
  const table = enc.child('block_0').child('layer_0').child('SelfAttention')
    .param('relative_attention_bias', [c.relativeAttentionNumBuckets, c.numHeads], initializers.normal(c.dModel ** -0.5));
  // Kernelized kinds (the encoder's self-attention only) take the bias as a band and the mask as key padding.
  const kernelized = !!options.attention && options.attention.kind !== 'softmax';
  const positions = kernelized
    ? { kind: options.attention, band: relativeBand(table, c), structure: { padding: inputs.attentionMask ?? null, causal: false } }
    : { bias: positionBias(table, c, true, relativePositions(seq!, seq!, 0)), mask: inputs.attentionMask ? paddingMask(inputs.attentionMask) : null };
  let x = dropout(enc, embedded, r.hidden); // (B, S, C)
  for (let i = 0; i < c.numLayers; i++) {
    const block = enc.child(`block_${i}`);
    const l0 = block.child('layer_0');
    const a = attention(l0.child('SelfAttention'), rmsNorm(l0.child('layer_norm'), x, c.layerNormEpsilon), {
      heads: c.numHeads, headSize: c.dKv, ...positions, scale: false, useBias: false, dropout: r.attention, names: ATTENTION_NAMES,
    });
    x = add(x, dropout(l0, a.output, r.hidden));
    const l1 = block.child('layer_1');
    x = add(x, dropout(l1, feedForward(l1, rmsNorm(l1.child('layer_norm'), x, c.layerNormEpsilon), c, r.hidden), r.hidden));
  }
  return dropout(enc, rmsNorm(enc.child('final_layer_norm'), x, c.layerNormEpsilon), r.hidden);
}

// ---- decoder --------------------------------------------------------------------------------

export interface T5DecoderInputs {
  /** (B, T) int64; optional when `decoderInputsEmbeds` is given. */
  decoderInputIds?: Tensor | null;
  /** (B, T, C): input vectors in place of the shared-embedding lookup (dropout still applies). */
  decoderInputsEmbeds?: Tensor | null;
  /** Encoder output (B, S, C); needed unless every layer's `crossKv` is given. */
  encoderHidden?: Tensor | null;
  /** (B, S) 1 = token, 0 = padding, for cross-attention. */
  encoderAttentionMask?: Tensor | null;
  /** (B, P+T) 1 = token, 0 = padding, for self-attention (HF's default: all ones). */
  decoderAttentionMask?: Tensor | null;
  /** Per-layer self-attention keys/values of the P earlier positions, each (B, H, P, dKv). */
  selfCache?: LayerCache[] | null;
  /** Number of cached positions P (a dim of the cache inputs). */
  past?: Dim;
  /**
   * With a host-appended cache (`selfCache[i].append: 'host'`): how many of the P slots are filled,
   * int64 [1]; the new positions follow them (the spare slots must be masked in decoderAttentionMask).
   */
  pastLength?: Tensor | null;
  /** Per-layer cross-attention keys/values, each (B, H, S, dKv): computed once per input. */
  crossKv?: LayerCache[] | null;
}

export interface T5DecoderOutputs {
  /** After the final RMSNorm, before any rescale: (B, T, C). */
  hidden: Tensor;
  logits: Tensor; // (B, T, V)
  /** Self-attention keys/values including the new positions, each (B, H, P+T, dKv); with a host-appended cache the new positions' only. */
  selfCache: LayerCache[];
  /** Cross-attention keys/values (the inputs' crossKv, or freshly projected): each (B, H, S, dKv). */
  crossKv: LayerCache[];
}

export function t5Decoder(scope: Scope, c: T5Config, inputs: T5DecoderInputs, options: BuildOptions = {}): T5DecoderOutputs {
  const r = rates(c, options);
  const embeds = inputs.decoderInputsEmbeds ?? null;
  if (!inputs.decoderInputIds && !embeds) throw new GraphError('t5Decoder', 'needs decoderInputIds or decoderInputsEmbeds');
  if (embeds && (embeds.rank !== 3 || embeds.shape[2] !== c.dModel)) throw new GraphError('t5Decoder', `decoderInputsEmbeds must be (batch, dec_seq, ${c.dModel}), got [${embeds.shape.join(', ')}]`);
  const [, seq] = (embeds ?? inputs.decoderInputIds!).shape;
  const past = inputs.past ?? 0;
  if (inputs.selfCache && inputs.selfCache.length !== c.numDecoderLayers) {
    throw new GraphError('t5Decoder', `selfCache has ${inputs.selfCache.length} layers, the decoder ${c.numDecoderLayers}`);
  }
  if (inputs.crossKv && inputs.crossKv.length !== c.numDecoderLayers) {
    throw new GraphError('t5Decoder', `crossKv has ${inputs.crossKv.length} layers, the decoder ${c.numDecoderLayers}`);
  }
  if (!inputs.crossKv && !inputs.encoderHidden) throw new GraphError('t5Decoder', 'needs encoderHidden or crossKv for the cross-attention');
  if (inputs.pastLength && !inputs.decoderAttentionMask) throw new GraphError('t5Decoder', 'pastLength (a host cache with spare slots) needs decoderAttentionMask, 0 at the spare slots: the causal mask alone would let queries see them');
  const shared = scope.param('shared', [c.vocabSize, c.dModel], initializers.truncatedNormal(0.02));
  const embedded = embeds ?? gather(shared, inputs.decoderInputIds!); // (B, T, C)
  const dec = scope.child('decoder');
  const table = dec.child('block_0').child('layer_0').child('SelfAttention')
    .param('relative_attention_bias', [c.relativeAttentionNumBuckets, c.numHeads], initializers.normal(c.dModel ** -0.5));
  const relative = relativePositions(seq!, dimAdd(past, seq!), past, inputs.pastLength ?? null);
  const selfBias = positionBias(table, c, false, relative);
  const causal = reshape(lessOrEqual(relative, 0), [1, 1, ...relative.shape]);
  const selfMask = andMasks(causal, inputs.decoderAttentionMask ? paddingMask(inputs.decoderAttentionMask) : null);
  const crossMask = inputs.encoderAttentionMask ? paddingMask(inputs.encoderAttentionMask) : null;
  const selfCache: LayerCache[] = [];
  const crossKv: LayerCache[] = [];
  let y = dropout(dec, embedded, r.hidden); // (B, T, C)
  for (let i = 0; i < c.numDecoderLayers; i++) {
    const block = dec.child(`block_${i}`);
    const l0 = block.child('layer_0');
    const a = attention(l0.child('SelfAttention'), rmsNorm(l0.child('layer_norm'), y, c.layerNormEpsilon), {
      heads: c.numHeads, headSize: c.dKv, bias: selfBias, mask: selfMask, scale: false, useBias: false, dropout: r.attention,
      cache: inputs.selfCache?.[i] ?? null, names: ATTENTION_NAMES,
    });
    selfCache.push({ k: a.k, v: a.v });
    y = add(y, dropout(l0, a.output, r.hidden));
    const l1 = block.child('layer_1');
    const x = attention(l1.child('EncDecAttention'), rmsNorm(l1.child('layer_norm'), y, c.layerNormEpsilon), {
      heads: c.numHeads, headSize: c.dKv, kv: inputs.encoderHidden ?? undefined, projectedKv: inputs.crossKv?.[i] ?? null,
      mask: crossMask, scale: false, useBias: false, dropout: r.attention, names: ATTENTION_NAMES,
    });
    crossKv.push({ k: x.k, v: x.v });
    y = add(y, dropout(l1, x.output, r.hidden));
    const l2 = block.child('layer_2');
    y = add(y, dropout(l2, feedForward(l2, rmsNorm(l2.child('layer_norm'), y, c.layerNormEpsilon), c, r.hidden), r.hidden));
  }
  const hidden = dropout(dec, rmsNorm(dec.child('final_layer_norm'), y, c.layerNormEpsilon), r.hidden);
  const logits = c.tieWordEmbeddings
    ? matmul(mul(hidden, c.dModel ** -0.5), transpose(shared, [1, 0])) // tied: rescale first (HF's rule)
    // Fresh lm_head: std d_model**-0.5 keeps initial logits near unit scale (the hidden state is RMS-normalised).
    : matmul(hidden, transpose(scope.param('lm_head', [c.vocabSize, c.dModel], initializers.normal(c.dModel ** -0.5)), [1, 0]));
  return { hidden, logits, selfCache, crossKv };
}

// ---- config ---------------------------------------------------------------------------------

/** A config error; buildModel replaces the leading 'config' with the file name. */
function configError(message: string): ConfigError {
  return new ConfigError(`config: ${message}`);
}

/** HF T5Config keys. */
const HF_KEYS = new Set([
  'vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_decoder_layers', 'num_heads', 'relative_attention_num_buckets',
  'relative_attention_max_distance', 'dropout_rate', 'layer_norm_epsilon', 'feed_forward_proj', 'dense_act_fn', 'is_gated_act',
  'tie_word_embeddings', 'pad_token_id', 'eos_token_id', 'decoder_start_token_id',
  // Legacy keys of the original t5-* hub configs, with no effect on the architecture.
  'n_positions', 'output_past', 'tf_legacy_loss',
]);

/** bert4keras's T5 config.json (as in t5_in_bert4keras): BERT-style names. */
const BERT4KERAS_KEYS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'num_attention_heads', 'attention_head_size', 'num_hidden_layers',
  'num_decoder_layers', 'hidden_act', 'hidden_dropout_prob', 'dropout_rate', 'initializer_range',
  'relative_attention_num_buckets', 'relative_attention_max_distance', 'layer_norm_epsilon', 'attention_scale',
  'tie_word_embeddings', 'pad_token_id', 'eos_token_id', 'decoder_start_token_id',
]);

/** The encoder-decoder families (T5, T5.1.1, mT5). */
export const T5_FAMILIES: readonly string[] = ['t5', 't5.1.1', 'mt5'];
const FAMILY_NAMES = T5_FAMILIES;

function positiveInt(raw: Record<string, unknown>, key: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (v === undefined) throw configError(`missing '${key}'`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw configError(`'${key}' must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegativeInt(raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw configError(`'${key}' must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function rate(raw: Record<string, unknown>, key: string, fallback: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw configError(`'${key}' must be a number in [0, 1), got ${JSON.stringify(v)}`);
  return v;
}

function bool(raw: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'boolean') throw configError(`'${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

const ACTIVATIONS: Record<string, T5Activation> = { relu: 'relu', gelu: 'gelu', gelu_new: 'gelu_new', gelu_pytorch_tanh: 'gelu_new', silu: 'silu', swish: 'silu' };

/**
 * feed_forward_proj as HF reads it: 'ACT' or 'gated-ACT'; 'gated-gelu' means the tanh GELU
 * (gelu_new), as T5.1.1 / mT5 were trained.
 */
function parseFeedForwardProj(value: unknown): { activation: T5Activation; gated: boolean } {
  if (typeof value !== 'string') throw configError(`'feed_forward_proj' must be a string such as 'relu' or 'gated-gelu', got ${JSON.stringify(value)}`);
  if (value === 'gated-gelu') return { activation: 'gelu_new', gated: true };
  const parts = value.split('-');
  const gated = parts.length === 2 && parts[0] === 'gated';
  const activation = ACTIVATIONS[parts[parts.length - 1]!];
  if ((parts.length === 2 && !gated) || parts.length > 2 || !activation) {
    throw configError(`unsupported feed_forward_proj '${value}'; supported: ${Object.keys(ACTIVATIONS).map((a) => `'${a}'`).join(', ')}, each optionally 'gated-' prefixed`);
  }
  return { activation, gated };
}

/** bert4keras's hidden_act: 'relu' (1.0) or ['gelu', 'linear'] (the gated 1.1 FFN). */
function parseHiddenAct(value: unknown, version: T5Version): { activation: T5Activation; gated: boolean } {
  if (value === undefined) return version === 't5' ? { activation: 'relu', gated: false } : { activation: 'gelu_new', gated: true };
  if (Array.isArray(value) && value.length === 2 && value[1] === 'linear' && typeof value[0] === 'string' && ACTIVATIONS[value[0]]) {
    // bert4keras means mesh-tf's gated GELU here, which is the tanh approximation.
    const act = ACTIVATIONS[value[0]]!;
    return { activation: act === 'gelu' ? 'gelu_new' : act, gated: true };
  }
  if (typeof value === 'string' && ACTIVATIONS[value]) return { activation: ACTIVATIONS[value]!, gated: false };
  throw configError(`unsupported hidden_act ${JSON.stringify(value)}; expected 'relu', 'gelu' or ['gelu', 'linear']`);
}

/** Parse an HF T5/mT5 config.json or a bert4keras T5 config.json (the family picks 1.0 vs 1.1 defaults). */
export function parseT5Config(raw: Record<string, unknown>, family: string): T5Config {
  if (!(FAMILY_NAMES as readonly string[]).includes(family)) throw configError(`unknown family '${family}'; expected one of ${FAMILY_NAMES.join(', ')}`);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw configError('expected a JSON object');
  const isHf = ['d_model', 'd_ff', 'd_kv', 'num_heads', 'feed_forward_proj'].some((k) => k in raw);
  const known = isHf ? HF_KEYS : BERT4KERAS_KEYS;
  const unknown = Object.keys(raw).filter((k) => !known.has(k) && !GENERIC_HF_KEYS.includes(k));
  if (unknown.length) {
    throw configError(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} in a ${isHf ? 'Hugging Face' : 'bert4keras'}-style T5 config`);
  }
  let version: T5Version = family === 'mt5' || raw.model_type === 'mt5' ? 'mt5' : (family as T5Version);
  let ffn: { activation: T5Activation; gated: boolean };
  let c: Omit<T5Config, 'version' | 'activation' | 'gated' | 'tieWordEmbeddings'>;
  if (isHf) {
    if (raw.model_type !== undefined && raw.model_type !== 't5' && raw.model_type !== 'mt5') throw configError(`model_type '${String(raw.model_type)}' is not a T5 model`);
    ffn = parseFeedForwardProj(raw.feed_forward_proj ?? 'relu');
    // A 't5' model_type with a gated FFN is T5.1.1 (e.g. google/t5-v1_1-*): 1.1 checkpoint names.
    if (version === 't5' && ffn.gated) version = 't5.1.1';
    const numLayers = positiveInt(raw, 'num_layers');
    c = {
      vocabSize: positiveInt(raw, 'vocab_size'), dModel: positiveInt(raw, 'd_model'), dKv: positiveInt(raw, 'd_kv'),
      dFf: positiveInt(raw, 'd_ff'), numHeads: positiveInt(raw, 'num_heads'), numLayers,
      numDecoderLayers: positiveInt(raw, 'num_decoder_layers', numLayers),
      relativeAttentionNumBuckets: positiveInt(raw, 'relative_attention_num_buckets', 32),
      relativeAttentionMaxDistance: positiveInt(raw, 'relative_attention_max_distance', 128),
      layerNormEpsilon: (raw.layer_norm_epsilon as number | undefined) ?? 1e-6,
      dropoutRate: rate(raw, 'dropout_rate', 0.1),
      padTokenId: nonNegativeInt(raw, 'pad_token_id', 0), eosTokenId: nonNegativeInt(raw, 'eos_token_id', 1),
      decoderStartTokenId: nonNegativeInt(raw, 'decoder_start_token_id', nonNegativeInt(raw, 'pad_token_id', 0)),
    };
  } else {
    ffn = parseHiddenAct(raw.hidden_act, version);
    if (raw.attention_scale === true) throw configError("'attention_scale': true is not T5 (T5 attention is unscaled)");
    const numLayers = positiveInt(raw, 'num_hidden_layers');
    const hidden = positiveInt(raw, 'hidden_size');
    const heads = positiveInt(raw, 'num_attention_heads');
    c = {
      vocabSize: positiveInt(raw, 'vocab_size'), dModel: hidden, dKv: positiveInt(raw, 'attention_head_size', hidden / heads),
      dFf: positiveInt(raw, 'intermediate_size'), numHeads: heads, numLayers,
      numDecoderLayers: positiveInt(raw, 'num_decoder_layers', numLayers),
      relativeAttentionNumBuckets: positiveInt(raw, 'relative_attention_num_buckets', 32),
      relativeAttentionMaxDistance: positiveInt(raw, 'relative_attention_max_distance', 128),
      layerNormEpsilon: (raw.layer_norm_epsilon as number | undefined) ?? 1e-6,
      dropoutRate: rate(raw, 'dropout_rate', rate(raw, 'hidden_dropout_prob', 0.1)),
      padTokenId: nonNegativeInt(raw, 'pad_token_id', 0), eosTokenId: nonNegativeInt(raw, 'eos_token_id', 1),
      decoderStartTokenId: nonNegativeInt(raw, 'decoder_start_token_id', 0),
    };
  }
  if (typeof c.layerNormEpsilon !== 'number' || !(c.layerNormEpsilon > 0)) throw configError(`'layer_norm_epsilon' must be a positive number, got ${JSON.stringify(c.layerNormEpsilon)}`);
  // The decoder's log-spaced buckets start at max_exact = buckets / 2 and need max_distance beyond it.
  const maxExact = Math.floor(c.relativeAttentionNumBuckets / 2);
  if (c.relativeAttentionNumBuckets < 4) throw configError(`'relative_attention_num_buckets' must be at least 4, got ${c.relativeAttentionNumBuckets}`);
  if (c.relativeAttentionMaxDistance <= maxExact) {
    throw configError(`'relative_attention_max_distance' (${c.relativeAttentionMaxDistance}) must exceed relative_attention_num_buckets / 2 (${maxExact})`);
  }
  // HF defaults tie_word_embeddings to true; bert4keras ties 1.0 and unties 1.1 / mT5.
  const tieWordEmbeddings = bool(raw, 'tie_word_embeddings', isHf ? true : version === 't5');
  return { version, ...c, ...ffn, tieWordEmbeddings };
}

// ---- family ---------------------------------------------------------------------------------

const APPLICATIONS = ['encoder', 'decoder', 'seq2seq'] as const;

/** Options that have no meaning for T5 (relative positions, no pooler): refuse rather than ignore. */
function checkOptions(c: T5Config, options: BuildOptions, application: string): void {
  const unsupported = (['hierarchicalPosition', 'maxPosition', 'withPool', 'numClasses', 'withNsp'] as const).filter((k) => options[k] !== undefined && options[k] !== false);
  if (unsupported.length) throw new GraphError('t5', `option${unsupported.length > 1 ? 's' : ''} ${unsupported.join(', ')} ${unsupported.length > 1 ? 'do' : 'does'} not apply to T5 (relative positions, no pooler)`);
  // A kernelized kind replaces the encoder's self-attention (the long input); the decoder keeps softmax.
  if (options.attention && options.attention.kind !== 'softmax' && application === 'decoder') {
    throw new GraphError('t5', `attention kind '${options.attention.kind}' applies to T5's encoder self-attention; application 'decoder' has no encoder (the decoder keeps softmax attention: short outputs, and its causal relative bias has no running-sum form here)`);
  }
  if (options.attentionKeySize !== undefined && options.attentionKeySize !== c.dKv) {
    throw new GraphError('t5', `attentionKeySize ${options.attentionKeySize} differs from the config's d_kv ${c.dKv}; T5 has one key size, set d_kv instead`);
  }
  if (options.keepTokens) {
    const bad = options.keepTokens.find((id) => !Number.isInteger(id) || id < 0 || id >= c.vocabSize);
    if (bad !== undefined) throw new GraphError('t5', `keepTokens holds ${bad}, outside the vocabulary of ${c.vocabSize}`);
  }
}

/** The config the graph is built with: keepTokens shrinks the vocabulary. */
function effectiveConfig(c: T5Config, options: BuildOptions): T5Config {
  return options.keepTokens ? { ...c, vocabSize: options.keepTokens.length } : c;
}

/**
 * `given` tensors stand in for graph inputs of the same name; a given `decoder_inputs_embeds`
 * (B, T, C) replaces the decoder's embedding lookup, and without a given `decoder_input_ids` the
 * graph then takes no decoder ids. In 'seq2seq' a given `encoder_hidden_states` (B, S, C) replaces
 * the encoder (the attention mask still masks the source).
 */
function build(scope: Scope, config: T5Config, application: string, options: BuildOptions, given: ModelInputs = {}): BuiltGraph {
  checkOptions(config, options, application);
  const c = effectiveConfig(config, options);
  const inputIds = () => given.input_ids ?? input('input_ids', 'int64', ['batch', 'seq']);
  const attentionMask = () => given.attention_mask ?? input('attention_mask', 'int64', ['batch', 'seq']);
  const decEmbeds = given.decoder_inputs_embeds ?? null;
  const decoderInputIds = () => given.decoder_input_ids ?? (decEmbeds ? null : input('decoder_input_ids', 'int64', ['batch', 'dec_seq']));
  const decoderInputs = (ids: Tensor | null): ModelInputs => ({ ...(ids ? { decoder_input_ids: ids } : {}), ...(decEmbeds ? { decoder_inputs_embeds: decEmbeds } : {}) });
  const labelsInput = () => given.labels ?? input('labels', 'int64', ['batch', 'dec_seq']);
  switch (application) {
    case 'encoder': {
      const ids = inputIds(), mask = attentionMask();
      const hidden = t5Encoder(scope, c, { inputIds: ids, attentionMask: mask }, options);
      return { inputs: { input_ids: ids, attention_mask: mask }, outputs: { last_hidden_state: hidden } };
    }
    case 'decoder': {
      // bert4keras's T5_Decoder: the encoder output comes in as an input.
      const encoderHidden = given.encoder_hidden_states ?? input('encoder_hidden_states', scope.dtype, ['batch', 'seq', c.dModel]);
      const mask = given.encoder_attention_mask ?? input('encoder_attention_mask', 'int64', ['batch', 'seq']);
      const ids = decoderInputIds(), labels = labelsInput();
      const d = t5Decoder(scope, c, { decoderInputIds: ids, decoderInputsEmbeds: decEmbeds, encoderHidden, encoderAttentionMask: mask }, options);
      return {
        inputs: { encoder_hidden_states: encoderHidden, encoder_attention_mask: mask, ...decoderInputs(ids), labels },
        outputs: { last_hidden_state: d.hidden, logits: d.logits, loss: crossEntropy(d.logits, labels) },
      };
    }
    case 'seq2seq': {
      const ids = inputIds(), mask = attentionMask(), decIds = decoderInputIds();
      const labels = labelsInput();
      // A given encoder output (TeaForN's later passes reuse pass 1's) stands in for running the encoder.
      const encoderHidden = given.encoder_hidden_states ?? t5Encoder(scope, c, { inputIds: ids, attentionMask: mask }, options);
      const d = t5Decoder(scope, c, { decoderInputIds: decIds, decoderInputsEmbeds: decEmbeds, encoderHidden, encoderAttentionMask: mask }, options);
      return {
        inputs: { input_ids: ids, attention_mask: mask, ...decoderInputs(decIds), labels },
        outputs: { encoder_last_hidden_state: encoderHidden, last_hidden_state: d.hidden, logits: d.logits, loss: crossEntropy(d.logits, labels) },
      };
    }
    default:
      throw new GraphError('t5', `unknown application '${application}'; T5 supports ${APPLICATIONS.join(', ')}`);
  }
}

// ---- weight maps ------------------------------------------------------------------------------

/**
 * Checkpoint names for every weight. Ours: kernels [in, out], embedding-like tables [rows, C]
 * (shared and lm_head [V, C], relative_attention_bias [buckets, H]). Hugging Face stores Linear
 * weights [out, in] (transposed) and lm_head [V, C]. Google / Mesh-TF (as bert4keras maps it)
 * stores q/k/v/o and FFN kernels [in, out], relative_attention_bias [H, buckets] (transposed),
 * decoder/logits/kernel [C, V] (transposed); 1.0 names its norms `layer_norm` and
 * `{encoder,decoder}/final_layer_norm`, 1.1 / mT5 `rms_norm` and `{encoder,decoder}/rms_norm`.
 * `rows` (keepTokens) index the vocabulary axis of our layout, i.e. after any transpose.
 */
function weightMap(config: T5Config, application: string, naming: Naming, options: BuildOptions): WeightMapping[] {
  if (!(APPLICATIONS as readonly string[]).includes(application)) throw new GraphError('t5', `unknown application '${application}'; T5 supports ${APPLICATIONS.join(', ')}`);
  const c = config;
  const hf = naming === 'hf';
  const v11 = c.version !== 't5';
  const rows = options.keepTokens ? { rows: options.keepTokens } : {};
  const out: WeightMapping[] = [];
  const pad3 = (i: number) => String(i).padStart(3, '0');
  const norm = (stack: string, i: number, layer: number) => hf
    ? `${stack}.block.${i}.layer.${layer}.layer_norm.weight`
    : `${stack}/block_${pad3(i)}/layer_${pad3(layer)}/${v11 ? 'rms_norm' : 'layer_norm'}/scale`;
  const sub = (stack: string, i: number, layer: number, module: string, leaf: string) => hf
    ? `${stack}.block.${i}.layer.${layer}.${module}.${leaf}.weight`
    : `${stack}/block_${pad3(i)}/layer_${pad3(layer)}/${module}/${leaf}${module === 'DenseReluDense' ? '/kernel' : ''}`;

  out.push({ ours: 'shared', theirs: hf ? 'shared.weight' : 'shared/embedding', ...rows });
  const stacks: { stack: 'encoder' | 'decoder'; layers: number }[] = [];
  if (application !== 'decoder') stacks.push({ stack: 'encoder', layers: c.numLayers });
  if (application !== 'encoder') stacks.push({ stack: 'decoder', layers: c.numDecoderLayers });
  for (const { stack, layers } of stacks) {
    out.push({
      ours: `${stack}/block_0/layer_0/SelfAttention/relative_attention_bias`,
      theirs: hf ? `${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight` : `${stack}/block_000/layer_000/SelfAttention/relative_attention_bias`,
      transpose: !hf,
    });
    const ffnLayer = stack === 'encoder' ? 1 : 2;
    for (let i = 0; i < layers; i++) {
      const attentions: [number, string][] = [[0, 'SelfAttention']];
      if (stack === 'decoder') attentions.push([1, 'EncDecAttention']);
      for (const [layer, module] of attentions) {
        for (const w of ['q', 'k', 'v', 'o']) {
          out.push({ ours: `${stack}/block_${i}/layer_${layer}/${module}/${w}/kernel`, theirs: sub(stack, i, layer, module, w), transpose: hf });
        }
      }
      for (const w of c.gated ? ['wi_0', 'wi_1', 'wo'] : ['wi', 'wo']) {
        out.push({ ours: `${stack}/block_${i}/layer_${ffnLayer}/DenseReluDense/${w}/kernel`, theirs: sub(stack, i, ffnLayer, 'DenseReluDense', w), transpose: hf });
      }
      for (let layer = 0; layer <= ffnLayer; layer++) out.push({ ours: `${stack}/block_${i}/layer_${layer}/layer_norm/scale`, theirs: norm(stack, i, layer) });
    }
    out.push({
      ours: `${stack}/final_layer_norm/scale`,
      theirs: hf ? `${stack}.final_layer_norm.weight` : v11 ? `${stack}/rms_norm/scale` : `${stack}/final_layer_norm/scale`,
    });
  }
  if (application !== 'encoder' && !c.tieWordEmbeddings) {
    out.push({ ours: 'lm_head', theirs: hf ? 'lm_head.weight' : 'decoder/logits/kernel', transpose: !hf, ...rows });
  }
  return out;
}

export const t5Family: FamilyDefinition<T5Config> = {
  names: [...FAMILY_NAMES],
  applications: [...APPLICATIONS],
  parseConfig: parseT5Config,
  build,
  weightMap,
};
