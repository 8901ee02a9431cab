/**
 * TeaForN: teacher forcing with N-grams (Goodman, Ding and Soricut, EMNLP 2020, arXiv 2010.03494;
 * Su Jianlin's post https://kexue.fm/archives/7818), as a loss for the Trainer.
 *
 * Teacher forcing feeds the gold token x_{t} at every decoder position and scores the next one:
 *
 *   pass 1 (teacher forcing):  e^{(1)}_t = E[x_t]                      (the gold embeddings)
 *
 * TeaForN unrolls N passes of the same decoder (shared weights) along a second time axis. Pass i+1
 * sees, at every position t whose input token is a prediction target, not E[x_t] but what pass i
 * produced one position earlier, where it was predicting x_t:
 *
 *   pass i+1:  e^{(i+1)}_t = f(pass i at t-1)   where x_t is a target (it is scored from t-1)
 *              e^{(i+1)}_t = E[x_t]             elsewhere (the source, [CLS], the start token)
 *
 *   feed 'hidden': f = h^{(i)}_{t-1}, the final hidden state (the model's `last_hidden_state`: GPT-2
 *                  after ln_f, BERT after the last block, T5's decoder after its final norm);
 *   feed 'topk':   f = Σ_{j ∈ topk(p^{(i)}_{t-1})} p^{(i)}_{t-1}[j] E[j] / Σ_{j ∈ topk} p^{(i)}_{t-1}[j],
 *                  the top-k-probability-weighted average of the embedding rows (E is the input
 *                  embedding table, which is the output layer too where the head is tied);
 *   feed 'gumbel': f = softmax((z^{(i)}_{t-1} + g) / τ) · E, the post's Gumbel-softmax: z the logits,
 *                  g_j = −log(−log u_j) with u_j ~ U(0, 1) drawn afresh per fed position, pass and step
 *                  (in the graph, seeded as dropout is, and like dropout only in a training scope;
 *                  `noise: false` leaves g = 0). As τ → 0 it tends to E[argmax(z + g)], a sampled
 *                  token's embedding; at τ = 1 without noise it is the top-k feed with k = vocabulary.
 *
 * The loss sums the N passes' token cross-entropies, each scored against the same gold tokens:
 *
 *   L = − Σ_{i=1..N} λ_i · mean_t log p^{(i)}_t[w_t]     (each mean over the labelled positions)
 *
 * so with N = 1 (λ = [1]) it is exactly the model's teacher-forcing loss. Every pass is one more
 * forward (and backward) over the decoder inside the same step graph, so training costs about N
 * times a teacher-forcing step, still one ORT run; decoding is unchanged. Gradients flow through
 * the fed vectors into pass i (through h, or through the top-k probabilities and the embedding
 * rows; the top-k indices are not differentiable). Dropout draws fresh masks in every pass. T5's
 * encoder runs once, in pass 1: later passes read its output, as in the paper, where only the
 * decoder is unrolled.
 *
 * The top-k and Gumbel feeds are computed only at the M positions that are fed (from their sources
 * t-1), not at all B·T: the logits there are gathered from the pass's logits where its loss computes
 * them everywhere anyway (GPT-2, T5), or the output head is run again on those rows of h where the
 * loss runs it only at labelled rows (BERT `lm`/`unilm`); the M vectors are scattered back into
 * (B, T, E). The values are those of the all-position form; the Gumbel noise is drawn at the M rows.
 *
 * Which positions count as targets comes from the labels (-100 = not scored), as the model's own
 * loss reads them: causal LMs and UniLM (labels[t] is the token at t, scored from t-1) and T5's
 * decoder (labels[t] is decoder_input_ids[t+1]).
 *
 * Weights are shared between passes by default (the post's main variant). With `shared: false`
 * passes 2..N each compute with their own copy of every weight the decoder reads (for T5 everything
 * after the encoder: the encoder runs with pass 1's weights), stored as `teaforn/pass<i>/<name>` and
 * made from the shared weights the first time the loss is built, so training starts where shared
 * training starts. The vectors fed in (the gold rows and the feed's E) come from pass 1's table in
 * both variants. The copies are training state: decoding reads pass 1's weights, and `Model.save`
 * writes the copies under those names unless `dropTeaForNCopies(model.store)` removes them first.
 */
