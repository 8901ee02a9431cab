// Checkpoints in both namings: the real TF checkpoints (Google BERT naming, OpenAI GPT-2 naming) load
// and run, and every naming of the same weights gives the same outputs; ONNX export and our own
// safetensors round-trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { castFloat, openCheckpoint, writePytorchBin } from '../../src/checkpoint/index.ts';
import { buildModel, type BuildModelOptions, type Model } from '../../src/models/index.ts';
import { assertClose, readCase, REFERENCE_DIR, sharedPath } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'bert4ts-models-'));

async function outputsOf(model: Model, inputs: Record<string, number[][]>) {
  return model.predict(inputs, { outputs: Object.keys(model.outputs).filter((n) => n !== 'loss') });
}

async function assertSameOutputs(a: Model, b: Model, inputs: Record<string, number[][]>, what: string): Promise<void> {
  const [x, y] = [await outputsOf(a, inputs), await outputsOf(b, inputs)];
  assert.deepEqual(Object.keys(y).sort(), Object.keys(x).sort());
  for (const key of Object.keys(x)) assertClose(y[key]!, x[key]!, 1e-6, `${what} ${key}`);
}

const bertTiny = sharedPath('checkpoints', 'tf', 'keras_bert_tiny');
test('real TF checkpoint keras_bert_tiny (Google naming) loads every tensor into BERT and runs', { skip: bertTiny ? false : 'needs ../shared/data/checkpoints/tf/keras_bert_tiny' }, async () => {
  const options: BuildModelOptions = { application: 'mlm', withNsp: true, checkpoint: join(bertTiny!, 'bert_model.ckpt') };
  const model = buildModel(join(bertTiny!, 'bert_config.json'), options);
  assert.equal(model.loadReport!.naming, 'google');
  assert.deepEqual(model.loadReport!.unexpected, [], 'only Adam slots and global_step are left over');
  assert.equal(model.loadReport!.loaded, model.weightNames().length);
  // Values as an independent reader saw them in the file.
  const expected = JSON.parse(readFileSync(join(bertTiny!, 'tensors.expected.json'), 'utf8')).tensors as { name: string; first_values: number[] }[];
  const words = expected.find((t) => t.name === 'bert/embeddings/word_embeddings')!.first_values;
  assert.deepEqual(Array.from(model.store.get('embeddings/word_embeddings')!.data.slice(0, words.length) as Float32Array), words.map(Math.fround));
  const inputs = { input_ids: [[2, 5, 6, 7, 4, 3], [2, 9, 10, 3, 0, 0]], attention_mask: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]] };
  const out = await outputsOf(model, inputs);
  assert.deepEqual(out.logits!.shape, [2, 6, 15]);
  assert.deepEqual(out.nsp_logits!.shape, [2, 2]);
  assert.ok((out.logits!.data as Float32Array).every(Number.isFinite));
  // The same weights in Hugging Face naming (written by our Google -> HF inverse map) give the same outputs.
  const dir = tmp();
  try {
    model.saveCheckpoint(join(dir, 'model.safetensors'));
    const hf = buildModel(join(bertTiny!, 'bert_config.json'), { ...options, checkpoint: join(dir, 'model.safetensors') });
    assert.equal(hf.loadReport!.naming, 'hf');
    const reader = openCheckpoint(join(dir, 'model.safetensors'));
    assert.ok(reader.has('bert.encoder.layer.1.attention.self.query.weight'));
    reader.close();
    await assertSameOutputs(model, hf, inputs, 'google vs hf');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const gpt2Toy = sharedPath('checkpoints', 'tf', 'keras_gpt2_toy');
test('real TF checkpoint keras_gpt2_toy (OpenAI naming, hparams.json) loads into GPT-2 and runs', { skip: gpt2Toy ? false : 'needs ../shared/data/checkpoints/tf/keras_gpt2_toy' }, async () => {
  const model = buildModel(join(gpt2Toy!, 'hparams.json'), { checkpoint: gpt2Toy! });
  assert.equal(model.family, 'gpt2');
  assert.equal(model.loadReport!.naming, 'google');
  assert.deepEqual(model.loadReport!.unexpected, []);
  const inputs = { input_ids: [[1, 2, 3, 4, 5]] };
  const out = await outputsOf(model, inputs);
  assert.deepEqual(out.logits!.shape, [1, 5, 356]);
  const dir = tmp();
  try {
    model.saveCheckpoint(join(dir, 'model.safetensors'));
    const reader = openCheckpoint(join(dir, 'model.safetensors'));
    assert.deepEqual(reader.list().find((t) => t.name === 'transformer.h.0.attn.c_attn.weight')!.shape, [15, 45]);
    reader.close();
    const hf = buildModel(join(gpt2Toy!, 'hparams.json'), { checkpoint: join(dir, 'model.safetensors') });
    assert.equal(hf.loadReport!.naming, 'hf');
    await assertSameOutputs(model, hf, inputs, 'openai vs hf');
    // Causality: changing the last token leaves earlier logits alone.
    const changed = await outputsOf(model, { input_ids: [[1, 2, 3, 4, 9]] });
    assertClose({ ...changed.logits!, shape: [4 * 356], data: changed.logits!.data.slice(0, 4 * 356) }, { shape: [4 * 356], data: out.logits!.data.slice(0, 4 * 356) as Float32Array }, 1e-6, 'prefix logits');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The reference weights rewritten in Google / OpenAI naming as TF checkpoints reproduce the reference.
const GOOGLE_CASES: [string, BuildModelOptions][] = [
  ['bert-mlm', {}], ['bert-nsp', {}], ['albert-mlm', {}], ['electra-discriminator', {}], ['electra-generator', {}], ['gpt2-lm', {}],
];
for (const [name, extra] of GOOGLE_CASES) {
  test(`${name}: the same weights as a Google-named TF checkpoint reproduce the reference`, async () => {
    const ref = readCase(name);
    const cfg = join(REFERENCE_DIR, name, 'config.json');
    const hf = buildModel(cfg, { application: ref.application, checkpoint: join(REFERENCE_DIR, name, 'model.safetensors'), ...extra });
    const dir = tmp();
    try {
      hf.saveCheckpoint(join(dir, 'model.ckpt'));
      const reader = openCheckpoint(join(dir, 'model.ckpt')); // an open reader works as well as a path
      const google = buildModel(cfg, { application: ref.application, checkpoint: reader, ...extra });
      reader.close();
      assert.equal(google.loadReport!.naming, 'google');
      assert.deepEqual(google.loadReport!.unexpected, []);
      const out = await google.predict(ref.inputs);
      for (const [key, expected] of Object.entries(ref.outputs)) assertClose(out[key]!, expected, 1e-4, `${name} ${key}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('exportOnnx: plain onnxruntime runs the exported model to the same outputs; saveSafetensors keeps our names', async () => {
  const ref = readCase('bert-mlm');
  const model = buildModel(join(REFERENCE_DIR, 'bert-mlm', 'config.json'), { application: 'mlm', checkpoint: join(REFERENCE_DIR, 'bert-mlm', 'model.safetensors') });
  const dir = tmp();
  try {
    const { modelPath, inputs } = model.exportOnnx(join(dir, 'bert.onnx'));
    assert.deepEqual([...inputs].sort(), ['attention_mask', 'input_ids', 'token_type_ids']);
    const session = await ort.InferenceSession.create(modelPath);
    const feeds: Record<string, ort.Tensor> = {};
    for (const n of inputs) {
      const rows = ref.inputs[n] as number[][];
      feeds[n] = new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
    }
    const out = await session.run(feeds);
    assertClose({ dtype: 'float32', shape: [...out.logits!.dims], data: out.logits!.data as Float32Array }, ref.outputs.logits!, 1e-4, 'onnx logits');
    await session.release();

    model.saveSafetensors(join(dir, 'ours.safetensors'));
    const reader = openCheckpoint(join(dir, 'ours.safetensors'));
    assert.deepEqual(reader.list().map((t) => t.name).sort(), model.weightNames());
    assert.deepEqual(Array.from(reader.read('mlm/output_bias').data as Float32Array), Array.from(model.store.get('mlm/output_bias')!.data as Float32Array));
    reader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ALBERT with 2 hidden groups over 4 layers: two shared blocks; albert_unshared loads them into 4 layers with the same outputs', async () => {
  const config = {
    model_type: 'albert', vocab_size: 40, embedding_size: 8, hidden_size: 16, num_hidden_layers: 4, num_hidden_groups: 2,
    inner_group_num: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16, hidden_act: 'gelu_new',
  };
  const shared = buildModel(config, { application: 'mlm', seed: 5 });
  assert.deepEqual(shared.weightNames().filter((n) => n.endsWith('query/kernel')), ['encoder/group_0/attention/self/query/kernel', 'encoder/group_1/attention/self/query/kernel']);
  const dir = tmp();
  try {
    shared.saveCheckpoint(join(dir, 'model.safetensors'));
    const reader = openCheckpoint(join(dir, 'model.safetensors'));
    const names = reader.list().map((t) => t.name);
    reader.close();
    assert.ok(names.includes('albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.weight'));
    assert.ok(!names.some((n) => n.includes('albert_layer_groups.2')));
    const unshared = buildModel(config, { application: 'mlm', family: 'albert_unshared', checkpoint: join(dir, 'model.safetensors') });
    assert.equal(unshared.weightNames().filter((n) => n.endsWith('query/kernel')).length, 4);
    // Layers 0-1 come from group 0 and layers 2-3 from group 1 (HF: group = floor(i / (L / G))).
    assert.deepEqual(unshared.store.get('encoder/layer_1/output/dense/kernel')!.data, shared.store.get('encoder/group_0/output/dense/kernel')!.data);
    assert.deepEqual(unshared.store.get('encoder/layer_2/output/dense/kernel')!.data, shared.store.get('encoder/group_1/output/dense/kernel')!.data);
    await assertSameOutputs(shared, unshared, { input_ids: [[5, 9, 12, 30, 7]] }, 'albert vs albert_unshared');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gpt2-lm: the reference weights as pytorch_model.bin (fp32 and fp16) load through a model directory', async () => {
  const ref = readCase('gpt2-lm');
  const source = openCheckpoint(join(REFERENCE_DIR, 'gpt2-lm', 'model.safetensors'));
  const tensors = source.list().map((t) => [t.name, source.read(t.name)] as const);
  source.close();
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'config.json'), readFileSync(join(REFERENCE_DIR, 'gpt2-lm', 'config.json')));
    writePytorchBin(join(dir, 'pytorch_model.bin'), tensors.map(([n, t]) => [n, t]));
    const model = buildModel(dir, { checkpoint: dir });
    const out = await model.predict(ref.inputs);
    for (const [key, expected] of Object.entries(ref.outputs)) assertClose(out[key]!, expected, 1e-4, `bin ${key}`);
    writePytorchBin(join(dir, 'pytorch_model.bin'), tensors.map(([n, t]) => [n, castFloat(t, 'float16')]));
    const half = await buildModel(dir, { checkpoint: dir }).predict(ref.inputs);
    assertClose(half.logits!, ref.outputs.logits!, 5e-2, 'fp16 logits'); // fp16 weights: close, not exact
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
