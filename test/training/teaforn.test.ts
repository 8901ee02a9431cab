// TeaForN (src/training/teaforn.ts) and what it stands on: the inputs_embeds path of GPT-2, BERT
// lm/unilm and the T5 decoder, the top-k ops and their gradients, n = 1 = teacher forcing (loss and
// every gradient, every feed, shared or not), a hand-unrolled n = 2 reference, the Gumbel-softmax
// feed against host references, unshared weights against shared ones, central-difference checks
// through the passes, and a few Trainer steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as g from '../../src/graph/index.ts';
import { reachableTensors, type HostTensor, type Tensor } from '../../src/graph/index.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { buildModel, type Model } from '../../src/models/index.ts';
import { Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { Trainer, adam, dropTeaForNCopies, teaForN, teaForNCopyName, teaForNGraph, TrainingError, type TeaForNOptions } from '../../src/training/index.ts';
import { gradientError, randomHost } from '../nn/helpers.ts';

const noDropout = { dropoutRate: 0, attentionDropoutRate: 0 };
const int64 = (rows: number[][]): HostTensor => hostTensor('int64', [rows.length, rows[0]!.length], rows.flat());

function gpt2(dtype: 'float32' | 'float64' = 'float32'): Model {
  return buildModel({ model_type: 'gpt2', vocab_size: 17, n_embd: 8, n_layer: 2, n_head: 2, n_positions: 16 }, { seed: 5, dtype, ...noDropout });
}
function unilm(family: 'bert' | 'roberta' = 'bert'): Model {
  return buildModel({
    model_type: family, vocab_size: 19, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16,
    max_position_embeddings: 24, type_vocab_size: 2, ...(family === 'roberta' ? { pad_token_id: 1 } : {}),
  }, { application: 'unilm', seed: 7, ...noDropout });
}
function t5(): Model {
  return buildModel({
    model_type: 't5', vocab_size: 15, d_model: 8, d_kv: 4, d_ff: 16, num_layers: 1, num_decoder_layers: 2, num_heads: 2,
    relative_attention_num_buckets: 8, relative_attention_max_distance: 16, feed_forward_proj: 'relu', dropout_rate: 0,
  }, { seed: 9 });
}

// Batches: padding, unscored positions (-100) and, for UniLM, a source segment.
const GPT2_BATCH = { input_ids: [[3, 5, 7, 2, 9, 0], [4, 4, 8, 1, 0, 0]], attention_mask: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], labels: [[-100, 5, 7, 2, 9, 11], [-100, -100, 8, 1, -100, -100]] };
const UNILM_BATCH = {
  input_ids: [[2, 5, 6, 3, 9, 10, 3], [2, 7, 3, 11, 12, 13, 3]], token_type_ids: [[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1]],
  attention_mask: [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]], labels: [[-100, -100, -100, -100, 9, 10, 3], [-100, -100, -100, 11, 12, 13, 3]],
};
const T5_BATCH = {
  input_ids: [[4, 5, 6, 1], [7, 8, 1, 0]], attention_mask: [[1, 1, 1, 1], [1, 1, 1, 0]],
  decoder_input_ids: [[0, 9, 10, 11, 3], [0, 12, 13, 1, 0]], labels: [[9, 10, 11, 3, 1], [12, 13, 1, -100, -100]],
};

function feedsOf(batch: Record<string, number[][]>, model: Model, params: string[]): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = Object.fromEntries(Object.entries(batch).map(([k, v]) => [k, int64(v)]));
  for (const p of params) feeds[p] = model.store.get(p)!;
  return feeds;
}

/** Loss and the gradient of every parameter of `build(scope)`, run on `batch`. */
async function lossAndGrads(model: Model, batch: Record<string, number[][]>, build: (scope: Scope) => Tensor): Promise<Record<string, HostTensor>> {
  const scope = new Scope(model.store, '', { training: false });
  const loss = build(scope);
  const names = [...scope.declared.keys()].sort();
  const grads = grad(loss, names.map((n) => scope.declared.get(n)!));
  const outputs: Record<string, Tensor> = { loss };
  names.forEach((n, i) => (outputs[`grad/${n}`] = grads[i]!));
  const exe = await compile(outputs, { params: 'inputs' }, { threads: 2 });
  const wanted = new Set(exe.inputs.map((i) => i.name));
  return exe.run(Object.fromEntries(Object.entries(feedsOf(batch, model, names)).filter(([k]) => wanted.has(k))));
}

