// Training against the PyTorch reference (test/fixtures/reference, make_reference.py): for every case
// with a loss, our autodiff's gradient of every weight equals PyTorch autograd's (float64), and ten
// steps of plain SGD and of Adam through the Trainer give PyTorch's loss curve. The reference
// gradients are stored under Hugging Face names and layouts; they are read through the same loader
// as the weights (its renames, transposes and splits are linear, so they map gradients too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grad } from '../../src/autodiff/grad.ts';
import { buildModel, type BuildModelOptions } from '../../src/models/index.ts';
import { Scope } from '../../src/nn/params.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam, sgd, type OptimizerConfig } from '../../src/training/optimizers.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { readCase, REFERENCE_DIR } from './helpers.ts';

interface TrainReference {
  sgd: { lr: number; losses: number[] };
  adam: { lr: number; beta1: number; beta2: number; eps: number; losses: number[] };
}

/** Every reference case with a loss (the generator writes the training files for exactly those). */
const CASES = readdirSync(REFERENCE_DIR).filter((f) => existsSync(join(REFERENCE_DIR, f, 'io.json')) && readCase(f).loss !== undefined).sort();
/** Gradients: float32 against float64, relative to the tensor's largest reference gradient. */
const GRAD_TOLERANCE = 1e-4;
/** Loss curves: absolute, per step. */
const CURVE_TOLERANCE = 2e-4;

const feedsOf = (inputs: Record<string, number[][] | number[]>): Record<string, HostTensor> =>
  Object.fromEntries(Object.entries(inputs).map(([k, rows]) => [k, Array.isArray(rows[0])
    ? hostTensor('int64', [rows.length, (rows[0] as number[]).length], (rows as number[][]).flat())
    : hostTensor('int64', [rows.length], rows as number[])]));

test('the training reference covers the twelve cases with a loss', () => {
  assert.equal(CASES.length, 12, `cases with a loss: ${CASES.join(', ')}`);
});

for (const name of CASES) {
  const dir = join(REFERENCE_DIR, name);
  const ref = readCase(name);
  const options: BuildModelOptions = { application: ref.application, checkpoint: join(dir, 'model.safetensors'), dropoutRate: 0, attentionDropoutRate: 0 };
  const build = (checkpoint = join(dir, 'model.safetensors')) => buildModel(join(dir, 'config.json'), { ...options, checkpoint });

  test(`${name}: every weight's gradient equals PyTorch autograd's`, async () => {
    const model = build();
    const scope = new Scope(model.store, '', { training: true, seed: 0 });
    const loss = model.loss(scope);
    const params = [...scope.declared.entries()];
    const grads = grad(loss, params.map(([, t]) => t));
    const outputs = Object.fromEntries([['loss', loss], ...params.map(([n], i) => [`grad:${n}`, grads[i]!])]);
    const exe = await compile(outputs, { params: 'initializers', paramValue: (n) => model.store.get(n) });
    const out = await exe.run(feedsOf(ref.inputs));
    assert.ok(Math.abs((out.loss!.data[0] as number) - ref.loss!) < 1e-4, `loss ${out.loss!.data[0]} vs ${ref.loss}`);
    const expected = build(join(dir, 'grads.safetensors')).store; // the reference gradients under our names
    let compared = 0;
    for (const [n] of params) {
      const want = expected.get(n), got = out[`grad:${n}`]!;
      assert.ok(want, `no reference gradient for '${n}'`);
      assert.deepEqual([...got.shape], [...want.shape], `${n}: shape`);
      let scale = 0, worst = 0;
      for (let i = 0; i < want.data.length; i++) {
        scale = Math.max(scale, Math.abs(want.data[i] as number));
        worst = Math.max(worst, Math.abs((got.data[i] as number) - (want.data[i] as number)));
      }
      assert.ok(worst <= GRAD_TOLERANCE * Math.max(scale, 1e-3), `${n}: max |ours - PyTorch| ${worst.toExponential(2)}, largest reference gradient ${scale.toExponential(2)}`);
      compared++;
    }
    assert.ok(compared >= 10, `only ${compared} weights compared`);
  });

  test(`${name}: ten SGD steps and ten Adam steps follow PyTorch's loss curves`, async () => {
    const train = JSON.parse(readFileSync(join(dir, 'train.json'), 'utf8')) as TrainReference;
    const optimizers: [string, OptimizerConfig, number[]][] = [
      ['sgd', sgd(train.sgd.lr), train.sgd.losses],
      ['adam', adam(train.adam.lr, { beta1: train.adam.beta1, beta2: train.adam.beta2, epsilon: train.adam.eps }), train.adam.losses],
    ];
    for (const [label, optimizer, want] of optimizers) {
      const model = build();
      const trainer = await Trainer.create({ store: model.store, loss: (scope) => model.loss(scope), optimizer });
      const got: number[] = [];
      for (let step = 0; step < want.length; step++) got.push((await trainer.trainStep(feedsOf(ref.inputs))).loss);
      await trainer.dispose();
      const worst = Math.max(...got.map((l, i) => Math.abs(l - want[i]!)));
      assert.ok(worst <= CURVE_TOLERANCE, `${label}: ours ${got.map((l) => l.toFixed(5)).join(' ')}\n  PyTorch ${want.map((l) => l.toFixed(5)).join(' ')} (max diff ${worst.toExponential(2)})`);
    }
  });
}
