import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/checkpoint/index.ts';
import { toFloat32 } from '../../src/graph/dtype.ts';
import { tempDir } from './helpers.ts';

const FIXTURES = new URL('../fixtures/checkpoint/', import.meta.url).pathname;

test('onnx: initializers from raw_data, float_data, int64_data, int32_data (fp16 bits) and external data', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'model.expected.json'), 'utf8'));
  const r = openCheckpoint(join(FIXTURES, 'model.onnx'));
  assert.equal(r.format, 'onnx');
  assert.deepEqual(r.list().map((t) => [t.name, t.dtype, t.shape]), Object.entries<any>(expected).map(([n, e]) => [n, e.dtype, e.shape]));
  for (const [name, e] of Object.entries<any>(expected)) {
    const t = r.read(name);
    const values = t.dtype === 'float16' ? Array.from(toFloat32(t).data as Float32Array) : Array.from(t.data as ArrayLike<number | bigint>, Number);
    assert.deepEqual(values, e.values.map((v: number) => (t.dtype === 'float32' ? Math.fround(v) : v)), name);
  }
  r.close();
});

test('onnx: missing external data file and truncated model are reported by file and tensor', () => {
  const dir = tempDir();
  copyFileSync(join(FIXTURES, 'model.onnx'), join(dir, 'model.onnx'));
  const r = openCheckpoint(join(dir, 'model.onnx'));
  assert.ok(r.read('raw'));
  assert.throws(() => r.read('external'), /model\.onnx\.data: tensor 'external': missing external data file/);
  const bytes = readFileSync(join(FIXTURES, 'model.onnx'));
  writeFileSync(join(dir, 'cut.onnx'), bytes.subarray(0, bytes.length - 100));
  assert.throws(() => openCheckpoint(join(dir, 'cut.onnx')), /cut\.onnx: truncated/);
});
