import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add, input, mul, reduceSum, sub } from '../../src/graph/ops.ts';
import { ParamStore } from '../../src/nn/params.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam, adamW, sgd, type OptimizerConfig } from '../../src/training/optimizers.ts';
import { piecewiseLinear, warmupCosine, warmupLinear } from '../../src/training/schedules.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';

// loss = sum((w - target)^2 * x): gradient 2 (w - target) x, easy to mirror on the host.
function quadratic(store: ParamStore, optimizer: OptimizerConfig, extra: { clipNorm?: number; accumulate?: number } = {}) {
  return Trainer.create({
    store, optimizer, ...extra,
    loss: (scope) => {
      const w = scope.param('layer/kernel', [3], { kind: 'constant', value: 1 });
      const b = scope.param('layer/bias', [3], { kind: 'constant', value: 1 });
      const x = input('x', 'float32', [3]);
      const d = sub(w, input('target', 'float32', [3]));
      return reduceSum(mul(add(mul(d, d), mul(b, b)), x));
    },
  });
}

const f32 = (v: number[]): HostTensor => ({ dtype: 'float32', shape: [v.length], data: Float32Array.from(v) });
const X = [1, 2, 0.5], TARGET = [0, 3, -1];

function close(a: ArrayLike<number>, b: number[], tol = 1e-5) {
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < tol, `index ${i}: ${a[i]} vs ${b[i]}`);
}

test('SGD with momentum matches the host computation', async () => {
  const store = new ParamStore();
  const t = await quadratic(store, sgd(0.1, 0.9));
  let w = [1, 1, 1], buf = [0, 0, 0];
  for (let s = 0; s < 3; s++) {
    await t.trainStep({ x: f32(X), target: f32(TARGET) });
    const g = w.map((wi, i) => 2 * (wi - TARGET[i]!) * X[i]!);
    buf = buf.map((bi, i) => 0.9 * bi + g[i]!);
    w = w.map((wi, i) => wi - 0.1 * buf[i]!);
  }
  close(store.get('layer/kernel')!.data as Float32Array, w);
});

test('AdamW: bias-corrected Adam plus decoupled decay, biases excluded from decay', async () => {
  const store = new ParamStore();
  const t = await quadratic(store, adamW(0.05, { weightDecay: 0.1 }));
  let w = [1, 1, 1], m = [0, 0, 0], v = [0, 0, 0];
  let b = [1, 1, 1], mb = [0, 0, 0], vb = [0, 0, 0];
  for (let s = 1; s <= 4; s++) {
    await t.trainStep({ x: f32(X), target: f32(TARGET) });
    const g = w.map((wi, i) => 2 * (wi - TARGET[i]!) * X[i]!);
    const gb = b.map((bi, i) => 2 * bi * X[i]!);
    const step = (p: number[], gr: number[], mm: number[], vv: number[], decay: number) => p.map((pi, i) => {
      mm[i] = 0.9 * mm[i]! + 0.1 * gr[i]!;
      vv[i] = 0.999 * vv[i]! + 0.001 * gr[i]! ** 2;
      const mh = mm[i]! / (1 - 0.9 ** s), vh = vv[i]! / (1 - 0.999 ** s);
      return pi - 0.05 * mh / (Math.sqrt(vh) + 1e-8) - 0.05 * decay * pi;
    });
    w = step(w, g, m, v, 0.1);
    b = step(b, gb, mb, vb, 0);
  }
  close(store.get('layer/kernel')!.data as Float32Array, w, 1e-4);
  close(store.get('layer/bias')!.data as Float32Array, b, 1e-4);
});

test('gradient accumulation over k micro-batches equals one step on their mean gradient', async () => {
  const a = new ParamStore(), b = new ParamStore();
  const ta = await quadratic(a, adam(0.1), { accumulate: 2 });
  const tb = await quadratic(b, adam(0.1));
  const r1 = await ta.trainStep({ x: f32([1, 2, 0.5]), target: f32(TARGET) });
  assert.equal(r1.applied, false);
  close(a.get('layer/kernel')!.data as Float32Array, [1, 1, 1]);
  const r2 = await ta.trainStep({ x: f32([3, 0, 1.5]), target: f32(TARGET) });
  assert.equal(r2.applied, true);
  await tb.trainStep({ x: f32([2, 1, 1]), target: f32(TARGET) }); // mean of the two x (loss is linear in x)
  close(a.get('layer/kernel')!.data as Float32Array, [...(b.get('layer/kernel')!.data as Float32Array)]);
  assert.equal(ta.step, 1);
});

test('global-norm clipping scales the gradient to the clip norm', async () => {
  const store = new ParamStore();
  const t = await quadratic(store, sgd(1), { clipNorm: 0.5 });
  const r = await t.trainStep({ x: f32(X), target: f32(TARGET) });
  const g = [1, 1, 1].map((wi, i) => 2 * (wi - TARGET[i]!) * X[i]!);
  const gb = [1, 1, 1].map((_, i) => 2 * X[i]!);
  const norm = Math.sqrt([...g, ...gb].reduce((s, x) => s + x * x, 0));
  assert.ok(Math.abs(r.gradNorm - norm) < 1e-4, `grad norm ${r.gradNorm} vs ${norm}`);
  close(store.get('layer/kernel')!.data as Float32Array, g.map((gi) => 1 - (gi * 0.5) / norm));
});

test('a NaN loss is reported with the step, not silently trained on', async () => {
  const store = new ParamStore();
  const t = await quadratic(store, sgd(0.1));
  await assert.rejects(t.trainStep({ x: f32([NaN, 1, 1]), target: f32(TARGET) }), /loss became .* at step 0/);
});

test('schedules: warmup then linear/cosine decay, piecewise linear', () => {
  const lin = warmupLinear({ peak: 1, warmup: 10, total: 110 });
  assert.equal(lin(0), 0.1);
  assert.equal(lin(9), 1);
  assert.ok(Math.abs(lin(60) - 0.5) < 1e-12);
  assert.equal(lin(500), 0);
  const cos = warmupCosine({ peak: 1, warmup: 0, total: 100, min: 0.1 });
  assert.equal(cos(0), 1);
  assert.ok(Math.abs(cos(50) - 0.55) < 1e-12);
  assert.ok(Math.abs(cos(100) - 0.1) < 1e-12);
  const pw = piecewiseLinear(1, { 100: 1, 200: 0.5 });
  assert.equal(pw(50), 0.5);
  assert.equal(pw(150), 0.75);
  assert.equal(pw(1000), 0.5);
});
