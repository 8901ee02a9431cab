/**
 * ELECTRA pretraining (Clark et al. 2020): a small generator does MLM on the masked rows; its samples
 * replace the masked tokens; the discriminator tells replaced from original at every token.
 *
 *   loss = MLM(generator) + λ · BCE(discriminator, replaced)      λ = 50
 *
 * Both live in one training graph (one ORT run per step). The embeddings (word, position, type, their
 * LayerNorm) are one set of weights under `embeddings/`, shared by the generator (its own weights
 * under `generator/`, with a projection when its width differs) and the discriminator (root names,
 * as an 'electra' model's 'discriminator' application). Sampling is not differentiable, so it is a
 * run of its own before the training step: the generator's forward at the masked positions with the
 * current weights, sampled in that graph from seeded uniforms fed by the host (inverse CDF); the
 * host writes the samples into the rows. A seeded sample makes resumed runs repeat exactly.
 */
import { add, cast, cumsum, less, mul, reduceSum, softmax, input } from '../../graph/ops.ts';
import type { Tensor } from '../../graph/tensor.ts';
import type { HostTensor } from '../../graph/dtype.ts';
import { crossEntropy } from '../../graph/composite.ts';
import { buildBert, maskedBinaryCrossEntropy, parseBertConfig, type BertConfig } from '../../models/bert.ts';
import { Scope, type ParamStore } from '../../nn/params.ts';
import { Random } from '../../util/random.ts';
import { rocAuc } from '../../metrics/classification.ts';
import { compile, type Executable } from '../../runtime/session.ts';
import { gatheredHead, type ModelSize } from './model.ts';
import { rowSeed } from './data.ts';

export const ELECTRA_LAMBDA = 50;
/** Feeds of the generator's trunk are renamed with this prefix (both trunks would create `input_ids`). */
const GEN = 'generator/';

/** A scope whose `embeddings` child is the root's: the generator's own weights go under `generator/`, the embeddings are shared. */
class TiedScope extends Scope {
  constructor(private readonly root: Scope, prefix: string) {
    super(root.store, prefix, root.options, root.declared);
  }
  override child(name: string): Scope {
    return name === 'embeddings' ? this.root.child('embeddings') : super.child(name);
  }
}

/** The generator's width over the discriminator's when none is given (the ELECTRA paper's best for small models: 1/4 to 1/2). */
export const DEFAULT_GENERATOR_RATIO = 0.25;

/** Discriminator and generator configs (Hugging Face ELECTRA style); the generator is `generatorRatio` of the width. */
export function electraConfigs(size: ModelSize, vocabSize: number, o: { embedding?: number; generatorRatio?: number; dropout?: number } = {}): { discriminator: Record<string, unknown>; generator: Record<string, unknown> } {
  const E = o.embedding ?? size.hidden, d = o.dropout ?? 0.1, ratio = o.generatorRatio ?? DEFAULT_GENERATOR_RATIO;
  if (!(ratio > 0 && ratio <= 1)) throw new RangeError(`generatorRatio must be > 0 and <= 1 (the generator's width over the discriminator's), got ${ratio}`);
  const wanted = Math.max(16, Math.round(size.hidden * ratio));
  const gHeads = Math.max(1, Math.round(wanted / 64));
  // A width the heads divide (e.g. 160 → 2 heads of 80); widths that already divide are kept, so older runs resume unchanged.
  const gHidden = gHeads * Math.round(wanted / gHeads);
  const common = { model_type: 'electra', vocab_size: vocabSize, embedding_size: E, num_hidden_layers: size.layers, hidden_act: 'gelu', hidden_dropout_prob: d, attention_probs_dropout_prob: d, max_position_embeddings: size.maxPosition, type_vocab_size: 2, initializer_range: 0.02, layer_norm_eps: 1e-12, pad_token_id: 0 };
  return {
    discriminator: { ...common, architectures: ['ElectraForPreTraining'], hidden_size: size.hidden, num_attention_heads: size.heads, intermediate_size: size.intermediate ?? 4 * size.hidden },
    generator: { ...common, architectures: ['ElectraForMaskedLM'], hidden_size: gHidden, num_attention_heads: gHeads, intermediate_size: 4 * gHidden },
  };
}

export interface ElectraConfigs { discriminator: BertConfig; generator: BertConfig }