import { add, div, equal, expand, gather, greaterOrEqual, log, logicalAnd, logicalNot, matmul, maximum, mul, neg, nonZeroIndices, padAxis, randomUniformLike, range, reduceSum, reshape, scalar, scatterAddRows, slice, softmax, sub, takeAlongAxis, topKIndices, where } from '../graph/ops.ts';
import { unsqueeze } from '../graph/composite.ts';
import type { HostTensor } from '../graph/dtype.ts';
import { applyPrim } from '../graph/prim.ts';
import { dimMul, GraphError, reachableTensors, type Dim, type Tensor } from '../graph/tensor.ts';
import { initializers, Scope, type ParamStore } from '../nn/params.ts';
import { TrainingError } from './errors.ts';

export type TeaForNFeed = 'hidden' | 'topk' | 'gumbel';
const FEEDS: readonly TeaForNFeed[] = ['hidden', 'topk', 'gumbel'];

export interface TeaForNOptions {
  /** Passes (1 = plain teacher forcing). */
  n: number;
  /** Weight of each pass's loss, length n (default all 1). */
  lambdas?: number[];
  /** What pass i+1 reads from pass i (default 'hidden'). */
  feed?: TeaForNFeed;
  /** Top-k size for feed 'topk' (1 ≤ k ≤ vocabulary). */
  k?: number;
  /** Gumbel-softmax temperature τ > 0 for feed 'gumbel' (default 1). */
  tau?: number;
  /** Feed 'gumbel': draw the Gumbel noise (default true; drawn only in a training scope, as dropout is). */
  noise?: boolean;
  /** Passes 2..N use pass 1's weights (default true); false gives each its own copy (see the module comment). */
  shared?: boolean;
}

export type TeaForNSettings = Required<TeaForNOptions>;

/**
 * What TeaForN needs of a model (a built `Model` has it): its application, and its graph built in
 * a scope over given inputs, with `inputs_embeds` (T5: `decoder_inputs_embeds`) in place of the
 * token lookup.
 */
export interface TeaForNModel {
  family: string;
  application: string;
  build(scope: Scope, given?: Record<string, Tensor>): { inputs: Record<string, Tensor>; outputs: Record<string, Tensor> };
}

type Pass = { inputs: Record<string, Tensor>; outputs: Record<string, Tensor> };

export interface TeaForNGraph {
  /** Σ λ_i loss_i. */
  loss: Tensor;
  /** Each pass's loss (mean token cross-entropy). */
  losses: Tensor[];
  /** Each pass's graph (pass 1 is the teacher-forcing graph). */
  passes: { inputs: Record<string, Tensor>; outputs: Record<string, Tensor> }[];
}

/** How a model's decoder reads its inputs: which ids feed the decoder, and how labels line up with them. */
interface Layout {
  ids: string;
  embeds: string;
  /** labels[t] is the token at t (scored from t-1), or (false) the token at t+1. */
  labelsAtInput: boolean;
}

const LAYOUTS: Record<string, Layout> = {
  lm: { ids: 'input_ids', embeds: 'inputs_embeds', labelsAtInput: true },
  unilm: { ids: 'input_ids', embeds: 'inputs_embeds', labelsAtInput: true },
  seq2seq: { ids: 'decoder_input_ids', embeds: 'decoder_inputs_embeds', labelsAtInput: false },
  decoder: { ids: 'decoder_input_ids', embeds: 'decoder_inputs_embeds', labelsAtInput: false },
};