function assertAllClose(a: Record<string, HostTensor>, b: Record<string, HostTensor>, tol: number, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: the same outputs`);
  for (const k of Object.keys(a)) {
    const x = a[k]!.data as Float32Array, y = b[k]!.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / Math.max(1, Math.abs(y[i]!)));
    assert.ok(worst <= tol, `${what}: ${k} differs by ${worst}`);
  }
}

const MODELS: [string, () => Model, Record<string, number[][]>][] = [['GPT-2 lm', gpt2, GPT2_BATCH], ['BERT unilm', unilm, UNILM_BATCH], ['RoBERTa unilm', () => unilm('roberta'), UNILM_BATCH], ['T5 seq2seq', t5, T5_BATCH]];

// ---- ops ---------------------------------------------------------------------------------------

test('topKIndices picks the k largest, largest first; takeAlongAxis reads them', async () => {
  const x = g.input('x', 'float32', [2, 5]);
  const idx = g.topKIndices(x, 3);
  const exe = await compile({ idx, values: g.takeAlongAxis(x, idx, -1) }, { params: 'initializers' });
  const out = await exe.run({ x: hostTensor('float32', [2, 5], [0.1, 0.9, -1, 0.5, 0.7, 3, 2, 1, 0, 4]) });
  assert.deepEqual([...out.idx!.data as BigInt64Array].map(Number), [1, 4, 3, 4, 0, 1]);
  assert.deepEqual([...out.values!.data as Float32Array].map((v) => Math.round(v * 10) / 10), [0.9, 0.7, 0.5, 4, 3, 2]);
  assert.deepEqual(idx.shape, [2, 3]);
  assert.throws(() => g.topKIndices(x, 6), /k 6 exceeds the last dim of \[2, 5\]/);
  assert.throws(() => g.topKIndices(x, 0), /k must be a positive integer/);
  assert.throws(() => g.takeAlongAxis(x, g.input('i', 'int64', [3, 2]), -1), /must match \[2, 5\] off axis 1/);
});

test('VJP of takeAlongAxis (and of its scatter) matches central differences, repeated indices summed', async () => {
  const x = g.input('x', 'float64', [2, 3, 4]);
  const u = g.input('u', 'float64', [2, 3, 2]);
  const idx = g.constant({ dtype: 'int64', shape: [2, 3, 2], data: BigInt64Array.from([0n, 3n, 1n, 1n, 2n, 0n, 3n, 3n, 0n, 2n, 1n, 0n]) });
  const w = g.constant(randomHost(new Random(1), 'float64', [2, 3, 4]));
  const loss = g.add(g.reduceSum(g.mul(g.takeAlongAxis(g.mul(x, x), idx, -1), u)), g.reduceSum(g.mul(g.scatterAddAlongAxis([2, 3, 4], idx, g.mul(u, u), 2), w)));
  const r = new Random(2);
  const { maxErr, worst } = await gradientError(loss, { x, u }, { x: randomHost(r, 'float64', [2, 3, 4]), u: randomHost(r, 'float64', [2, 3, 2]) });
  assert.ok(maxErr < 1e-6, worst);
});

test("the top-k feed's gradient (through the renormalised top-k probabilities and the embedding rows) matches central differences", async () => {
  // The same expression teaforn.ts builds, over float64 leaves: Σ_j p_j E[j] / Σ_j p_j over the top k.
  const logits = g.input('logits', 'float64', [2, 3, 6]);
  const table = g.input('table', 'float64', [6, 4]);
  const top = g.topKIndices(logits, 3);
  const p = g.takeAlongAxis(g.softmax(logits, -1), top, -1);
  const w = g.div(p, g.reduceSum(p, -1, true));
  const fed = g.reduceSum(g.mul(g.unsqueeze(w, -1), g.gather(table, top)), 2);
  const loss = g.reduceSum(g.mul(fed, g.constant(randomHost(new Random(3), 'float64', [2, 3, 4]))));
  const r = new Random(4);
  const { maxErr, worst } = await gradientError(loss, { logits, table }, { logits: randomHost(r, 'float64', [2, 3, 6], 2), table: randomHost(r, 'float64', [6, 4]) });
  assert.ok(maxErr < 1e-6, worst);
});

// ---- inputs_embeds -------------------------------------------------------------------------------

for (const [name, make, batch] of MODELS) {
  test(`${name}: inputs_embeds (the embedding rows of the ids) gives the ids' logits`, async () => {
    const model = make();
    const seq2seq = name.startsWith('T5');
    const [idsKey, embedsKey, table] = seq2seq ? ['decoder_input_ids', 'decoder_inputs_embeds', 'shared'] : ['input_ids', 'inputs_embeds', name.startsWith('GPT') ? 'wte' : 'embeddings/word_embeddings'];
    const scope = new Scope(model.store);
    const width = model.store.get(table)!.shape[1]!;
    const embeds = g.input(embedsKey, 'float32', ['batch', seq2seq ? 'dec_seq' : 'seq', width]);
    const built = model.build(scope, { [embedsKey]: embeds });
    assert.ok(!(idsKey in built.inputs), `no ${idsKey} input when ${embedsKey} stands alone`);
    const exe = await compile({ logits: built.outputs.logits! }, { params: 'initializers', paramValue: (n) => model.store.get(n) });
    const ids = batch[idsKey]!;
    const t = model.store.get(table)!.data as Float32Array;
    const rows = ids.flat().flatMap((id) => [...t.subarray(id * width, (id + 1) * width)]);
    const feeds: Record<string, HostTensor> = { [embedsKey]: hostTensor('float32', [ids.length, ids[0]!.length, width], rows) };
    for (const i of exe.inputs) if (i.name !== embedsKey) feeds[i.name] = int64(batch[i.name]!);
    const viaEmbeds = (await exe.run(feeds)).logits!;
    const viaIds = (await model.predict(Object.fromEntries(Object.entries(batch).filter(([k]) => k !== 'labels')), { outputs: ['logits'] })).logits!;
    assertAllClose({ logits: viaEmbeds }, { logits: viaIds }, 1e-5, name);
  });
}

