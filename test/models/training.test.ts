// A built Model trains with the engine's Trainer: its loss rebuilt in the training scope equals the
// reference loss before any update, falls over a few steps, and predict() sees the new weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { hostTensor } from '../../src/runtime/session.ts';
import { buildModel } from '../../src/models/index.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam } from '../../src/training/optimizers.ts';
import { readCase, REFERENCE_DIR } from './helpers.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';

function int64(rows: number[][] | number[]): HostTensor {
  return Array.isArray(rows[0]) ? hostTensor('int64', [rows.length, (rows[0] as number[]).length], (rows as number[][]).flat()) : hostTensor('int64', [rows.length], rows as number[]);
}

for (const name of ['bert-mlm', 'electra-discriminator', 'gpt2-lm']) {
  test(`${name}: trains with Trainer; first loss equals the reference, then falls; predict follows`, async () => {
    const ref = readCase(name);
    const dir = join(REFERENCE_DIR, name);
    const model = buildModel(join(dir, 'config.json'), { application: ref.application, checkpoint: join(dir, 'model.safetensors'), dropoutRate: 0, attentionDropoutRate: 0 });
    const trainer = await Trainer.create({ store: model.store, loss: (scope) => model.loss(scope), optimizer: adam(1e-2) });
    const batch = Object.fromEntries(Object.entries(ref.inputs).map(([k, v]) => [k, int64(v)]));
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) losses.push((await trainer.trainStep(batch)).loss);
    assert.ok(Math.abs(losses[0]! - ref.loss!) < 1e-4, `first loss ${losses[0]} vs reference ${ref.loss}`);
    assert.ok(losses[7]! < losses[0]! * 0.8, `loss fell: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    const after = (await model.predict(ref.inputs)).loss!.data[0] as number;
    assert.ok(after < losses[7]! + 1e-3 && after < ref.loss! * 0.8, `predict uses the trained weights: ${after}`);
  });
}

test('predict reuses its session until a weight changes, and recovers when the runtime releases it', async () => {
  const { clearSessionCache } = await import('../../src/runtime/session.ts');
  const dir = join(REFERENCE_DIR, 'bert-mlm');
  const model = buildModel(join(dir, 'config.json'), { application: 'mlm', checkpoint: join(dir, 'model.safetensors') });
  const before = (await model.predict({ input_ids: [[5, 6, 7]] })).logits!;
  await clearSessionCache(); // releases every ORT session, the model's cached one included
  const after = (await model.predict({ input_ids: [[5, 6, 7]] })).logits!;
  assert.deepEqual(after.data, before.data);
  // Replacing a weight (as the Trainer does) is seen by the next predict.
  const bias = model.store.get('mlm/output_bias')!;
  model.store.set('mlm/output_bias', { ...bias, data: (bias.data as Float32Array).map((v) => v + 1) });
  const shifted = (await model.predict({ input_ids: [[5, 6, 7]] })).logits!;
  assert.ok(Math.abs((shifted.data[0] as number) - (before.data[0] as number) - 1) < 1e-5);
});