/** Check the options; returns them completed (k = 0 unless the feed is 'topk'). */
export function teaForNOptions(o: TeaForNOptions): TeaForNSettings {
  const { n } = o;
  if (!Number.isInteger(n) || n < 1) throw new TrainingError('teaForN', `n must be a positive integer (1 = teacher forcing), got ${n}`);
  const feed = o.feed ?? 'hidden';
  if (!FEEDS.includes(feed)) throw new TrainingError('teaForN', `unknown feed '${String(feed)}' (use ${FEEDS.map((f) => `'${f}'`).join(', ')})`);
  const lambdas = o.lambdas ?? Array<number>(n).fill(1);
  if (!Array.isArray(lambdas) || lambdas.length !== n) throw new TrainingError('teaForN', `lambdas must have n = ${n} entries, got ${Array.isArray(lambdas) ? lambdas.length : String(lambdas)}`);
  const bad = lambdas.find((l) => typeof l !== 'number' || !Number.isFinite(l) || l < 0);
  if (bad !== undefined) throw new TrainingError('teaForN', `lambdas must be finite and >= 0, got ${bad}`);
  if (feed === 'topk' && (o.k === undefined || !Number.isInteger(o.k) || o.k < 1)) throw new TrainingError('teaForN', `feed 'topk' needs k, a positive integer, got ${o.k}`);
  if (feed !== 'topk' && o.k !== undefined) throw new TrainingError('teaForN', `k applies to feed 'topk' only (feed is '${feed}')`);
  for (const key of ['tau', 'noise'] as const) {
    if (feed !== 'gumbel' && o[key] !== undefined) throw new TrainingError('teaForN', `${key} applies to feed 'gumbel' only (feed is '${feed}')`);
  }
  const tau = o.tau ?? 1;
  if (typeof tau !== 'number' || !Number.isFinite(tau) || tau <= 0) throw new TrainingError('teaForN', `tau (the Gumbel-softmax temperature) must be a finite number > 0, got ${String(tau)}`);
  for (const key of ['noise', 'shared'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw new TrainingError('teaForN', `${key} must be true or false, got ${String(o[key])}`);
  }
  return { n, lambdas, feed, k: o.k ?? 0, tau, noise: o.noise ?? true, shared: o.shared ?? true };
}

// ---- unshared weights -----------------------------------------------------------------------------

const COPY_PREFIX = 'teaforn/pass';

/** The store name of pass `pass`'s copy of weight `name` (option `shared: false`). */
export function teaForNCopyName(pass: number, name: string): string {
  return `${COPY_PREFIX}${pass}/${name}`;
}

/**
 * Remove the per-pass weight copies `shared: false` training put in `store` (e.g. before
 * `model.save` when only the model is wanted: decoding never reads them). Returns their names.
 */
export function dropTeaForNCopies(store: ParamStore): string[] {
  const names = store.names().filter((n) => n.startsWith(COPY_PREFIX) && /^\d+\//.test(n.slice(COPY_PREFIX.length)));
  for (const n of names) store.values.delete(n);
  return names;
}

const copyHost = (t: HostTensor): HostTensor => ({ ...t, shape: [...t.shape], data: t.data.slice() } as HostTensor);

/**
 * `roots` rebuilt with every weight leaf reached from them swapped for `swap(leaf)`, walking no
 * further than the tensors in `stop` (they are kept as they are). Nodes that read no swapped leaf
 * are reused, so the new graph shares everything upstream of the swap with the old one.
 */
function swapWeights(roots: Tensor[], stop: ReadonlySet<Tensor>, swap: (leaf: Tensor) => Tensor): Tensor[] {
  const done = new Map<Tensor, Tensor>();
  const stack: [Tensor, boolean][] = roots.map((r) => [r, false]);
  while (stack.length) {
    const [t, ready] = stack.pop()!;
    if (done.has(t)) continue;
    if (stop.has(t) || t.node.inputs.length === 0) {
      done.set(t, !stop.has(t) && t.node.op === 'param' ? swap(t) : t);
    } else if (!ready) {
      stack.push([t, true]);
      for (const x of t.node.inputs) if (!done.has(x)) stack.push([x, false]);
    } else {
      const inputs = t.node.inputs.map((x) => done.get(x)!);
      done.set(t, inputs.every((x, j) => x === t.node.inputs[j]) ? t : applyPrim(t.node.op, inputs, t.node.attrs));
    }
  }
  return roots.map((r) => done.get(r)!);
}

/**
 * Pass `index` rebuilt over its own copies of the weights (made from the shared ones when the store
 * has none yet). The walk stops at the fed vectors (they come from the previous pass) and at T5's
 * encoder output (the encoder keeps pass 1's weights).
 */
function withOwnWeights(pass: Pass, index: number, fed: Tensor, scope: Scope): Pass {
  const root = new Scope(scope.store, '', scope.options, scope.declared); // copies are named from the root
  const stop = new Set([fed, ...(pass.outputs.encoder_last_hidden_state ? [pass.outputs.encoder_last_hidden_state] : [])]);
  const names = Object.keys(pass.outputs);
  const swapped = swapWeights(names.map((k) => pass.outputs[k]!), stop, (leaf) => {
    const name = leaf.leafName!, copy = teaForNCopyName(index, name);
    const value = scope.store.get(name);
    if (!scope.store.has(copy) && value && !scope.options.declareOnly) scope.store.set(copy, copyHost(value));
    return root.param(copy, leaf.shape as number[], initializers.zeros());
  });
  return { inputs: pass.inputs, outputs: Object.fromEntries(names.map((k, i) => [k, swapped[i]!])) };
}

/** The parameter gathered by `ids` (the token-embedding table), found in the teacher pass's graph. */
function embeddingTable(outputs: Tensor[], ids: Tensor): Tensor | undefined {
  for (const t of reachableTensors(outputs)) {
    const [table, idx] = t.node.inputs;
    if (t.node.op === 'gather' && idx === ids && table?.node.op === 'param') return table;
  }
  return undefined;
}

/** x[:, t-1] at t (zeros at t = 0), along axis 1 of length `seq`. */
function shiftRight(x: Tensor, seq: Dim): Tensor {
  return slice(padAxis(x, 1, 1, 0), 1, 0, seq);
}

/** Positions t ≥ 1 whose input token is a prediction target: (B, T) bool. */
function targetPositions(labels: Tensor, layout: Layout): Tensor {
  const seq = labels.shape[1]!;
  // labels[t] scores the token at t+1 (T5): the input at t is a target when labels[t-1] is scored.
  const atInput = layout.labelsAtInput ? labels : shiftRight(labels, seq);
  const scored = logicalNot(equal(atInput, scalar(-100, 'int64')));
  return logicalAnd(scored, reshape(greaterOrEqual(range(seq), scalar(1, 'int64')), [1, seq]));
}

/**
 * Ops that act on each position alone (elementwise, a product with a weight matrix, LayerNorm), so an
 * output head made of them gives the same rows when run on gathered rows (see `logitsAtRows`).
 */
const PER_POSITION = new Set(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'neg', 'exp', 'log', 'sqrt', 'tanh', 'erf', 'sigmoid', 'relu', 'abs', 'gelu', 'cast', 'matmul', 'layerNorm']);

/**
 * `root` rebuilt with `from` (B, T, H) replaced by `to` (1, M, H), if every op between them acts on
 * each position alone and everything else they read is a weight (rank <= 1, or a matmul's rank-2
 * right operand): the head at M rows. Otherwise undefined.
 */
function replayPerPosition(root: Tensor, from: Tensor, to: Tensor): Tensor | undefined {
  const done = new Map<Tensor, Tensor | null>([[from, to]]); // null: the head is not per-position
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, ready] = stack.pop()!;
    if (done.has(t)) continue;
    if (t.node.inputs.length === 0) done.set(t, t);
    else if (!ready) {
      stack.push([t, true]);
      for (const x of t.node.inputs) if (!done.has(x)) stack.push([x, false]);
    } else {
      const inputs = t.node.inputs.map((x) => done.get(x)!);
      if (inputs.some((x) => x === null)) { done.set(t, null); continue; }
      const changed = inputs.map((x, j) => x !== t.node.inputs[j]);
      if (!changed.some(Boolean)) { done.set(t, t); continue; }
      const weightsOnly = inputs.every((x, j) => changed[j] || x!.rank <= 1 || (t.op === 'matmul' && j === 1 && x!.rank === 2));
      done.set(t, PER_POSITION.has(t.op) && weightsOnly ? applyPrim(t.node.op, inputs as Tensor[], t.node.attrs) : null);
    }
  }
  const out = done.get(root);
  return out && out !== root ? out : undefined;
}

