// Every BERT-shaped and GPT-2 reference case (PyTorch, HF naming) loads through buildModel from its
// config.json + model.safetensors and reproduces every stored output and the loss within 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildModel, type BuildModelOptions } from '../../src/models/index.ts';
import { assertClose, readCase, REFERENCE_DIR } from './helpers.ts';

const TOLERANCE = 1e-4;

const CASES: [string, BuildModelOptions][] = [
  ['bert-encoder', { withPool: true }],
  ['bert-mlm', {}],
  ['bert-nsp', {}],
  ['bert-lm', {}],
  ['bert-unilm', {}],
  ['roberta-encoder', { withPool: true }],
  ['roberta-mlm', {}],
  ['albert-encoder', { withPool: true }],
  ['albert-mlm', {}],
  ['albert-encoder', { withPool: true, family: 'albert_unshared' }],
  ['albert-mlm', { family: 'albert_unshared' }],
  ['electra-discriminator', {}],
  ['electra-generator', {}],
  ['gpt2-lm', {}],
];

for (const [name, extra] of CASES) {
  test(`${name}${extra.family ? ` as ${extra.family}` : ''} matches the PyTorch reference`, async () => {
    const ref = readCase(name);
    const dir = join(REFERENCE_DIR, name);
    const model = buildModel(join(dir, 'config.json'), { application: ref.application, checkpoint: join(dir, 'model.safetensors'), ...extra });
    assert.equal(model.loadReport?.naming, 'hf');
    assert.deepEqual(model.loadReport?.unexpected, [], 'every checkpoint tensor is used');
    const out = await model.predict(ref.inputs);
    for (const [key, expected] of Object.entries(ref.outputs)) {
      assert.ok(out[key], `output ${key} is produced (have ${Object.keys(out).join(', ')})`);
      assertClose(out[key]!, expected, TOLERANCE, `${name} ${key}`);
    }
    if (ref.loss !== undefined) {
      const loss = out.loss!.data[0] as number;
      assert.ok(Math.abs(loss - ref.loss) <= TOLERANCE, `${name} loss ${loss} vs ${ref.loss}`);
    }
  });
}