export function parseElectra(raw: { discriminator: Record<string, unknown>; generator: Record<string, unknown> }): ElectraConfigs {
  return { discriminator: parseBertConfig(raw.discriminator, 'electra'), generator: parseBertConfig(raw.generator, 'electra') };
}

/** The generator's MLM logits at mlm_positions (N, V); its feeds are `generator/input_ids` etc. */
export function generatorLogits(root: Scope, c: BertConfig): Tensor {
  const gen = new TiedScope(root, 'generator');
  const built = buildBert(gen, c, 'encoder', {});
  // buildBert names its inputs input_ids, attention_mask, token_type_ids; the discriminator's trunk
  // creates the same names, so the generator's leaves are renamed (leaf names are read at lowering).
  for (const t of Object.values(built.inputs)) (t.node.attrs as { name: string }).name = GEN + (t.node.attrs.name as string);
  return gatheredHead(gen, c, built.outputs.last_hidden_state!, input('mlm_positions', 'int64', ['npred']));
}

/**
 * The joint loss. Feeds: generator/input_ids (masked rows), generator/attention_mask,
 * generator/token_type_ids, mlm_positions, mlm_labels; input_ids (corrupted rows), attention_mask,
 * token_type_ids, replaced (1 where the sample differs from the original).
 */
export function electraLoss(scope: Scope, c: ElectraConfigs, lambda = ELECTRA_LAMBDA): { loss: Tensor; generatorLoss: Tensor; discriminatorLoss: Tensor; discriminatorLogits: Tensor } {
  const genLoss = crossEntropy(generatorLogits(scope, c.generator), input('mlm_labels', 'int64', ['npred']));
  const disc = buildBert(scope, c.discriminator, 'discriminator', {});
  const logits = disc.outputs.logits!; // (B, T)
  const discLoss = maskedBinaryCrossEntropy(logits, input('replaced', 'int64', ['batch', 'seq']), disc.inputs.attention_mask!);
  return { loss: add(genLoss, mul(discLoss, lambda)), generatorLoss: genLoss, discriminatorLoss: discLoss, discriminatorLogits: logits };
}

/**
 * Host-side sampling between the generator's forward pass and the training step: turns an MLM batch
 * (maskedBatch's feeds) into the joint step's feeds.
 */
export class ElectraSampler {
  private exe: Promise<Executable> | undefined;
  private paramNames: string[] = [];
  constructor(private readonly c: ElectraConfigs) {}

  /** Compiles the sampling graph (also done by the first `corrupt`), so a run can leave compiling out of its step time. */
  compiled(store: ParamStore): Promise<Executable> {
    this.exe ??= (async () => {
      // Weights are fed each step (they change every step), not baked in.
      const logits = generatorLogits(new Scope(store), this.c.generator); // (N, V)
      // Inverse-CDF sampling in the graph: the token is the count of CDF entries below a uniform u
      // fed per position. ORT does the softmax over the vocabulary, and N ids come back instead of
      // N x V logits (32 MB per step at 608 positions x 13k tokens) for a softmax in JS.
      const u = input('sample_u', 'float32', ['npred', 1]);
      const cdf = cumsum(softmax(logits, -1), 1);
      const sample = reduceSum(cast(less(cdf, u), 'float32'), [1]); // (N)
      const exe = await compile({ sample }, { params: 'inputs', name: 'electra_generator' });
      const batchFeeds = new Set(['mlm_positions', 'sample_u', ...['input_ids', 'attention_mask', 'token_type_ids'].map((k) => GEN + k)]);
      this.paramNames = exe.inputs.map((i) => i.name).filter((n) => !batchFeeds.has(n));
      return exe;
    })();
    return this.exe;
  }

