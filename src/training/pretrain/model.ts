/**
 * The MLM pretraining graph. BERT's trunk (`buildBert`, application 'encoder') and BERT's MLM head
 * under the same weight names as the 'mlm' application, but the head runs only at the masked
 * positions (gathered, as Google's run_pretraining does): ~15% of the rows instead of all of them,
 * which at a small hidden size is a third of the step's work.
 *
 *   h = trunk(input_ids)                              (B, T, H)
 *   x = h.reshape(B*T, H)[mlm_positions]              (N, H)
 *   logits = LN(gelu(dense(x))) @ word_embeddings^T + output_bias   (N, V)
 *   loss = crossEntropy(logits, mlm_labels)           labels -100 ignored
 *
 * Since the names are the 'mlm' application's, a saved BERT MLM model directory can start a run
 * (`readInitModel`: continued pretraining).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crossEntropy } from '../../graph/composite.ts';
import { add, gather, input, matmul, reshape, transpose } from '../../graph/ops.ts';
import type { Tensor } from '../../graph/tensor.ts';
import type { HostTensor } from '../../graph/dtype.ts';
import { buildBert, parseBertConfig, type BertConfig } from '../../models/bert.ts';
import { buildModel } from '../../models/build.ts';
import type { BuildOptions } from '../../models/family.ts';
import { dense, layerNorm } from '../../nn/layers.ts';
import { initializers, ParamStore, Scope } from '../../nn/params.ts';
import { compile } from '../../runtime/session.ts';
import { loadTokenizer } from '../../tokenizers/load.ts';
import type { Tokenizer } from '../../tokenizers/types.ts';

export interface ModelSize {
  layers: number;
  hidden: number;
  heads: number;
  /** FFN width (default 4 * hidden). */
  intermediate?: number;
  maxPosition: number;
}

/** A Hugging Face style config.json for a BERT of this size (model_type "bert": positions from 0, no RoBERTa offset). */
export function bertConfigJson(size: ModelSize, vocabSize: number, dropout = 0.1): Record<string, unknown> {
  if (size.hidden % size.heads !== 0) throw new RangeError(`hidden ${size.hidden} is not divisible by ${size.heads} heads`);
  return {
    model_type: 'bert', architectures: ['BertForMaskedLM'], vocab_size: vocabSize, hidden_size: size.hidden,
    num_hidden_layers: size.layers, num_attention_heads: size.heads, intermediate_size: size.intermediate ?? 4 * size.hidden,
    hidden_act: 'gelu', hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout,
    max_position_embeddings: size.maxPosition, type_vocab_size: 2, initializer_range: 0.02, layer_norm_eps: 1e-12, pad_token_id: 0,
  };
}

export function parseConfig(raw: Record<string, unknown>): BertConfig {
  return parseBertConfig(raw, 'bert');
}

/**
 * BERT's MLM head at flat positions of h (B, T, H): (N, V) logits. The output embedding is the word
 * table of `scope.child('embeddings')` (tied), so a scope that maps 'embeddings' elsewhere ties it there.
 */
export function gatheredHead(scope: Scope, c: BertConfig, h: Tensor, positions: Tensor): Tensor {
  const x = gather(reshape(h, [-1, c.hiddenSize]), positions); // (N, H)
  // Same names as bert.ts's mlmHead, so the weights load as an 'mlm' model.
  const wordTable = scope.child('embeddings').param('word_embeddings', [c.vocabSize, c.embeddingSize], initializers.truncatedNormal(0.02));
  const m = scope.child('mlm');
  let t = dense(m.child('transform/dense'), x, c.embeddingSize, { activation: c.family === 'roberta' || c.family === 'electra' ? 'gelu' : c.hiddenAct }); // (N, E)
  t = layerNorm(m.child('transform/LayerNorm'), t, c.layerNormEps);
  return add(matmul(t, transpose(wordTable, [1, 0])), m.param('output_bias', [c.vocabSize], initializers.zeros())); // (N, V)
}

/** The gathered MLM head and loss (see the header). Inputs: the trunk's plus mlm_positions, mlm_labels. */
export function gatheredMlm(scope: Scope, c: BertConfig, o: BuildOptions = {}): { inputs: Record<string, Tensor>; logits: Tensor; loss: Tensor; hidden: Tensor } {
  const built = buildBert(scope, c, 'encoder', o);
  const h = built.outputs.last_hidden_state!; // (B, T, H)
  const positions = input('mlm_positions', 'int64', ['npred']);
  const labels = input('mlm_labels', 'int64', ['npred']);
  const logits = gatheredHead(scope, c, h, positions);
  return { inputs: { ...built.inputs, mlm_positions: positions, mlm_labels: labels }, logits, loss: crossEntropy(logits, labels), hidden: h };
}

export interface MlmFigures {
  /** Top-1 accuracy over every chosen position, whatever its input became ([MASK] 80%, a random token 10%, unchanged 10%), as BERT's masked_lm_accuracy. */
  accuracy: number;
  loss: number;
  /** Predicted tokens scored. */
  tokens: number;
  /** Accuracy over the chosen positions whose input is [MASK] only, the harder figure (given maskId). */
  maskedAccuracy?: number;
  maskedTokens?: number;
}

