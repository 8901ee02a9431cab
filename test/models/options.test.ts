// Build options: hierarchical position extension and keepTokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { constant, input } from '../../src/graph/ops.ts';
import { Random } from '../../src/util/random.ts';
import { buildModel, positionEmbedding } from '../../src/models/index.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { maxAbsDiff, readCase, REFERENCE_DIR } from './helpers.ts';

const dir = (name: string) => join(REFERENCE_DIR, name);

test('hierarchicalPosition: inputs within the learned positions give exactly the plain model outputs (BERT, left-padded RoBERTa)', async () => {
  for (const [name, extra] of [['bert-encoder', { withPool: true }], ['roberta-mlm', {}]] as const) {
    const ref = readCase(name);
    const options = { application: ref.application, checkpoint: join(dir(name), 'model.safetensors'), ...extra };
    const a = await buildModel(join(dir(name), 'config.json'), options).predict(ref.inputs);
    const b = await buildModel(join(dir(name), 'config.json'), { ...options, hierarchicalPosition: true }).predict(ref.inputs);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    for (const key of Object.keys(a)) assert.equal(maxAbsDiff(b[key]!, a[key]!, `${name} ${key}`), 0, `${name} ${key}`);
  }
});

test('hierarchicalPosition: q[i*n + j] = alpha*u[i] + (1-alpha)*u[j], u = (p - alpha*p[0]) / (1 - alpha)', async () => {
  const n = 5, dim = 3, alpha = 0.3;
  const r = new Random(3);
  const p = Float32Array.from({ length: n * dim }, () => r.normal());
  const ids = [0, 4, 5, 7, 13, 24];
  const out = positionEmbedding(constant({ dtype: 'float32', shape: [n, dim], data: p }), input('ids', 'int64', [ids.length]), alpha);
  const exe = await compile({ out }, { params: 'initializers' });
  const got = (await exe.run({ ids: hostTensor('int64', [ids.length], ids) })).out!.data as Float32Array;
  const u = (row: number, k: number) => (p[row * dim + k]! - alpha * p[k]!) / (1 - alpha);
  ids.forEach((pos, t) => {
    const [i, j] = [Math.floor(pos / n), pos % n];
    for (let k = 0; k < dim; k++) {
      const want = pos < n ? p[pos * dim + k]! : alpha * u(i, k) + (1 - alpha) * u(j, k);
      assert.ok(Math.abs(got[t * dim + k]! - want) < 1e-5, `position ${pos}, dim ${k}: ${got[t * dim + k]} vs ${want}`);
    }
  });
  await exe.release();
});

const config512 = {
  model_type: 'bert', vocab_size: 100, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
  intermediate_size: 64, max_position_embeddings: 512, type_vocab_size: 2,
};

test('hierarchicalPosition: a BERT with 512 positions runs at 2,048 tokens; without it, the length is refused', async () => {
  const T = 2048;
  const ids = Array.from({ length: T }, (_, t) => 5 + (t % 90));
  const model = buildModel(config512, { hierarchicalPosition: true, seed: 1 });
  const out = (await model.predict({ input_ids: [ids] })).last_hidden_state!;
  assert.deepEqual(out.shape, [1, T, 32]);
  assert.ok((out.data as Float32Array).every(Number.isFinite));
  // Same token at positions 7 and 7 + 512 * 2 gets different states: the extended positions are distinct.
  const row = (t: number) => Array.from((out.data as Float32Array).subarray(t * 32, (t + 1) * 32));
  assert.notDeepEqual(row(7), row(7 + 1024));
  const plain = buildModel(config512, { seed: 1 });
  await assert.rejects(() => plain.predict({ input_ids: [ids] }), /2048 tokens exceed the 512 positions of this bert model \(hierarchicalPosition extends them\)/);
});

test('keepTokens: MLM logits equal the full model logits at the kept ids (BERT, ALBERT, GPT-2)', async () => {
  for (const name of ['bert-mlm', 'albert-mlm', 'gpt2-lm']) {
    const ref = readCase(name);
    const ids = ref.inputs.input_ids as number[][];
    const used = [...new Set(ids.flat())].sort((a, b) => a - b);
    const keep = [...new Set([0, 1, 2, 3, 4, ...used, 17, 9])];
    const remap = new Map(keep.map((id, k) => [id, k]));
    const cfg = join(dir(name), 'config.json');
    const ckpt = join(dir(name), 'model.safetensors');
    const full = buildModel(cfg, { application: ref.application, checkpoint: ckpt });
    const small = buildModel(cfg, { application: ref.application, checkpoint: ckpt, keepTokens: keep });
    const mask = ref.inputs.attention_mask;
    const a = (await full.predict({ input_ids: ids, attention_mask: mask })).logits!;
    const b = (await small.predict({ input_ids: ids.map((r) => r.map((id) => remap.get(id)!)), attention_mask: mask })).logits!;
    const V = a.shape[2]!, K = keep.length;
    assert.deepEqual(b.shape, [a.shape[0], a.shape[1], K]);
    let worst = 0;
    for (let pos = 0; pos < a.shape[0]! * a.shape[1]!; pos++) {
      keep.forEach((id, k) => { worst = Math.max(worst, Math.abs((b.data[pos * K + k] as number) - (a.data[pos * V + id] as number))); });
    }
    assert.ok(worst < 1e-5, `${name}: max diff ${worst}`);
  }
});

test('keepTokens: an id outside the vocabulary is refused, naming the tensor', () => {
  assert.throws(() => buildModel(join(dir('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: join(dir('bert-mlm'), 'model.safetensors'), keepTokens: [0, 1, 64] }),
    /word_embeddings.*keepTokens id 64 .*outside the 64 rows/);
});