  /** The step's feeds: the generator sees the masked rows, the discriminator the rows with samples at the masked positions. */
  async corrupt(batch: Record<string, HostTensor>, store: ParamStore, rng: Random): Promise<Record<string, HostTensor>> {
    const exe = await this.compiled(store);
    const feeds: Record<string, HostTensor> = { mlm_positions: batch.mlm_positions! };
    for (const k of ['input_ids', 'attention_mask', 'token_type_ids']) if (batch[k]) feeds[GEN + k] = batch[k]!;
    for (const n of this.paramNames) feeds[n] = store.get(n)!;
    const V = this.c.generator.vocabSize;
    const positions = batch.mlm_positions!.data as BigInt64Array, labels = batch.mlm_labels!.data as BigInt64Array;
    // One draw per predicted position, in order (padding positions draw none), so a seeded step repeats.
    const u = new Float32Array(labels.length);
    for (let i = 0; i < labels.length; i++) if (labels[i] !== -100n) u[i] = rng.next();
    feeds.sample_u = { dtype: 'float32', shape: [labels.length, 1], data: u };
    const sample = (await exe.run(feeds)).sample!.data as Float32Array;
    const ids = batch.input_ids!.data as BigInt64Array;
    const corrupted = ids.slice(), replaced = new BigInt64Array(ids.length);
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] === -100n) continue;
      const pick = Math.min(V - 1, Math.round(sample[i]!)); // u above a CDF that rounds to just under 1: the last token
      const at = Number(positions[i]);
      corrupted[at] = BigInt(pick);
      replaced[at] = BigInt(pick) === labels[i] ? 0n : 1n;
    }
    // Positions not predicted keep their original token (the masked batch changed only predicted ones).
    const out: Record<string, HostTensor> = { ...feeds, mlm_labels: batch.mlm_labels!, input_ids: { ...batch.input_ids!, data: corrupted }, replaced: { dtype: 'int64', shape: batch.input_ids!.shape, data: replaced } };
    for (const n of [...this.paramNames, 'sample_u']) delete out[n];
    for (const k of ['attention_mask', 'token_type_ids']) if (batch[k]) out[k] = batch[k]!;
    return out;
  }

  async release(): Promise<void> {
    if (this.exe) await (await this.exe).release();
  }
}

/** Replaced-token detection on held-out rows (the discriminator's own task). */
export interface DiscriminatorFigures {
  /** BCE per attended token, as the training loss weighs it. */
  loss: number;
  /** Share of attended tokens called right (replaced iff logit > 0); a discriminator that calls nothing replaced scores 1 − `replaced`. */
  accuracy: number;
  /** ROC AUC of the logits for replaced vs original tokens: 0.5 cannot tell them apart (a collapsed discriminator), 1 ranks every replaced token first. */
  auc: number;
  /** Share of attended tokens the generator's samples replaced. */
  replaced: number;
  tokens: number;
}

/**
 * The discriminator on held-out MLM batches, each corrupted by the generator's samples as in
 * training, drawn from a seed fixed per batch (so successive evaluations see the same uniforms).
 * The batches hold the masked rows (input_ids, attention_mask, token_type_ids, mlm_positions, mlm_labels).
 */
export async function evaluateDiscriminator(c: ElectraConfigs, store: ParamStore, sampler: ElectraSampler, batches: Record<string, HostTensor>[], seed = 1): Promise<DiscriminatorFigures> {
  const logits = buildBert(new Scope(store), c.discriminator, 'discriminator', {}).outputs.logits!; // (B, T); inference: dropout off
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n), name: 'electra_discriminator_eval' });
  const scores: number[] = [], labels: number[] = [];
  let lossSum = 0, right = 0;
  try {
    const wanted = new Set(exe.inputs.map((i) => i.name));
    for (const [i, b] of batches.entries()) {
      const feeds = await sampler.corrupt(b, store, new Random(rowSeed(seed, i, 0xd15c)));
      const x = (await exe.run(Object.fromEntries(Object.entries(feeds).filter(([n]) => wanted.has(n))))).logits!.data as Float32Array;
      const mask = feeds.attention_mask!.data as BigInt64Array, replaced = feeds.replaced!.data as BigInt64Array;
      for (let t = 0; t < x.length; t++) {
        if (mask[t] !== 1n) continue;
        const y = Number(replaced[t]), z = x[t]!;
        lossSum += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        right += (z > 0 ? 1 : 0) === y ? 1 : 0;
        scores.push(z);
        labels.push(y);
      }
    }
  } finally {
    await exe.release();
  }
  const n = labels.length, replacedCount = labels.reduce((a, y) => a + y, 0);
  return { loss: n ? lossSum / n : NaN, accuracy: n ? right / n : NaN, auc: replacedCount && replacedCount < n ? rocAuc(scores, labels) : NaN, replaced: n ? replacedCount / n : NaN, tokens: n };
}
