// float16 models (buildModel's dtype: 'float16'): weights held as half bits, the graph in half.
// Regression: building one used to throw inside buildGraph (scalar() and the lowering's scalars had
// no float16 form), random initial values were Float32Arrays labelled float16, and a checkpoint
// could not be loaded into one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toFloat32 } from '../../src/graph/dtype.ts';
import { buildModel } from '../../src/models/index.ts';
import { readCase, REFERENCE_DIR } from './helpers.ts';

test('float16: a checkpoint loads into a float16 BERT MLM whose logits match float32 within half precision, padding included', async () => {
  const dir = join(REFERENCE_DIR, 'bert-mlm');
  const ref = readCase('bert-mlm');
  const { labels: _, ...inputs } = ref.inputs;
  const options = { application: 'mlm', checkpoint: join(dir, 'model.safetensors') };
  const half = buildModel(join(dir, 'config.json'), { ...options, dtype: 'float16' });
  assert.ok(half.store.names().every((n) => half.store.get(n)!.dtype === 'float16' && half.store.get(n)!.data instanceof Uint16Array));
  const a = await half.predict(inputs);
  const b = await buildModel(join(dir, 'config.json'), options).predict(inputs);
  assert.equal(a.logits!.dtype, 'float16');
  const x = toFloat32(a.logits!).data as Float32Array, y = b.logits!.data as Float32Array;
  assert.ok((inputs.attention_mask as number[][]).flat().includes(0), 'the fixture has padding (the -1e9 fill becomes -Infinity in half)');
  let worst = 0, scale = 0;
  for (let i = 0; i < y.length; i++) {
    assert.ok(Number.isFinite(x[i]), `logit ${i} is ${x[i]}`);
    worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  assert.ok(worst <= 0.01 * scale + 0.01, `max |fp16 - fp32| ${worst} (logits up to ${scale})`);
});

test('float16: a tiny BERT MLM from random weights builds, holds half bits and predicts finite logits', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bert4ts-fp16-'));
  try {
    writeFileSync(join(tmp, 'config.json'), JSON.stringify({
      model_type: 'bert', vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
      intermediate_size: 32, max_position_embeddings: 32, type_vocab_size: 2,
    }));
    const half = buildModel(join(tmp, 'config.json'), { application: 'mlm', dtype: 'float16', seed: 1 });
    const full = buildModel(join(tmp, 'config.json'), { application: 'mlm', seed: 1 });
    for (const n of full.store.names()) {
      const h = toFloat32(half.store.get(n)!).data as Float32Array, f = full.store.get(n)!.data as Float32Array;
      for (let i = 0; i < f.length; i++) assert.ok(Math.abs(h[i]! - f[i]!) <= 1e-3 * Math.abs(f[i]!) + 1e-7, `${n}[${i}]: ${h[i]} vs ${f[i]}`);
    }
    const { logits } = await half.predict({ input_ids: [[1, 2, 3, 4], [5, 6, 0, 0]], attention_mask: [[1, 1, 1, 1], [1, 1, 0, 0]] });
    assert.deepEqual(logits!.shape, [2, 4, 50]);
    assert.ok(Array.from(toFloat32(logits!).data as Float32Array).every(Number.isFinite));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