/** Whether `target` is computed on the way to `root`. */
function reaches(root: Tensor, target: Tensor): boolean {
  return reachableTensors([root]).includes(target);
}

/**
 * A pass's logits (M, V) at the flat (B·T) rows `src`. Where its loss computes the logits everywhere
 * anyway (GPT-2, T5) they are gathered; where it runs the head only at labelled rows (BERT's
 * `labelledTokenLoss`) the head is run again on the gathered hidden rows, so the vocabulary-wide
 * product costs M rows, not B·T.
 */
function logitsAtRows(outputs: Record<string, Tensor>, src: Tensor): Tensor {
  const logits = outputs.logits!, h = outputs.last_hidden_state, loss = outputs.loss;
  const rows: Dim = src.shape[0]!, vocab = logits.shape[2]!;
  if (h && loss && !reaches(loss, logits)) {
    const head = replayPerPosition(logits, h, unsqueeze(gather(reshape(h, [-1, h.shape[2]!]), src), 0)); // (1, M, V)
    if (head) return reshape(head, [rows, vocab]);
  }
  return gather(reshape(logits, [-1, vocab]), src);
}

/** The vectors (M, E) fed from logits z (M, V) at M rows: the top-k-weighted embedding average, or the Gumbel-softmax one. */
function fedFromLogits(z: Tensor, table: Tensor, o: TeaForNSettings, scope: Scope): Tensor {
  if (o.feed === 'gumbel') {
    if (z.shape[1] !== table.shape[0]) throw new GraphError('teaForN', `feed 'gumbel': the logits score ${z.shape[1]} tokens but the embedding table has ${table.shape[0]} rows`);
    if (o.noise && scope.training) {
      // g = −log(−log u), u ~ U[0, 1) from ORT's RandomUniformLike, seeded as a dropout site is (fresh each step); u ≥ 1e-20 keeps g
      // finite. Drawn like a zeros tensor of the logits' shape, not like the logits: the draw must not depend on a weight (no gradient).
      const u = maximum(randomUniformLike(expand(scalar(0, z.dtype), z.shape), scope.nextDropoutSeed()), scalar(1e-20, z.dtype));
      z = add(z, neg(log(neg(log(u)))));
    }
    return matmul(softmax(o.tau === 1 ? z : div(z, o.tau), -1), table); // (M, V) · (V, E)
  }
  const probs = softmax(z, -1); // (M, V)
  const top = topKIndices(z, o.k); // (M, k), no gradient
  const p = takeAlongAxis(probs, top, -1); // (M, k), differentiable
  const w = div(p, reduceSum(p, -1, true)); // renormalised over the top k
  return reduceSum(mul(unsqueeze(w, -1), gather(table, top)), 1); // (M, E)
}

