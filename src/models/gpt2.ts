/**
 * GPT-2 (and CPM-LM, which is GPT-2-shaped): token + learned position embeddings, pre-LN blocks
 * "LN -> Att(causal) -> Add -> LN -> FFN(gelu_tanh) -> Add", a final LN, and an output layer tied
 * to the token embeddings.
 */
import { add, gather, matmul, reshape, slice, transpose } from '../graph/ops.ts';
import { dimAdd, dimSub, GraphError, type Dim, type Tensor } from '../graph/tensor.ts';
import { attention, causalAttentionMask, andMasks, paddingMask, type AttentionSpec, type LayerCache, type RunningSums } from '../nn/attention.ts';
import { dropout, feedForward, layerNorm, type Activation } from '../nn/layers.ts';
import { initializers, type Scope } from '../nn/params.ts';

export interface GPT2Config {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize?: number;
  maxPosition: number;
  layerNormEpsilon?: number;
  dropout?: number;
  activation?: Activation;
}

export type { LayerCache };

export interface GPT2Inputs {
  /** (B, T) int64; optional when `inputsEmbeds` is given. */
  ids?: Tensor | null;
  /** (B, T, C): input vectors in place of the token-embedding lookup (positions are still added). */
  inputsEmbeds?: Tensor | null;
  /** (B, P+T) 1 = token, 0 = padding (left padding for batched prompts). */
  attentionMask?: Tensor | null;
  /** Per-layer past keys/values, each (B, H, P, D). */
  cache?: LayerCache[] | null;
  /** Number of cached positions P (a dim of the cache inputs). */
  past?: Dim;
  /** Explicit position ids (B, T); default past..past+T-1. */
  positionIds?: Tensor | null;
  /** Compute logits for the last position only (decoding): (B, 1, V). */
  lastPositionOnly?: boolean;
  /** The attention kind (default softmax). */
  attention?: AttentionSpec;
  /**
   * Kernelized kinds, decoding: per-layer running sums of the earlier positions (instead of `cache`);
   * `attentionMask` then covers the new positions only, (B, T).
   */
  states?: RunningSums[] | null;
}

export interface GPT2Outputs {
  hidden: Tensor; // (B, T, C)
  logits: Tensor; // (B, T, V)
  cache: LayerCache[];
  /** Kernelized kinds: per-layer running sums including the new positions. */
  states: RunningSums[];
}

export function gpt2(scope: Scope, c: GPT2Config, inputs: GPT2Inputs): GPT2Outputs {
  const embeds = inputs.inputsEmbeds ?? null;
  if (!inputs.ids && !embeds) throw new GraphError('gpt2', 'needs ids or inputsEmbeds');
  if (embeds && (embeds.rank !== 3 || embeds.shape[2] !== c.hiddenSize)) throw new GraphError('gpt2', `inputsEmbeds must be (batch, seq, ${c.hiddenSize}), got [${embeds.shape.join(', ')}]`);
  const [, seq] = (embeds ?? inputs.ids!).shape;
  const past = inputs.past ?? 0;
  if (typeof seq === 'number' && typeof past === 'number' && seq + past > c.maxPosition) {
    throw new GraphError('gpt2', `sequence of ${seq + past} positions exceeds maxPosition ${c.maxPosition}`);
  }
  const wte = scope.param('wte', [c.vocabSize, c.hiddenSize], initializers.truncatedNormal(0.02));
  const tokens = embeds ?? gather(wte, inputs.ids!); // (B, T, C)
  const wpe = scope.param('wpe', [c.maxPosition, c.hiddenSize], initializers.truncatedNormal(0.01));
  const positions = inputs.positionIds ? gather(wpe, inputs.positionIds) : reshape(slice(wpe, 0, past, dimAdd(past, seq!)), [1, seq!, c.hiddenSize]);
  let h = dropout(scope, add(tokens, positions), c.dropout ?? 0); // (B, T, C)
  if (inputs.cache?.some((l) => l.append === 'host') && !inputs.attentionMask) throw new GraphError('gpt2', "a host-appended cache (spare slots) needs attentionMask, 0 at the spare slots: the causal mask alone would let queries see them");
  const mask = andMasks(causalAttentionMask(seq!, past), inputs.attentionMask ? paddingMask(inputs.attentionMask) : null);
  const eps = c.layerNormEpsilon ?? 1e-5;
  const kernelized = !!inputs.attention && inputs.attention.kind !== 'softmax';
  const structure = kernelized ? { padding: inputs.attentionMask ?? null, causal: true } : undefined;
  const newCache: LayerCache[] = [];
  const states: RunningSums[] = [];
  for (let i = 0; i < c.numLayers; i++) {
    const block = scope.child(`h${i}`);
    const a = attention(block.child('attn'), layerNorm(block.child('ln_1'), h, eps), {
      heads: c.numHeads, mask, dropout: c.dropout, cache: inputs.cache?.[i] ?? null,
      names: { query: 'q', key: 'k', value: 'v', output: 'c_proj' },
      kind: inputs.attention, structure, state: inputs.states?.[i] ?? null,
    });
    newCache.push({ k: a.k, v: a.v });
    if (a.state) states.push(a.state);
    h = add(h, dropout(block, a.output, c.dropout ?? 0));
    const f = feedForward(block.child('mlp'), layerNorm(block.child('ln_2'), h, eps), {
      innerSize: c.intermediateSize ?? 4 * c.hiddenSize, activation: c.activation ?? 'gelu_tanh', dropout: 0,
    });
    h = add(h, dropout(block, f, c.dropout ?? 0));
  }
  h = layerNorm(scope.child('ln_f'), h, eps);
  const headInput = inputs.lastPositionOnly ? slice(h, 1, dimSub(seq!, 1), seq!) : h;
  const logits = matmul(headInput, transpose(wte, [1, 0])); // tied output layer: (B, T, V)
  return { hidden: h, logits, cache: newCache, states };
}
