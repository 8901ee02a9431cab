// ELECTRA wiring: λ = 50, one set of embeddings shared by generator and discriminator, and a short
// run that learns and resumes bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { compile } from '../../src/runtime/session.ts';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.ts';
import { ELECTRA_LAMBDA, ElectraSampler, electraConfigs, electraLoss, evaluateDiscriminator, parseElectra } from '../../src/training/pretrain/electra.ts';
import { maskedBatch, packRows, type TokenizedDocs } from '../../src/training/pretrain/data.ts';
import { DEFAULT_SETTINGS, pretrain } from '../../src/training/pretrain/run.ts';
import { exportRun } from '../../src/training/pretrain/export.ts';
import { buildModel } from '../../src/models/build.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { classifyTask, finetune, prepareModel } from '../../src/tasks/finetune.ts';

const c = parseElectra(electraConfigs({ layers: 2, hidden: 32, heads: 2, maxPosition: 16 }, 40, { dropout: 0, generatorRatio: 0.5 }));

test('ELECTRA loss = generator MLM + 50 x discriminator BCE, with one set of embeddings', async () => {
  assert.equal(ELECTRA_LAMBDA, 50);
  const store = new ParamStore(2);
  const scope = new Scope(store);
  const { loss, generatorLoss, discriminatorLoss } = electraLoss(scope, c);
  const names = [...scope.declared.keys()];
  assert.deepEqual(names.filter((n) => n.includes('word_embeddings')), ['embeddings/word_embeddings']);
  assert.ok(names.includes('embeddings/position_embeddings') && !names.some((n) => n.startsWith('generator/embeddings/')), 'positions and types shared too');
  assert.ok(names.includes('generator/embeddings_project/kernel'), 'the narrower generator projects the shared embeddings');
  assert.ok(names.includes('generator/encoder/layer_0/attention/self/query/kernel') && names.includes('encoder/layer_0/attention/self/query/kernel'));
  assert.ok(names.includes('discriminator/dense_prediction/kernel') && names.includes('generator/mlm/output_bias'));
  assert.equal(store.get('generator/encoder/layer_0/attention/self/query/kernel')!.shape[1], 16);

  const docs: TokenizedDocs = { ids: Int32Array.from({ length: 60 }, (_, i) => 5 + (i % 30)), wordStart: new Uint8Array(60).fill(1), offsets: Int32Array.from([0, 25, 60]) };
  const packed = packRows(docs, [0, 1], 16, { cls: 2, sep: 3, pad: 0, mask: 4 });
  const batch = maskedBatch(packed, [0, 1, 2], [1, 2, 3], { rate: 0.3, maxPredictions: 5, maskId: 4, randomIds: Int32Array.from({ length: 35 }, (_, i) => 5 + i) });
  const feeds = await new ElectraSampler(c).corrupt(batch, store, new Random(9));
  const replaced = [...(feeds.replaced!.data as BigInt64Array)];
  const positions = new Set([...(batch.mlm_positions!.data as BigInt64Array)].filter((_, i) => (batch.mlm_labels!.data as BigInt64Array)[i] !== -100n).map(Number));
  replaced.forEach((r, i) => { if (r) assert.ok(positions.has(i), 'only sampled positions can be replaced'); });
  assert.ok(replaced.some((r) => r === 1n), 'an untrained generator replaces most tokens');
  const exe = await compile({ loss, generatorLoss, discriminatorLoss }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const wanted = new Set(exe.inputs.map((i) => i.name));
  const out = await exe.run(Object.fromEntries(Object.entries(feeds).filter(([n]) => wanted.has(n))));
  await exe.release();
  const [l, g, d] = [out.loss!, out.generatorLoss!, out.discriminatorLoss!].map((t) => t.data[0] as number);
  assert.ok(Math.abs(l! - (g! + 50 * d!)) < 1e-4 * Math.abs(l!), `${l} vs ${g} + 50 x ${d}`);
});

test('a short ELECTRA run lowers its loss, resumes bit for bit, exports its discriminator, which fine-tunes as task-sentiment --base does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-electra-'));
  try {
    mkdirSync(join(dir, 'corpus'));
    const lines = ['床前明月光', '疑是地上霜', '举头望明月', '低头思故乡', '春眠不觉晓', '处处闻啼鸟'];
    const r = new Random(1);
    writeFileSync(join(dir, 'corpus', 'a.txt'), Array.from({ length: 200 }, (_, d) => Array.from({ length: 3 }, () => lines[r.int(lines.length)]).join('，') + d).join('\n'));
    writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...new Set(lines.join('') + '，0123456789')].join('\n'));
    const s = { ...DEFAULT_SETTINGS, sources: [{ format: 'txt' as const, path: join(dir, 'corpus'), split: 'line' as const }], vocab: join(dir, 'vocab.txt'), minCount: 1, objective: 'electra' as const,
      size: { layers: 1, hidden: 32, heads: 2, maxPosition: 32 }, maxlen: 32, batchSize: 4, steps: 40, learningRate: 2e-3, warmup: 2, dropout: 0, heldOutPermille: 100, evalRows: 8 };
    const ctl = (out: string, o = {}) => ({ out, resume: false, checkpointMinutes: 1e9, evalEvery: 1000, logEvery: 10, quiet: true, handleSignals: false, ...o });
    await pretrain(s, ctl(join(dir, 'a')));
    const losses = readFileSync(join(dir, 'a', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'loss' in l).map((l) => l.loss as number);
    assert.ok(losses[losses.length - 1]! < losses[0]!, `losses ${losses.map((x) => x.toFixed(3)).join(' ')}`);
    // Every evaluation logs the discriminator's replaced-token detection next to the generator's MLM figures.
    const evals = readFileSync(join(dir, 'a', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'heldout_acc' in l);
    assert.ok(evals.length >= 2 && evals.every((l) => l.heldout_rtd_auc >= 0 && l.heldout_rtd_auc <= 1 && l.heldout_replaced > 0 && l.heldout_replaced < 0.3 && l.heldout_rtd_loss > 0), JSON.stringify(evals));
    await pretrain(s, ctl(join(dir, 'b'), { stopAt: 15 }));
    await pretrain(null, ctl(join(dir, 'b'), { resume: true }));
    const read = (f: string) => { const rd = new SafetensorsReader(f); try { return new Map(rd.list().map((i) => [i.name, Buffer.from((rd.read(i.name).data as Float32Array).buffer)])); } finally { rd.close(); } };
    const a = read(join(dir, 'a', 'checkpoint.safetensors')), b = read(join(dir, 'b', 'checkpoint.safetensors'));
    for (const [n, bytes] of a) assert.ok(bytes.equals(b.get(n)!), `${n} differs after resume`);
    // The export is the discriminator, as an 'electra' model directory.
    await exportRun(join(dir, 'a'), join(dir, 'model'), { which: 'last', dtype: 'float32' });
    const disc = buildModel(join(dir, 'model'));
    assert.equal(disc.application, 'discriminator');
    assert.ok(disc.weightNames().every((n) => !n.startsWith('generator/')));
    const tok = await loadTokenizer(join(dir, 'model'));
    const { logits } = await disc.predict({ input_ids: [tok.encode('床前明月光').ids] });
    assert.deepEqual(logits!.shape, [1, 7]);
    // What examples/task-sentiment.ts --base does: the discriminator's trunk loaded, a fresh classifier on top.
    const rows = Array.from({ length: 16 }, (_, i) => ({ text: lines[i % lines.length]!, label: i % 2 ? 'pos' : 'neg' }));
    const { model, task } = await prepareModel({ base: join(dir, 'model'), seed: 1, task: (t) => classifyTask(t, ['neg', 'pos'], 16) });
    assert.equal(model.family, 'electra');
    for (const w of ['embeddings/word_embeddings', 'encoder/layer_0/attention/self/query/kernel', 'encoder/layer_0/output/LayerNorm/gamma']) {
      assert.deepEqual(model.store.get(w)!.data, disc.store.get(w)!.data, `${w} is the pretrained discriminator's`);
    }
    assert.ok(!model.weightNames().some((n) => n.startsWith('discriminator/')), 'the replaced-token head is not part of the classifier');
    const ft = await finetune({ model, task, train: rows, dev: rows, test: rows, epochs: 1, batchSize: 8, lr: 5e-5, seed: 1, progress: false });
    assert.ok(ft.test!.accuracy! >= 0 && ft.test!.accuracy! <= 1, JSON.stringify(ft.test));
    assert.notDeepEqual(model.store.get('encoder/layer_0/attention/self/query/kernel')!.data, disc.store.get('encoder/layer_0/attention/self/query/kernel')!.data, 'fine-tuning moved the trunk');

    // A compute budget (bench electra): stops at the budget whatever steps says, and run.json records the schedule as it ran.
    const budget = await pretrain({ ...s, steps: 100000, warmup: 5000, generatorRatio: 0.25 }, ctl(join(dir, 'c'), { trainSeconds: 2 }));
    assert.equal(budget.stopped, 'budget');
    const ran = JSON.parse(readFileSync(join(dir, 'c', 'run.json'), 'utf8'));
    assert.equal(ran.steps, budget.step);
    assert.ok(ran.steps >= 3 && ran.warmup >= 1 && ran.warmup <= Math.max(1, Math.ceil(0.1 * ran.steps)), `warmup ${ran.warmup} of ${ran.steps} steps keeps about its 5% share`);
    assert.equal(ran.generatorRatio, 0.25);
    const again = await pretrain(null, ctl(join(dir, 'c'), { resume: true, trainSeconds: 2 }));
    assert.deepEqual([again.step, again.stopped], [budget.step, 'budget'], 'a spent budget resumes to an immediate stop');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the sampler draws from the generator\'s softmax: a token it is sure of always, two equally likely ones about evenly', async () => {
  const store = new ParamStore(3);
  electraLoss(new Scope(store), c); // declares (and initialises) every weight
  const bias = store.get('generator/mlm/output_bias')!.data as Float32Array;
  const docs: TokenizedDocs = { ids: Int32Array.from({ length: 400 }, (_, i) => 5 + (i % 30)), wordStart: new Uint8Array(400).fill(1), offsets: Int32Array.from([0, 400]) };
  const packed = packRows(docs, [0], 16, { cls: 2, sep: 3, pad: 0, mask: 4 });
  const rows = Array.from({ length: packed.rows }, (_, i) => i);
  const batch = maskedBatch(packed, rows, rows.map((i) => i + 1), { rate: 0.3, maxPredictions: 5, maskId: 4, randomIds: Int32Array.from({ length: 35 }, (_, i) => 5 + i) });
  const labels = batch.mlm_labels!.data as BigInt64Array, positions = batch.mlm_positions!.data as BigInt64Array;
  const sampled = async (seed: number) => {
    const sampler = new ElectraSampler(c);
    try {
      const ids = (await sampler.corrupt(batch, store, new Random(seed))).input_ids!.data as BigInt64Array;
      return [...labels].flatMap((l, i) => (l === -100n ? [] : [Number(ids[Number(positions[i])])]));
    } finally {
      await sampler.release();
    }
  };
  bias.fill(0);
  bias[7] = 40;
  assert.ok((await sampled(1)).every((t) => t === 7));
  bias[9] = 40;
  const two = [...(await sampled(1)), ...(await sampled(2))];
  assert.ok(two.length >= 40 && two.every((t) => t === 7 || t === 9), `${two.length} samples: ${two.join(' ')}`);
  const sevens = two.filter((t) => t === 7).length / two.length;
  assert.ok(sevens > 0.25 && sevens < 0.75, `share of 7 among two equally likely tokens: ${sevens.toFixed(2)}`);
  assert.deepEqual(await sampled(1), await sampled(1), 'a seeded draw repeats');
});

test('replaced-token detection on held-out rows: a discriminator with a constant output scores AUC 0.5, its accuracy and loss follow the share replaced', async () => {
  const store = new ParamStore(4);
  electraLoss(new Scope(store), c);
  (store.get('discriminator/dense_prediction/kernel')!.data as Float32Array).fill(0);
  (store.get('discriminator/dense_prediction/bias')!.data as Float32Array).fill(-3); // "original" everywhere, logit -3
  const docs: TokenizedDocs = { ids: Int32Array.from({ length: 200 }, (_, i) => 5 + ((i * 7) % 30)), wordStart: new Uint8Array(200).fill(1), offsets: Int32Array.from([0, 200]) };
  const packed = packRows(docs, [0], 16, { cls: 2, sep: 3, pad: 0, mask: 4 });
  const rows = Array.from({ length: packed.rows }, (_, i) => i);
  const batches = [0, 1].map((k) => maskedBatch(packed, rows, rows.map((i) => 10 * k + i + 1), { rate: 0.3, maxPredictions: 5, maskId: 4, randomIds: Int32Array.from({ length: 35 }, (_, i) => 5 + i) }));
  const sampler = new ElectraSampler(c);
  try {
    const d = await evaluateDiscriminator(c, store, sampler, batches, 3);
    const attended = batches.reduce((n, b) => n + [...(b.attention_mask!.data as BigInt64Array)].filter((m) => m === 1n).length, 0);
    assert.equal(d.tokens, attended);
    assert.ok(d.replaced > 0.05 && d.replaced < 0.35, `replaced ${d.replaced}`);
    assert.equal(d.auc, 0.5);
    assert.ok(Math.abs(d.accuracy - (1 - d.replaced)) < 1e-12);
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    assert.ok(Math.abs(d.loss - ((1 - d.replaced) * softplus(-3) + d.replaced * softplus(3))) < 1e-5, `loss ${d.loss}`);
    assert.deepEqual(await evaluateDiscriminator(c, store, sampler, batches, 3), d, 'a seeded evaluation repeats');
  } finally {
    await sampler.release();
  }
});