/**
 * Pass i+1's input embeddings (B, T, E): the gold rows `teacher`, with the fed positions (`replace`,
 * (B, T) bool) holding what pass i produced one position earlier. The hidden feed shifts h (computed
 * everywhere anyway); the top-k and Gumbel feeds compute only at the M fed positions' sources (flat
 * rows dst - 1) and place their vectors at dst (a scatter into zeros; the rows are distinct).
 */
function nextEmbeds(prev: Record<string, Tensor>, replace: Tensor, teacher: Tensor, table: Tensor, o: TeaForNSettings, scope: Scope): Tensor {
  const [batch, seq, width] = teacher.shape as [Dim, Dim, number];
  const mask = unsqueeze(replace, -1); // (B, T, 1)
  if (o.feed === 'hidden') {
    const h = prev.last_hidden_state;
    if (!h) throw new GraphError('teaForN', "feed 'hidden' needs the model's last_hidden_state output");
    if (h.shape[2] !== width) throw new GraphError('teaForN', `feed 'hidden': the hidden state is ${h.shape[2]} wide but the input embeddings ${width} (ALBERT-style factorised embeddings); use feed 'topk'`);
    return where(mask, shiftRight(h, seq), teacher); // position t gets t-1's
  }
  const dst = nonZeroIndices(reshape(replace, [-1])); // (M) flat indices of the fed positions, all t >= 1
  const src = sub(dst, scalar(1, 'int64')); // where each is predicted from: t - 1, same row
  const fed = fedFromLogits(logitsAtRows(prev, src), table, o, scope); // (M, E)
  return where(mask, reshape(scatterAddRows([dimMul(batch, seq), width], dst, fed), [batch, seq, width]), teacher);
}