// ---- n = 1 and the hand-unrolled n = 2 -----------------------------------------------------------

for (const [name, make, batch] of MODELS) {
  test(`${name}: TeaForN with n = 1 has the teacher-forcing loss and gradients`, async () => {
    const model = make();
    const plain = await lossAndGrads(model, batch, (s) => model.loss(s));
    const variants: TeaForNOptions[] = [{ n: 1, feed: 'hidden' }, { n: 1, feed: 'topk', k: 3 }, { n: 1, feed: 'gumbel', tau: 0.5 }, { n: 1, feed: 'gumbel', shared: false }];
    for (const options of variants) {
      const tea = await lossAndGrads(model, batch, teaForN(model, options));
      assertAllClose(tea, plain, 0, `${name} n = 1 (${JSON.stringify(options)})`);
    }
    assert.ok(!model.store.names().some((n) => n.startsWith('teaforn/')), 'n = 1 makes no copies');
  });
}

/** Host (B, T, 1) 0/1 mask: positions t >= 1 whose input token is scored (labels at t, or for T5 at t - 1). */
function replacedHost(labels: number[][], t5Layout: boolean): HostTensor {
  const rows = labels.map((row) => row.map((_, t) => (t >= 1 && (t5Layout ? row[t - 1] : row[t]) !== -100 ? 1 : 0)));
  return hostTensor('float32', [rows.length, rows[0]!.length, 1], rows.flat());
}

/** The references' common start: the batch's inputs (numeric shapes), the first pass, the embedding table and its sizes. */
function firstPass(model: Model, batch: Record<string, number[][]>, scope: Scope) {
  const seq2seq = 'decoder_input_ids' in batch;
  const [idsKey, embedsKey, tableName] = seq2seq ? ['decoder_input_ids', 'decoder_inputs_embeds', 'shared'] : ['input_ids', 'inputs_embeds', model.family === 'gpt2' ? 'wte' : 'embeddings/word_embeddings'];
  // Inputs of the batch's own (numeric) shape, given to every call.
  const given = Object.fromEntries(Object.entries(batch).map(([key, rows]) => [key, g.input(key, 'int64', [rows.length, rows[0]!.length])]));
  const first = model.build(scope, given);
  const table = scope.declared.get(tableName)!;
  const [B, T] = [batch[idsKey]!.length, batch[idsKey]![0]!.length];
  return { seq2seq, idsKey, embedsKey, given, first, table, B, T, E: table.shape[1] as number };
}

/**
 * The n = 2 reference built by hand: the model called twice, the second time with inputs_embeds =
 * the first pass's vectors moved one position right where the input token is scored, the gold
 * embeddings elsewhere (masks from the batch on the host, the shift as a concat with zeros).
 */
function handUnrolled(model: Model, batch: Record<string, number[][]>, lambda2: number, feed: 'hidden' | 'topk', k = 0): (scope: Scope) => Tensor {
  return (scope) => {
    const { seq2seq, idsKey, embedsKey, given, first, table, B, T, E } = firstPass(model, batch, scope);
    let out = first.outputs.last_hidden_state!;
    if (feed === 'topk') {
      // k = vocabulary: every row weighted by its probability (no top-k op involved).
      assert.equal(k, table.shape[0]);
      out = g.matmul(g.softmax(first.outputs.logits!, -1), table);
    }
    const shifted = g.concat([g.constant(hostTensor('float32', [B, 1, E], new Array(B * E).fill(0))), g.slice(out, 1, 0, T - 1)], 1);
    const m = g.constant(replacedHost(batch.labels!, seq2seq));
    const embeds = g.add(g.mul(m, shifted), g.mul(g.sub(1, m), g.gather(table, first.inputs[idsKey]!)));
    const second = model.build(scope, { ...given, [embedsKey]: embeds });
    return g.add(first.outputs.loss!, g.mul(second.outputs.loss!, lambda2));
  };
}

