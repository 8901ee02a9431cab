// Bad input: unknown family or config key, missing tensors, shape mismatches, wrong applications.
// Every error names the file and the tensor or key at fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, writeSafetensors } from '../../src/checkpoint/index.ts';
import { buildModel } from '../../src/models/index.ts';
import { REFERENCE_DIR } from './helpers.ts';

const bertDir = join(REFERENCE_DIR, 'bert-mlm');
const bertConfig = () => JSON.parse(readFileSync(join(bertDir, 'config.json'), 'utf8')) as Record<string, unknown>;

function withTemp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-errors-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('unknown family, model_type or application is refused by name', () => {
  assert.throws(() => buildModel(bertConfig(), { family: 'bart' }), /unknown model family 'bart' \(known: bert, roberta, albert/);
  assert.throws(() => buildModel({ ...bertConfig(), model_type: 'deberta' }), /config object: unknown model_type 'deberta'/);
  assert.throws(() => buildModel(bertConfig(), { application: 'seq2seq' }), /bert has no application 'seq2seq'/);
  assert.throws(() => buildModel(bertConfig(), { application: 'discriminator' }), /'discriminator' is ELECTRA's/);
  assert.throws(() => buildModel(bertConfig(), { hierarchicalPosition: 1.5 }), /alpha must be in \(0, 1\), got 1.5/);
  assert.throws(() => buildModel(bertConfig(), { application: 'nsp', numClasses: 0 }), /numClasses must be a positive integer, got 0/);
  const { model_type: _, ...noType } = bertConfig();
  assert.throws(() => buildModel({ vocab_size: 10 }), /cannot tell the model family/);
  assert.equal(buildModel(noType).family, 'bert', 'a Google bert_config.json (no model_type) is a BERT');
});

test('unsupported config keys and values are refused, naming the file and key; real hub keys are accepted', () => {
  withTemp((dir) => {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ ...bertConfig(), rotary_dim: 16 }));
    assert.throws(() => buildModel(path), (e: Error) => e.message.includes(path) && /unsupported config key 'rotary_dim'/.test(e.message));
    writeFileSync(path, JSON.stringify({ ...bertConfig(), position_embedding_type: 'relative_key' }));
    assert.throws(() => buildModel(path), /position_embedding_type 'relative_key' is not supported/);
    writeFileSync(path, JSON.stringify({ ...bertConfig(), hidden_act: 'mish' }));
    assert.throws(() => buildModel(path), /hidden_act: unsupported activation "mish"/);
    for (const act of ['silu', 'swish']) { // Hugging Face's names for x * sigmoid(x)
      writeFileSync(path, JSON.stringify({ ...bertConfig(), hidden_act: act }));
      assert.equal((buildModel(path).config as { hiddenAct: string }).hiddenAct, 'swish');
    }
    writeFileSync(path, JSON.stringify({ ...bertConfig(), hidden_size: '32' }));
    assert.throws(() => buildModel(path), /'hidden_size' must be an integer, got "32"/);
    const { vocab_size: _, ...noVocab } = bertConfig();
    writeFileSync(path, JSON.stringify(noVocab));
    assert.throws(() => buildModel(path), /missing required key 'vocab_size'/);
    writeFileSync(path, '{ not json');
    assert.throws(() => buildModel(path), /config.json: not valid JSON/);
  });
  // Keys hub files carry: fixtures have architectures, torch_dtype, transformers_version, n_ctx, summary_*.
  for (const name of ['gpt2-lm', 'electra-generator', 'albert-mlm', 'roberta-mlm']) assert.ok(buildModel(join(REFERENCE_DIR, name, 'config.json'), { application: name === 'gpt2-lm' ? 'lm' : 'encoder' }));
  assert.throws(() => buildModel({ ...JSON.parse(readFileSync(join(REFERENCE_DIR, 'gpt2-lm', 'config.json'), 'utf8')), scale_attn_by_inverse_layer_idx: true }), /scale_attn_by_inverse_layer_idx is not supported/);
});

/** The bert-mlm reference weights, minus `drop`, with `change` applied. */
function rewrite(dir: string, drop: string[], change: Record<string, (t: { shape: number[] }) => void> = {}): string {
  const reader = openCheckpoint(join(bertDir, 'model.safetensors'));
  const tensors = reader.list().filter((t) => !drop.includes(t.name)).map((t) => {
    const value = reader.read(t.name);
    change[t.name]?.(value);
    return [t.name, value] as [string, typeof value];
  });
  reader.close();
  const path = join(dir, 'model.safetensors');
  writeSafetensors(path, tensors);
  return path;
}