/**
 * The TeaForN graph of `model` in `scope`: N passes (sharing pass 1's weights, or each with its own
 * copy), their losses and the weighted total. See the module comment for the equations.
 */
export function teaForNGraph(model: TeaForNModel, scope: Scope, options: TeaForNOptions): TeaForNGraph {
  const o = teaForNOptions(options);
  const layout = Object.hasOwn(LAYOUTS, model.application) ? LAYOUTS[model.application] : undefined;
  if (!layout) throw new TrainingError('teaForN', `${model.family} '${model.application}' is not a decoder TeaForN can unroll; it trains causal LMs and seq2seq models (applications ${Object.keys(LAYOUTS).join(', ')})`);
  const first = model.build(scope);
  const passes: Pass[] = [first];
  const loss1 = first.outputs.loss;
  if (!loss1) throw new TrainingError('teaForN', `${model.family} '${model.application}' has no training loss`);
  const losses = [loss1];
  if (o.n > 1) {
    const ids = first.inputs[layout.ids], labels = first.inputs.labels;
    if (!ids || !labels) throw new TrainingError('teaForN', `${model.family} '${model.application}' takes no ${ids ? 'labels' : layout.ids}`);
    const table = embeddingTable(Object.values(first.outputs), ids);
    if (!table) throw new GraphError('teaForN', `no embedding table gathered by ${layout.ids} in ${model.family} '${model.application}'`);
    if (o.feed === 'topk' && typeof table.shape[0] === 'number' && o.k > table.shape[0]) throw new TrainingError('teaForN', `k ${o.k} exceeds the vocabulary of ${table.shape[0]}`);
    const teacher = gather(table, ids); // (B, T, E): the gold embeddings
    const replace = targetPositions(labels, layout); // (B, T) bool
    // An encoder-decoder encodes the source once: every pass's decoder reads pass 1's encoder output.
    const encoded = first.outputs.encoder_last_hidden_state;
    const reuse: Record<string, Tensor> = encoded ? { encoder_hidden_states: encoded } : {};
    let prev = first;
    for (let i = 2; i <= o.n; i++) {
      const embeds = nextEmbeds(prev.outputs, replace, teacher, table, o, scope);
      const built = model.build(scope, { ...first.inputs, ...reuse, [layout.embeds]: embeds });
      const pass = o.shared ? built : withOwnWeights(built, i, embeds, scope);
      passes.push(pass);
      losses.push(pass.outputs.loss!);
      prev = pass;
    }
  }
  const loss = losses.map((l, i) => (o.lambdas[i] === 1 ? l : mul(l, o.lambdas[i]!))).reduce((a, b) => add(a, b));
  return { loss, losses, passes };
}

/**
 * TeaForN as a Trainer loss: `Trainer.create({ store: model.store, loss: teaForN(model, { n: 2 }), ... })`.
 * With `n: 1` it is the model's own teacher-forcing loss.
 */
export function teaForN(model: TeaForNModel, options: TeaForNOptions): (scope: Scope) => Tensor {
  teaForNOptions(options); // refuse bad options when the loss is made, not at the first step
  return (scope) => teaForNGraph(model, scope, options).loss;
}