for (const [name, make, batch] of MODELS) {
  test(`${name}: TeaForN n = 2 matches the model called twice by hand (loss and every gradient)`, async () => {
    const model = make();
    const hidden = await lossAndGrads(model, batch, teaForN(model, { n: 2, lambdas: [1, 0.5], feed: 'hidden' }));
    assertAllClose(hidden, await lossAndGrads(model, batch, handUnrolled(model, batch, 0.5, 'hidden')), 1e-5, `${name} hidden`);
    const plain = await lossAndGrads(model, batch, (s) => model.loss(s));
    assert.ok((hidden.loss!.data[0] as number) > (plain.loss!.data[0] as number), 'the second pass adds its loss');
    const vocab = model.store.get(name.startsWith('T5') ? 'shared' : name.startsWith('GPT') ? 'wte' : 'embeddings/word_embeddings')!.shape[0]!;
    const topk = await lossAndGrads(model, batch, teaForN(model, { n: 2, lambdas: [1, 0.5], feed: 'topk', k: vocab }));
    assertAllClose(topk, await lossAndGrads(model, batch, handUnrolled(model, batch, 0.5, 'topk', vocab)), 1e-5, `${name} topk`);
  });
}

// ---- the top-k and Gumbel feeds at the fed positions only -----------------------------------------

/**
 * The former form of the top-k and Gumbel feeds, kept here as the reference: the vectors computed
 * from the full logits at every position, moved one position right and masked in where the input
 * token is scored (the masks from the batch on the host).
 */
type RowFeed = { n: number; lambdas: number[]; feed: 'topk' | 'gumbel'; k?: number; tau?: number };
function fullPositionTeaForN(model: Model, batch: Record<string, number[][]>, o: RowFeed): (scope: Scope) => Tensor {
  return (scope) => {
    const { seq2seq, idsKey, embedsKey, given, first, table, B, T, E } = firstPass(model, batch, scope);
    const m = g.constant(replacedHost(batch.labels!, seq2seq));
    const teacher = g.gather(table, first.inputs[idsKey]!);
    let prev = first, loss = first.outputs.loss!;
    for (let i = 2; i <= o.n; i++) {
      const z = prev.outputs.logits!; // (B, T, V) at every position
      let fed: Tensor;
      if (o.feed === 'gumbel') fed = g.matmul(g.softmax(g.div(z, o.tau!), -1), table);
      else {
        const top = g.topKIndices(z, o.k!);
        const p = g.takeAlongAxis(g.softmax(z, -1), top, -1);
        fed = g.reduceSum(g.mul(g.unsqueeze(g.div(p, g.reduceSum(p, -1, true)), -1), g.gather(table, top)), 2);
      }
      const shifted = g.concat([g.constant(hostTensor('float32', [B, 1, E], new Array(B * E).fill(0))), g.slice(fed, 1, 0, T - 1)], 1);
      prev = model.build(scope, { ...given, [embedsKey]: g.add(g.mul(m, shifted), g.mul(g.sub(1, m), teacher)) });
      loss = g.add(loss, g.mul(prev.outputs.loss!, o.lambdas[i - 1]!));
    }
    return loss;
  };
}

for (const [name, make, batch] of MODELS.filter(([n]) => !n.startsWith('RoBERTa'))) {
  test(`${name}: the top-k and Gumbel feeds computed at the fed positions only equal the full-position computation (n = 3, loss and every gradient)`, async () => {
    const model = make();
    const variants: RowFeed[] = [{ n: 3, lambdas: [1, 0.5, 0.25], feed: 'topk', k: 3 }, { n: 3, lambdas: [1, 0.5, 0.25], feed: 'gumbel', tau: 0.7 }];
    for (const options of variants) {
      const rows = await lossAndGrads(model, batch, teaForN(model, { ...options, ...(options.feed === 'gumbel' ? { noise: false } : {}) }));
      assertAllClose(rows, await lossAndGrads(model, batch, fullPositionTeaForN(model, batch, options)), 1e-5, `${name} ${options.feed}`);
    }
    // The feed's vocabulary-wide ops run on the M fed rows (a run-time dim), and BERT's head, which its loss runs only at
    // labelled rows, is not run at every position for the feed either.
    const { loss, passes } = teaForNGraph(model, new Scope(model.store), { n: 2, feed: 'topk', k: 3 });
    const ops = reachableTensors([loss]);
    const topk = ops.filter((t) => t.op === 'topKIndices');
    assert.equal(topk.length, 1);
    assert.match(String(topk[0]!.shape[0]), /^nonzero\d+$/, `top-k over ${JSON.stringify(topk[0]!.shape)}`);
    assert.equal(ops.includes(passes[0]!.outputs.logits!), !name.startsWith('BERT'), 'the full logits are in the graph only where the loss reads them');
  });
}