test('missing tensors are listed by name with the file; optional heads only reported', () => {
  withTemp((dir) => {
    const path = rewrite(dir, ['bert.encoder.layer.1.output.dense.weight', 'cls.predictions.bias']);
    assert.throws(() => buildModel(bertConfig(), { application: 'mlm', checkpoint: path }), (e: Error) =>
      e.message.startsWith(path) && e.message.includes("missing 2 tensors") &&
      e.message.includes("'bert.encoder.layer.1.output.dense.weight' (for encoder/layer_1/output/dense/kernel)") &&
      e.message.includes("'cls.predictions.bias' (for mlm/output_bias)"));
    // A classifier head is new in fine-tuning: absent from the checkpoint, initialised, and reported.
    const model = buildModel(bertConfig(), { application: 'encoder', numClasses: 3, checkpoint: join(bertDir, 'model.safetensors') });
    assert.deepEqual(model.loadReport!.missingOptional, [
      "'bert.pooler.dense.weight' (for pooler/dense/kernel)", "'bert.pooler.dense.bias' (for pooler/dense/bias)",
      "'classifier.weight' (for classifier/kernel)", "'classifier.bias' (for classifier/bias)",
    ]);
    assert.ok(model.loadReport!.unexpected.includes('cls.predictions.bias'), 'the unused MLM head is reported');
  });
});

test('a shape that does not fit the config is refused, naming the file, tensor and our weight', () => {
  withTemp((dir) => {
    assert.throws(() => buildModel({ ...bertConfig(), intermediate_size: 48 }, { application: 'mlm', checkpoint: join(bertDir, 'model.safetensors') }), (e: Error) =>
      e.message.includes(join(bertDir, 'model.safetensors')) && e.message.includes("tensor 'bert.encoder.layer.0.intermediate.dense.weight'") &&
      e.message.includes("'encoder/layer_0/intermediate/dense/kernel' [32, 48]"));
    const path = rewrite(dir, [], { 'bert.embeddings.position_embeddings.weight': (t) => { t.shape = [16, 64]; } });
    assert.throws(() => buildModel(bertConfig(), { application: 'mlm', checkpoint: path }), /tensor 'bert.embeddings.position_embeddings.weight': shape \[16, 64\] does not fit the model's 'embeddings\/position_embeddings' \[32, 32\]/);
  });
});

test('a checkpoint of another model is refused with examples of the expected and found names', () => {
  assert.throws(() => buildModel(bertConfig(), { application: 'mlm', checkpoint: join(REFERENCE_DIR, 'gpt2-lm', 'model.safetensors') }),
    /none of the model's weights are here: expected names like 'bert.embeddings.word_embeddings.weight' \(Hugging Face\) or 'bert\/embeddings\/word_embeddings' \(Google\); the file has 'transformer/);
});

test('feeds: a bad input name or ragged rows are refused', async () => {
  const model = buildModel(bertConfig(), { application: 'mlm', checkpoint: join(bertDir, 'model.safetensors') });
  await assert.rejects(() => model.predict({ input_ids: [[5, 6], [7]] }), /rows have different lengths/);
  await assert.rejects(() => model.predict({ input_ids: [[5, 6]], segment_ids: [[0, 0]] }), /unknown input 'segment_ids'/);
  await assert.rejects(() => model.predict({ input_ids: [[5, 6]] }, { outputs: ['pooler_output'] }), /unknown output 'pooler_output'/);
});

test('feeds: ids out of range are refused by name before ONNX Runtime sees them (Gather would wrap -1 to the last row)', async () => {
  const model = buildModel(bertConfig(), { application: 'mlm', checkpoint: join(bertDir, 'model.safetensors') });
  const vocab = model.store.get('embeddings/word_embeddings')!.shape[0]!;
  await assert.rejects(() => model.predict({ input_ids: [[5, -1]] }), new RegExp(`input 'input_ids' holds -1 at \\[0, 1\\]; values must be in 0\\.\\.${vocab - 1}`));
  await assert.rejects(() => model.predict({ input_ids: [[5, 6], [7, vocab]] }), new RegExp(`input 'input_ids' holds ${vocab} at \\[1, 1\\]`));
  await assert.rejects(() => model.predict({ input_ids: [[5, 6]], token_type_ids: [[0, -1]] }), /input 'token_type_ids' holds -1 at \[0, 1\]; values must be in 0\.\.1/);
  await assert.rejects(() => model.predict({ input_ids: [[5, 6]], labels: [[-5, 7]] }), /input 'labels' holds -5 at \[0, 0\]; values must be in 0\.\.\d+ \(or -100 to ignore\)/);
  assert.ok((await model.predict({ input_ids: [[5, 6]], labels: [[-100, 7]] })).loss, 'the ignore label is accepted');
});

test('maxPosition caps the input length (the position table keeps the checkpoint size)', async () => {
  const gpt2 = join(REFERENCE_DIR, 'gpt2-lm');
  const capped = buildModel(join(gpt2, 'config.json'), { checkpoint: join(gpt2, 'model.safetensors'), maxPosition: 4 });
  await assert.rejects(() => capped.predict({ input_ids: [[5, 6, 7, 8, 9]] }), /5 tokens exceed the 4 positions of this gpt2 model \(the maxPosition option\)/);
  assert.deepEqual((await capped.predict({ input_ids: [[5, 6, 7, 8]] })).logits!.shape, [1, 4, 80]);
  const bert = buildModel(bertConfig(), { checkpoint: join(bertDir, 'model.safetensors'), maxPosition: 3 });
  await assert.rejects(() => bert.predict({ input_ids: [[5, 6, 7, 8]] }), /4 tokens exceed the 3 positions of this bert model/);
});
