// The training loop around the step graph: batches as number arrays with defaulted feeds, evaluation
// every N steps shown on the progress line, best weights, early stopping, EMA, layer-wise rates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostTensor } from '../../src/runtime/session.ts';
import { ParamStore } from '../../src/nn/params.ts';
import { gather, input, mul, reduceSum, sub } from '../../src/graph/ops.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { TrainingError } from '../../src/training/errors.ts';
import { adam, layerOf, layerwiseDecay, sgd } from '../../src/training/optimizers.ts';
import { formatFigure, Progress } from '../../src/util/progress.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { batchAt, LAYERS, tinyBert } from './helpers.ts';

const bertTrainer = (model = tinyBert(), optimizer = adam(1e-2), extra = {}) => Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer, ...extra });
const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const snapshot = (store: ParamStore, names: string[]) => new Map(names.map((n) => [n, Buffer.from(bytes(store.get(n)!))]));

test('number[][] batches with attention_mask and token_type_ids omitted train a tiny BERT exactly as full int64 feeds do', async () => {
  const a = tinyBert(), b = tinyBert();
  const ta = await bertTrainer(a), tb = await bertTrainer(b);
  assert.deepEqual([...ta.batchInputs].sort(), ['attention_mask', 'input_ids', 'labels', 'token_type_ids']);
  const losses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const { input_ids, labels } = batchAt(i % 3);
    losses.push((await ta.trainStep({ input_ids, labels })).loss);
    const shape = [input_ids.length, input_ids[0]!.length];
    await tb.trainStep({
      input_ids: hostTensor('int64', shape, input_ids.flat()), labels: hostTensor('int64', shape, labels.flat()),
      attention_mask: hostTensor('int64', shape, new Array(shape[0]! * shape[1]!).fill(1)), token_type_ids: hostTensor('int64', shape),
    });
  }
  assert.ok(losses[11]! < losses[0]! * 0.8, `loss fell: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  assert.deepEqual(snapshot(a.store, ta.trainable), snapshot(b.store, tb.trainable));
  // Errors name the input and list what the loss graph takes.
  await assert.rejects(ta.trainStep(batchAt(0).input_ids), (e: Error) => e instanceof TrainingError && /bare array .* takes input_ids, labels/.test(e.message));
  await assert.rejects(ta.trainStep({ input_ids: batchAt(0).input_ids }), /batch: missing input 'labels'/);
  await assert.rejects(ta.trainStep({ ...batchAt(0), ids: [[1]] }), /batch: unknown input 'ids'/);
  await assert.rejects(ta.trainStep({ input_ids: [[1, 2], [3]], labels: [[1, 2], [3]] }), /input 'input_ids' rows have different lengths/);
  await assert.rejects(ta.trainStep({ input_ids: [[1, 2]], labels: [[0.5, 1]] }), /input 'labels' holds 0.5 at flat index 0; number arrays become int64/);
});

test('a bare number[][] batch feeds a graph with a single input', async () => {
  const store = new ParamStore();
  const t = await Trainer.create({
    store, optimizer: sgd(0.25),
    // loss = sum of squares of the gathered rows: each row used n times moves by lr * 2n * row.
    loss: (scope) => { const g = gather(scope.param('table', [3, 2], { kind: 'constant', value: 1 }), input('ids', 'int64', ['batch', 'seq'])); return reduceSum(mul(g, g)); },
  });
  await t.trainStep([[0, 1], [1, 1]]);
  assert.deepEqual([...(store.get('table')!.data as Float32Array)], [0.5, 0.5, -0.5, -0.5, 1, 1]);
});

test('evaluation runs every evalEvery updates; dev_loss and the metrics show on the progress line', async () => {
  const model = tinyBert();
  const trainer = await bertTrainer(model);
  const dev = [batchAt(100), batchAt(101)];
  // The built-in dev loss is the model's loss without dropout on the current weights: what predict says.
  const expected = (await Promise.all(dev.map(async (b) => (await model.predict(b)).loss!.data[0] as number))).reduce((s, x) => s + x) / 2;
  assert.ok(Math.abs((await trainer.evaluateLoss(dev)) - expected) < 1e-6);

  const lines: string[] = [];
  const progress = new Progress({ label: 'train', total: 10, unit: 'step', intervalMs: 0, stream: { write: (s: string) => lines.push(s), isTTY: false } });
  const calls: number[] = [];
  const result = await trainer.fit({
    batches: (function* () { for (let i = 0; ; i++) yield batchAt(i % 5); })(),
    steps: 10, evalEvery: 3, dev, progress,
    evaluate: async (step, store) => { calls.push(step); assert.equal(store, model.store); return { val_acc: step / 100 }; },
  });
  assert.deepEqual(calls, [3, 6, 9]);
  assert.deepEqual(result.evals.map((e) => e.step), [3, 6, 9]);
  assert.equal(result.stopped, 'steps');
  const tick = (step: number) => lines.find((l) => l.includes(` ${step}/10 `))!;
  assert.doesNotMatch(tick(2), /dev_loss/);
  assert.match(tick(3), /dev_loss \d\.\d+ .*val_acc 0\.03/);
  assert.match(tick(9), new RegExp(`dev_loss ${formatFigure(result.evals[2]!.dev_loss!)} .*val_acc 0\\.09`));
  assert.match(lines.join(''), /^step 6: dev_loss \d\.\d+  val_acc 0\.06$/m);
  assert.ok(result.evals[2]!.dev_loss! < result.evals[0]!.dev_loss!, 'dev loss falls');
});

test('restoreBest puts back the weights of the best evaluation', async () => {
  const model = tinyBert();
  const trainer = await bertTrainer(model);
  const scores: Record<number, number> = { 2: 0.5, 4: 0.9, 6: 0.7, 8: 0.6 };
  const seen = new Map<number, Map<string, Buffer>>();
  const devLoss = new Map<number, number>();
  const result = await trainer.fit({
    batches: (function* () { for (let i = 0; ; i++) yield batchAt(i); })(),
    steps: 8, evalEvery: 2, monitor: 'accuracy', mode: 'max', restoreBest: true, progress: false,
    evaluate: async (step, store) => {
      seen.set(step, snapshot(store, trainer.trainable));
      devLoss.set(step, (await model.predict(batchAt(100))).loss!.data[0] as number);
      return { accuracy: scores[step]! };
    },
  });
  assert.equal(trainer.step, 8);
  assert.deepEqual(result.best, { metric: 'accuracy', mode: 'max', value: 0.9, step: 4, wait: 2 });
  assert.notDeepEqual(seen.get(4), seen.get(8));
  assert.deepEqual(snapshot(model.store, trainer.trainable), seen.get(4));
  // The model predicts with the restored weights, not with a session baked at step 8.
  assert.equal((await model.predict(batchAt(100))).loss!.data[0], devLoss.get(4));
});

test('early stopping: patience evaluations without improvement end the run', async () => {
  const trainer = await bertTrainer();
  const calls: number[] = [];
  const result = await trainer.fit({
    batches: (function* () { for (let i = 0; ; i++) yield batchAt(i); })(),
    steps: 100, evalEvery: 2, patience: 3, progress: false,
    // Best at the second evaluation, then worse three times.
    evaluate: async (step) => { calls.push(step); return { val_loss: step === 4 ? 1 : 2 }; },
    monitor: 'val_loss',
  });
  assert.equal(result.stopped, 'patience');
  assert.deepEqual(calls, [2, 4, 6, 8, 10]);
  assert.equal(trainer.step, 10);
  assert.deepEqual(result.best, { metric: 'val_loss', mode: 'min', value: 1, step: 4, wait: 3 });
});

test('fit options are checked and errors name them', async () => {
  const trainer = await bertTrainer();
  const batches = [batchAt(0)];
  await assert.rejects(trainer.fit({ batches, steps: 1, patience: 2 }), (e: Error) => e instanceof TrainingError && e.option === 'monitor');
  await assert.rejects(trainer.fit({ batches, steps: 1, evaluate: async () => ({}) }), /evalEvery: /);
  await assert.rejects(trainer.fit({ batches, steps: 1, evalEvery: 1, evaluate: async () => ({ f1: 1 }), monitor: 'f1' }), /mode: is 'f1' better larger/);
  await assert.rejects(trainer.fit({ batches, steps: 1, evalEvery: 1, evaluate: async () => ({ f1: 1 }), monitor: 'acc', mode: 'max', progress: false }), /monitor: 'acc' is not among the evaluation's metrics \(f1\)/);
  await assert.rejects(trainer.fit({ batches, steps: 1.5 }), /steps: must be an integer >= 0/);
  await assert.rejects(Trainer.create({ store: new ParamStore(), loss: () => { throw new Error('unused'); }, optimizer: sgd(1), ema: 1 }), /ema: the decay must be in \(0, 1\)/);
});

// loss = sum((w - x)^2): gradient 2 (w - x), so SGD's weights are easy to follow on the host.
const quadratic = (store: ParamStore, extra = {}) => Trainer.create({
  store, optimizer: sgd(0.1), ...extra,
  loss: (scope) => { const d = sub(scope.param('w', [3], { kind: 'constant', value: 1 }), input('x', 'float32', [3])); return reduceSum(mul(d, d)); },
});

test('EMA: the averages equal ema = d*ema + (1-d)*w computed on the host; applyEma/resetOldWeights swap them in and out', async () => {
  const store = new ParamStore();
  const trainer = await quadratic(store, { ema: 0.9 });
  assert.throws(() => trainer.applyEma(), /no update has been made yet/);
  let ema = [0, 0, 0];
  for (let k = 1; k <= 5; k++) {
    await trainer.trainStep({ x: hostTensor('float32', [3], [k, -k, 0.5 * k]) });
    const w = [...(store.get('w')!.data as Float32Array)];
    ema = ema.map((e, i) => 0.9 * e + 0.1 * w[i]!);
  }
  const training = store.get('w')!;
  trainer.applyEma(false);
  const raw = [...(store.get('w')!.data as Float32Array)];
  ema.forEach((e, i) => assert.ok(Math.abs(raw[i]! - e) < 1e-6, `raw average ${raw[i]} vs ${e}`));
  trainer.resetOldWeights();
  assert.equal(store.get('w'), training);
  trainer.applyEma(); // bias-corrected, as bert4keras's apply_ema_weights
  const corrected = [...(store.get('w')!.data as Float32Array)];
  ema.forEach((e, i) => assert.ok(Math.abs(corrected[i]! - e / (1 - 0.9 ** 5)) < 1e-6, `corrected ${corrected[i]} vs ${e / (1 - 0.9 ** 5)}`));
  await assert.rejects(trainer.trainStep({ x: hostTensor('float32', [3], [0, 0, 0]) }), /resetOldWeights/);
  trainer.resetOldWeights();
  assert.equal(store.get('w'), training);
});

test('layer-wise decay: one SGD step moves layer i by decay^(L - i), embeddings by decay^(L + 1), the head fully', async () => {
  const plain = tinyBert(), decayed = tinyBert();
  const before = snapshot(plain.store, plain.store.names());
  const decay = 0.5;
  const tp = await bertTrainer(plain, sgd(0.1));
  const td = await bertTrainer(decayed, sgd(0.1), { lrMultiplier: layerwiseDecay(decay, LAYERS) });
  await tp.trainStep(batchAt(0));
  await td.trainStep(batchAt(0));
  const depths = new Set<string>();
  for (const name of tp.trainable) {
    const d = layerOf(name);
    const want = d === undefined ? 1 : decay ** (d === 'embeddings' ? LAYERS + 1 : LAYERS - d);
    depths.add(String(d));
    const w0 = new Float32Array(new Uint8Array(before.get(name)!).buffer);
    const wp = plain.store.get(name)!.data as Float32Array, wd = decayed.store.get(name)!.data as Float32Array;
    // Per element, up to the float32 rounding of the two updated weights (2^-23 relative each).
    let moved = 0;
    for (let i = 0; i < w0.length; i++) {
      const ulp = Math.max(Math.abs(w0[i]!), Math.abs(wp[i]!), Math.abs(wd[i]!)) * 2 ** -23;
      assert.ok(Math.abs((wd[i]! - w0[i]!) - want * (wp[i]! - w0[i]!)) <= 2 * ulp + 1e-12, `${name}[${i}]: moved ${wd[i]! - w0[i]!}, expected ${want} x ${wp[i]! - w0[i]!}`);
      if (Math.abs(wp[i]! - w0[i]!) > 1e3 * ulp) moved++;
    }
    if (d !== undefined) assert.ok(moved > 0, `${name}: no element moved clearly enough to check the ratio`);
  }
  assert.deepEqual([...depths].sort(), ['0', '1', 'embeddings', 'undefined']);
  assert.throws(() => layerwiseDecay(0.5, 1)('encoder/layer_3/attention/query/kernel'), /layer 3, outside the 1 layers/);
  await assert.rejects(bertTrainer(tinyBert(), sgd(1), { lrMultiplier: () => NaN }), /lrMultiplier: gave NaN for '/);
});

test('dispose frees the sessions now; the trainer then refuses to step or evaluate, the weights stay', async () => {
  const model = tinyBert();
  const t = await bertTrainer(model);
  await t.trainStep(batchAt(0));
  await t.evaluateLoss([batchAt(1)]);
  const before = snapshot(model.store, t.trainable);
  await t.dispose();
  await t.dispose(); // twice is harmless
  await assert.rejects(t.trainStep(batchAt(0)), /trainStep: this Trainer was disposed/);
  await assert.rejects(t.evaluateLoss([batchAt(1)]), /evaluateLoss: this Trainer was disposed/);
  assert.deepEqual(snapshot(model.store, t.trainable), before);
  // A new trainer over the same store trains on from those weights.
  const again = await bertTrainer(model);
  assert.ok(Number.isFinite((await again.trainStep(batchAt(0))).loss));
});