// ---- the Gumbel-softmax feed ------------------------------------------------------------------------

test("feed 'gumbel' without noise at τ = 1 is the top-k feed with k = vocabulary (loss and every gradient)", async () => {
  const model = gpt2();
  const gumbel = await lossAndGrads(model, GPT2_BATCH, teaForN(model, { n: 2, lambdas: [1, 0.5], feed: 'gumbel', tau: 1, noise: false }));
  assertAllClose(gumbel, await lossAndGrads(model, GPT2_BATCH, teaForN(model, { n: 2, lambdas: [1, 0.5], feed: 'topk', k: 17 })), 1e-5, 'gumbel τ = 1 vs topk k = V');
});

for (const [name, make, batch] of MODELS.filter(([n]) => !n.startsWith('RoBERTa'))) {
  test(`${name}: feed 'gumbel' without noise as τ → 0 feeds the argmax token's embedding (hand-built reference)`, async () => {
    const model = make();
    // The reference: the model called twice, the second time fed E[argmax logits] (a top-1 gather, no softmax).
    const seq2seq = name.startsWith('T5');
    const [idsKey, embedsKey, tableName] = seq2seq ? ['decoder_input_ids', 'decoder_inputs_embeds', 'shared'] : ['input_ids', 'inputs_embeds', model.family === 'gpt2' ? 'wte' : 'embeddings/word_embeddings'];
    const reference = (scope: Scope): Tensor => {
      const given = Object.fromEntries(Object.entries(batch).map(([key, rows]) => [key, g.input(key, 'int64', [rows.length, rows[0]!.length])]));
      const first = model.build(scope, given);
      const table = scope.declared.get(tableName)!;
      const [B, T] = [batch[idsKey]!.length, batch[idsKey]![0]!.length];
      const E = table.shape[1] as number;
      const argmaxRows = g.reduceSum(g.gather(table, g.topKIndices(first.outputs.logits!, 1)), 2); // (B, T, E)
      const shifted = g.concat([g.constant(hostTensor('float32', [B, 1, E], new Array(B * E).fill(0))), g.slice(argmaxRows, 1, 0, T - 1)], 1);
      const m = g.constant(replacedHost(batch.labels!, seq2seq));
      const embeds = g.add(g.mul(m, shifted), g.mul(g.sub(1, m), g.gather(table, first.inputs[idsKey]!)));
      return g.add(first.outputs.loss!, model.build(scope, { ...given, [embedsKey]: embeds }).outputs.loss!);
    };
    const want = (await lossAndGrads(model, batch, reference)).loss!.data[0] as number;
    const got = (await lossAndGrads(model, batch, teaForN(model, { n: 2, feed: 'gumbel', tau: 1e-7, noise: false }))).loss!.data[0] as number;
    assert.ok(Math.abs(got - want) < 1e-5, `${name}: ${got} vs ${want}`);
    const soft = (await lossAndGrads(model, batch, teaForN(model, { n: 2, feed: 'gumbel', tau: 1, noise: false }))).loss!.data[0] as number;
    assert.ok(Math.abs(soft - want) > 1e-4, 'τ = 1 feeds something else');
  });
}