/**
 * MLM accuracy and loss over fixed masked batches (inference: dropout off). `o.logits` builds the
 * gathered logits (default: gatheredMlm's). With `o.maskId`, also the accuracy at the [MASK]ed
 * positions alone: the unchanged 10% are mostly predicted right, so they lift `accuracy` well above
 * what filling in a [MASK] achieves.
 */
export async function evaluateMlm(c: BertConfig, store: ParamStore, batches: Record<string, HostTensor>[], o: { logits?: (scope: Scope) => Tensor; maskId?: number } = {}): Promise<MlmFigures> {
  const { maskId } = o;
  const logits = (o.logits ?? ((scope: Scope) => gatheredMlm(scope, c).logits))(new Scope(store));
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n), name: 'mlm_eval' });
  let hits = 0, n = 0, lossSum = 0, maskedHits = 0, masked = 0;
  const V = c.vocabSize;
  try {
    for (const b of batches) {
      const wanted = new Set(exe.inputs.map((i) => i.name));
      const feeds = Object.fromEntries(Object.entries(b).filter(([n]) => wanted.has(n)));
      const out = (await exe.run(feeds)).logits!.data as Float32Array;
      const labels = b.mlm_labels!.data as BigInt64Array;
      const positions = b.mlm_positions?.data as BigInt64Array | undefined;
      const inputIds = b.input_ids?.data as BigInt64Array | undefined;
      for (let i = 0; i < labels.length; i++) {
        const y = Number(labels[i]);
        if (y === -100) continue;
        const row = i * V;
        let max = -Infinity, best = 0;
        for (let v = 0; v < V; v++) if (out[row + v]! > max) { max = out[row + v]!; best = v; }
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(out[row + v]! - max);
        lossSum += Math.log(z) + max - out[row + y]!;
        hits += best === y ? 1 : 0;
        n++;
        if (maskId !== undefined && positions && inputIds && Number(inputIds[Number(positions[i])]) === maskId) {
          maskedHits += best === y ? 1 : 0;
          masked++;
        }
      }
    }
  } finally {
    await exe.release();
  }
  return { accuracy: n ? hits / n : NaN, loss: n ? lossSum / n : NaN, tokens: n, ...(maskId !== undefined ? { maskedAccuracy: masked ? maskedHits / masked : NaN, maskedTokens: masked } : {}) };
}

/** A model directory a run starts from (continued pretraining): its size, tokenizer and MLM weights. */
export interface InitModel {
  size: Required<ModelSize>;
  tokenizer: Tokenizer;
  /** float32 weights under the pretraining graph's names (the 'mlm' application's). */
  weights: Map<string, HostTensor>;
}

/**
 * Reads a BERT model directory with an MLM head (what `bert4ts pretrain export` writes) as the start
 * of a new run. Refuses what the pretraining graph cannot continue: another family (RoBERTa's
 * positions are offset, ALBERT's weights shared) or a directory without trained MLM head weights.
 */
export async function readInitModel(dir: string): Promise<InitModel> {
  const fail = (m: string) => new Error(`init model ${dir}: ${m}`);
  const size = readInitSize(dir);
  let model: ReturnType<typeof buildModel>;
  try {
    model = buildModel(dir, { application: 'mlm' });
  } catch (e) {
    throw fail((e as Error).message);
  }
  if (!model.loadReport) throw fail('no weights to start from');
  // Fresh head weights would be trained as if pretrained: a directory without a trained MLM head is refused.
  const missing = model.loadReport.missingOptional;
  if (missing.length) throw fail(`the checkpoint lacks ${missing.join(', ')} (a directory without a trained MLM head cannot continue MLM pretraining)`);
  const weights = new Map<string, HostTensor>();
  for (const n of model.weightNames()) {
    const t = model.store.get(n)!;
    if (t.dtype !== 'float32') throw fail(`weight '${n}' is ${t.dtype}, expected float32 after loading`);
    weights.set(n, t);
  }
  return { size, tokenizer: await loadTokenizer(dir), weights };
}

/** The size of a model directory a run can start from (its config only; readInitModel's first check). */
export function readInitSize(dir: string): Required<ModelSize> {
  const fail = (m: string) => new Error(`init model ${dir}: ${m}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw fail(`not a model directory (config.json: ${(e as Error).message})`);
  }
  if (raw.model_type !== 'bert') throw fail(`model_type '${String(raw.model_type)}': continued pretraining takes a BERT model (model_type 'bert', as pretrain export writes)`);
  const { bert4ts: _, ...hf } = raw;
  const c = parseConfig(hf);
  // The run rebuilds the model from its size (bertConfigJson): anything else must be what that writes.
  const fixed = parseConfig(bertConfigJson({ layers: 1, hidden: c.hiddenSize, heads: c.numHeads, maxPosition: c.maxPosition }, c.vocabSize));
  for (const k of ['embeddingSize', 'hiddenAct', 'typeVocabSize', 'layerNormEps', 'padTokenId'] as const) {
    if (c[k] !== fixed[k]) throw fail(`${k} ${String(c[k])} differs from the ${String(fixed[k])} a pretraining run builds`);
  }
  return { layers: c.numLayers, hidden: c.hiddenSize, heads: c.numHeads, intermediate: c.intermediateSize, maxPosition: c.maxPosition };
}