test("feed 'gumbel' with noise: pass 2 reads softmax((z + g)/τ)·E, g = −log(−log u) from the step's draw (host reference); a fresh draw each step", async () => {
  const model = gpt2();
  const tau = 0.5;
  const scope = new Scope(model.store, '', { training: true, seed: 3 });
  const { passes, loss } = teaForNGraph(model, scope, { n: 2, feed: 'gumbel', tau });
  // The uniform draw is the graph's only random op (the model has no dropout).
  const randoms = reachableTensors([loss]).filter((t) => t.op === 'randomUniformLike');
  assert.equal(randoms.length, 1);
  const exe = await compile({ loss, u: randoms[0]!, z: passes[0]!.outputs.logits!, embeds: passes[1]!.inputs.inputs_embeds! }, { params: 'initializers', paramValue: (n) => model.store.get(n) });
  const feeds = Object.fromEntries(Object.entries(GPT2_BATCH).map(([k, v]) => [k, int64(v)]));
  const out = await exe.run(feeds);
  const [B, T, V, E] = [2, 6, 17, 8];
  const u = out.u!.data as Float32Array, z = out.z!.data as Float32Array, embeds = out.embeds!.data as Float32Array;
  const table = model.store.get('wte')!.data as Float32Array;
  const mask = replacedHost(GPT2_BATCH.labels, false).data as Float32Array;
  let worst = 0, row = 0; // the noise is drawn at the fed positions only: row m of u is the m-th fed position (row-major)
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const want = new Float64Array(E);
    if (mask[b * T + t]) {
      const at = (b * T + t - 1) * V, ut = row++ * V;
      const s = Array.from({ length: V }, (_, j) => (z[at + j]! - Math.log(-Math.log(Math.max(u[ut + j]!, 1e-20)))) / tau);
      const m = Math.max(...s), w = s.map((x) => Math.exp(x - m)), sum = w.reduce((a, x) => a + x, 0);
      for (let j = 0; j < V; j++) for (let e = 0; e < E; e++) want[e] += (w[j]! / sum) * table[j * E + e]!;
    } else {
      const id = GPT2_BATCH.input_ids[b]![t]!;
      for (let e = 0; e < E; e++) want[e] = table[id * E + e]!;
    }
    for (let e = 0; e < E; e++) worst = Math.max(worst, Math.abs(want[e]! - embeds[(b * T + t) * E + e]!));
  }
  assert.ok(worst < 1e-5, `fed vectors differ by ${worst}`);
  assert.equal(row * V, u.length, 'one noise row per fed position');
  const again = await exe.run(feeds);
  assert.notDeepEqual([...again.u!.data as Float32Array].slice(0, 8), [...u].slice(0, 8), 'the next run draws new noise');
  // Outside a training scope (as dropout) no noise is drawn: the loss is the noise-free one.
  const evalLoss = async (options: TeaForNOptions) => {
    const ev = await compile({ loss: teaForNGraph(model, new Scope(model.store), options).loss }, { params: 'initializers', paramValue: (n) => model.store.get(n) });
    return (await ev.run(feeds)).loss!.data[0] as number;
  };
  assert.equal(await evalLoss({ n: 2, feed: 'gumbel', tau }), await evalLoss({ n: 2, feed: 'gumbel', tau, noise: false }));
});

// ---- unshared weights --------------------------------------------------------------------------------

for (const [name, make, batch] of MODELS) {
  test(`${name}: unshared passes with copies equal to the shared weights: the shared loss, and each weight's shared gradient = its own + its copies'`, async () => {
    const model = make();
    const options: TeaForNOptions = { n: 3, lambdas: [1, 0.5, 0.25], feed: name.startsWith('BERT') ? 'topk' : 'hidden', ...(name.startsWith('BERT') ? { k: 4 } : {}) };
    const shared = await lossAndGrads(model, batch, teaForN(model, options));
    const unshared = await lossAndGrads(model, batch, teaForN(model, { ...options, shared: false }));
    assert.ok(Math.abs((unshared.loss!.data[0] as number) - (shared.loss!.data[0] as number)) < 1e-6, 'the same loss');
    const copies = model.store.names().filter((n) => n.startsWith('teaforn/'));
    for (const key of Object.keys(shared).filter((k) => k.startsWith('grad/'))) {
      const w = key.slice(5);
      const parts = [unshared[key]!, ...[2, 3].map((i) => unshared[`grad/${teaForNCopyName(i, w)}`]).filter((x) => x !== undefined)];
      const sum = Float32Array.from(parts[0]!.data as Float32Array, (x, j) => parts.slice(1).reduce((s, p) => s + (p.data[j] as number), x));
      assertAllClose({ [key]: { ...parts[0]!, data: sum } }, { [key]: shared[key]! }, 1e-5, `${name} ${w}`);
      if (name.startsWith('T5') && w.startsWith('encoder/')) assert.equal(parts.length, 1, `${w}: the encoder keeps pass 1's weights`);
      else if (w !== 'shared' || !name.startsWith('T5')) assert.equal(parts.length, 3, `${w}: a copy per pass`);
    }
    for (const c of copies) {
      const orig = c.replace(/^teaforn\/pass\d+\//, '');
      assert.deepEqual(model.store.get(c)!.data, model.store.get(orig)!.data, `${c} starts as ${orig}`);
      assert.notEqual(model.store.get(c)!.data, model.store.get(orig)!.data, `${c} has its own buffer`);
    }
  });
}

test('unshared TeaForN with the Trainer: the shared loss at step 0, then a different one; copies train, are saved under their names and can be dropped', async () => {
  const losses: Record<string, number[]> = {};
  const models: Record<string, Model> = {};
  for (const shared of [true, false]) {
    const model = gpt2();
    const trainer = await Trainer.create({ store: model.store, loss: teaForN(model, { n: 2, feed: 'topk', k: 5, shared }), optimizer: adam(1e-2), seed: 1 });
    const l: number[] = [];
    for (let step = 0; step < 3; step++) l.push((await trainer.trainStep(GPT2_BATCH)).loss);
    losses[String(shared)] = l;
    models[String(shared)] = model;
  }
  const [s, u] = [losses.true!, losses.false!];
  assert.ok(Math.abs(s[0]! - u[0]!) < 1e-6, `step 0: ${s[0]} vs ${u[0]}`);
  assert.ok(Math.abs(s[1]! - u[1]!) > 1e-5, `after an update: ${s[1]} vs ${u[1]}`);
  const model = models.false!;
  const copy = teaForNCopyName(2, 'h1/mlp/output/kernel');
  assert.notDeepEqual(model.store.get(copy)!.data, model.store.get('h1/mlp/output/kernel')!.data, 'the copy trained apart from pass 1');
  // Saved under their own names, and read back (a reloaded model resumes from them); decoding never reads them.
  const dir = mkdtempSync(join(tmpdir(), 'teaforn-'));
  try {
    model.save(join(dir, 'with'));
    const back = buildModel(join(dir, 'with'));
    assert.deepEqual(back.store.get(copy)!.data, model.store.get(copy)!.data);
    const ids = { input_ids: GPT2_BATCH.input_ids, attention_mask: GPT2_BATCH.attention_mask };
    assertAllClose((await back.predict(ids, { outputs: ['logits'] })), (await model.predict(ids, { outputs: ['logits'] })), 1e-6, 'reloaded logits');
    const dropped = dropTeaForNCopies(model.store);
    assert.ok(dropped.includes(copy) && dropped.every((n) => n.startsWith('teaforn/pass2/')), dropped.join());
    assert.ok(!model.namedTensors('hf').ownNames.some((n) => n.startsWith('teaforn/')), 'nothing of TeaForN left to save');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TeaForN n = 3: three passes, the loss is the λ-weighted sum of their losses', async () => {
  const model = unilm();
  const scope = new Scope(model.store);
  const { loss, losses, passes } = teaForNGraph(model, scope, { n: 3, lambdas: [1, 0.5, 0.25], feed: 'topk', k: 2 });
  assert.equal(passes.length, 3);
  const exe = await compile({ loss, l1: losses[0]!, l2: losses[1]!, l3: losses[2]! }, { params: 'initializers', paramValue: (n) => model.store.get(n) });
  const out = await exe.run(Object.fromEntries(Object.entries(UNILM_BATCH).map(([k, v]) => [k, int64(v)])));
  const [l1, l2, l3] = ['l1', 'l2', 'l3'].map((k) => out[k]!.data[0] as number);
  assert.ok(Math.abs((out.loss!.data[0] as number) - (l1! + 0.5 * l2! + 0.25 * l3!)) < 1e-5);
  assert.notEqual(l2, l1);
  assert.notEqual(l3, l2);
});

test('T5 TeaForN encodes the source once: every pass reads pass 1\'s encoder output (dropout on, shared or not)', () => {
  const model = buildModel({
    model_type: 't5', vocab_size: 15, d_model: 8, d_kv: 4, d_ff: 16, num_layers: 1, num_decoder_layers: 1, num_heads: 2,
    relative_attention_num_buckets: 8, relative_attention_max_distance: 16, feed_forward_proj: 'relu', dropout_rate: 0.1,
  }, { seed: 9 });
  for (const shared of [true, false]) {
    const { passes, loss } = teaForNGraph(model, new Scope(model.store, '', { training: true }), { n: 3, shared });
    const encoded = passes[0]!.outputs.encoder_last_hidden_state!;
    for (const pass of passes.slice(1)) assert.equal(pass.outputs.encoder_last_hidden_state, encoded, `shared ${shared}: a later pass ran the encoder again`);
    // One encoder in the step graph: its final norm's weight is read by one node.
    const readers = reachableTensors([loss]).filter((t) => t.node.inputs.some((i) => /^encoder\/final_layer_norm\//.test(i.leafName ?? '')));
    assert.equal(readers.length, 1, `shared ${shared}: the encoder's final norm is applied ${readers.length} times`);
  }
});

// ---- gradient checks through the passes ------------------------------------------------------------

const GRADIENT_CHECKS: [string, TeaForNOptions, string[]][] = [
  ['hidden', { n: 2, lambdas: [1, 1], feed: 'hidden' }, []],
  ['topk', { n: 2, lambdas: [1, 1], feed: 'topk', k: 4 }, []],
  ['gumbel τ = 0.7, no noise', { n: 2, lambdas: [1, 1], feed: 'gumbel', tau: 0.7, noise: false }, ['wte']],
  ['hidden, unshared', { n: 2, lambdas: [1, 1], feed: 'hidden', shared: false }, [teaForNCopyName(2, 'ln_f/gamma'), teaForNCopyName(2, 'h0/mlp/output/bias')]],
];
for (const [what, options, extra] of GRADIENT_CHECKS) {
  test(`GPT-2 TeaForN n = 2 (${what}): gradients match central differences (float64)`, async () => {
    const model = gpt2('float64');
    const scope = new Scope(model.store, '', { dtype: 'float64' });
    const loss = teaForNGraph(model, scope, options).loss;
    const wrt = Object.fromEntries(['ln_f/gamma', 'h1/attn/q/bias', 'h0/mlp/output/bias', 'wpe', ...extra].map((n) => [n, scope.declared.get(n)!]));
    const feeds = feedsOf(GPT2_BATCH, model, [...scope.declared.keys()]);
    for (const n of Object.keys(wrt)) feeds[n] = { ...feeds[n]!, data: (feeds[n]!.data as Float32Array).slice() };
    const { maxErr, worst } = await gradientError(loss, wrt, feeds, 1e-5);
    assert.ok(maxErr < 1e-6, worst);
  });
}

// ---- options and training ----------------------------------------------------------------------

test('bad TeaForN options are refused by name', () => {
  const model = gpt2();
  assert.throws(() => teaForN(model, { n: 0 }), /n must be a positive integer/);
  assert.throws(() => teaForN(model, { n: 2, lambdas: [1] }), /lambdas must have n = 2 entries, got 1/);
  assert.throws(() => teaForN(model, { n: 2, lambdas: [1, -1] }), /lambdas must be finite and >= 0, got -1/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'sample' as 'hidden' }), /unknown feed 'sample' \(use 'hidden', 'topk', 'gumbel'\)/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'topk' }), /feed 'topk' needs k/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'hidden', k: 3 }), /k applies to feed 'topk' only \(feed is 'hidden'\)/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'gumbel', k: 3 }), /k applies to feed 'topk' only \(feed is 'gumbel'\)/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'topk', k: 3, tau: 0.5 }), /tau applies to feed 'gumbel' only \(feed is 'topk'\)/);
  assert.throws(() => teaForN(model, { n: 2, noise: false }), /noise applies to feed 'gumbel' only \(feed is 'hidden'\)/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'gumbel', tau: 0 }), /tau \(the Gumbel-softmax temperature\) must be a finite number > 0, got 0/);
  assert.throws(() => teaForN(model, { n: 2, shared: 'no' as unknown as boolean }), /shared must be true or false, got no/);
  assert.throws(() => teaForN(model, { n: 2, feed: 'topk', k: 18 })(new Scope(model.store)), (e: Error) => e instanceof TrainingError && /k 18 exceeds the vocabulary of 17/.test(e.message));
  const mlm = buildModel({ model_type: 'bert', vocab_size: 19, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 }, { application: 'mlm' });
  assert.throws(() => teaForN(mlm, { n: 2 })(new Scope(mlm.store)), /bert 'mlm' is not a decoder TeaForN can unroll/);
});

test('TeaForN trains with the Trainer (one step graph): UniLM n = 2 top-k and Gumbel unshared, T5 n = 3 hidden and n = 2 Gumbel unshared fit a batch', async () => {
  const runs: [Model, Record<string, number[][]>, TeaForNOptions][] = [
    [unilm(), UNILM_BATCH, { n: 2, feed: 'topk', k: 3 }], [unilm(), UNILM_BATCH, { n: 2, feed: 'gumbel', tau: 0.5, shared: false }],
    [t5(), T5_BATCH, { n: 3, feed: 'hidden' }], [t5(), T5_BATCH, { n: 2, feed: 'gumbel', shared: false }],
  ];
  for (const [model, batch, options] of runs) {
    const trainer = await Trainer.create({ store: model.store, loss: teaForN(model, options), optimizer: adam(1e-2), seed: 1 });
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) losses.push((await trainer.trainStep(batch)).loss);
    assert.ok(losses.at(-1)! < 0.7 * losses[0]!, `${model.family} ${JSON.stringify(options)}: ${losses[0]} -> ${losses.at(-1)}`);
  }
});
