import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { castFloat, convertCheckpoint, openCheckpoint, writePytorchBin, writeSafetensors, writeTfCheckpoint } from '../../src/checkpoint/index.ts';
import { floatToHalf, halfToFloat, toFloat32 } from '../../src/graph/dtype.ts';
import { randomTensor, sampleTensors, tempDir } from './helpers.ts';

const SHARED_BERT = new URL('../../../shared/data/checkpoints/tf/keras_bert_tiny/bert_model.ckpt', import.meta.url).pathname;

test('cross-format: the same tensors written as safetensors, TF and PyTorch read back identical', () => {
  const dir = tempDir();
  const tensors = sampleTensors();
  writeSafetensors(join(dir, 'm.safetensors'), tensors);
  writeTfCheckpoint(join(dir, 'm.ckpt'), tensors);
  writePytorchBin(join(dir, 'm.bin'), tensors);
  const readers = ['m.safetensors', 'm.ckpt', 'm.bin'].map((f) => openCheckpoint(join(dir, f)));
  assert.deepEqual(readers.map((r) => r.format), ['safetensors', 'tf', 'pytorch']);
  for (const [name, t] of tensors) for (const r of readers) assert.deepEqual(r.read(name), t, `${r.format} ${name}`);
  for (const r of readers) r.close();
});

test('openCheckpoint: finds the checkpoint in a directory and rejects what it cannot read', () => {
  const dir = tempDir();
  const t = randomTensor('float32', [2], 1);
  mkdirSync(join(dir, 'tf'));
  writeTfCheckpoint(join(dir, 'tf', 'model.ckpt-100'), [['w', t]]);
  writeTfCheckpoint(join(dir, 'tf', 'model.ckpt-200'), [['w', t], ['v', t]]);
  assert.throws(() => openCheckpoint(join(dir, 'tf')), /several \.index checkpoints/);
  // TF's `checkpoint` state file picks the latest (it may hold the original absolute path).
  writeFileSync(join(dir, 'tf', 'checkpoint'), 'model_checkpoint_path: "/elsewhere/model.ckpt-200"\n');
  assert.equal(openCheckpoint(join(dir, 'tf')).list().length, 2);
  mkdirSync(join(dir, 'hf'));
  writePytorchBin(join(dir, 'hf', 'pytorch_model.bin'), [['w', t]]);
  assert.equal(openCheckpoint(join(dir, 'hf')).format, 'pytorch');
  writeSafetensors(join(dir, 'hf', 'model.safetensors'), [['w', t]]);
  assert.equal(openCheckpoint(join(dir, 'hf')).format, 'safetensors', 'safetensors preferred over .bin');
  writeFileSync(join(dir, 'junk.dat'), 'hello world, not a checkpoint');
  assert.throws(() => openCheckpoint(join(dir, 'junk.dat')), /junk\.dat: unrecognized checkpoint format/);
  mkdirSync(join(dir, 'empty'));
  assert.throws(() => openCheckpoint(join(dir, 'empty')), /empty: no checkpoint found/);
  writeFileSync(join(dir, 'empty', 'tf_model.h5'), '');
  assert.throws(() => openCheckpoint(join(dir, 'empty')), /tf_model\.h5 is Keras HDF5, which bert4ts does not read/);
});

test('castFloat rounds to fp16/bf16 and back; integers are untouched', () => {
  const x = { dtype: 'float32' as const, shape: [3], data: Float32Array.of(1.0009765625, -2.5, 65504) };
  const h = castFloat(x, 'float16');
  assert.equal(h.dtype, 'float16');
  assert.deepEqual([...h.data], [floatToHalf(1.0009765625), floatToHalf(-2.5), floatToHalf(65504)]);
  assert.deepEqual([...castFloat(h, 'float32').data], [1.0009765625, -2.5, 65504]);
  assert.equal(halfToFloat((h.data as Uint16Array)[0]!), 1.0009765625);
  const ids = randomTensor('int64', [3], 1);
  assert.equal(castFloat(ids, 'float16'), ids);
});

test('convertCheckpoint: TF -> safetensors (fp16) -> PyTorch keeps names and values', { skip: existsSync(SHARED_BERT + '.index') ? false : 'shared tiny BERT checkpoint not found' }, () => {
  const dir = tempDir();
  const a = convertCheckpoint(SHARED_BERT, join(dir, 'bert.safetensors'), { dtype: 'float16' });
  assert.equal(a.format, 'safetensors');
  assert.equal(a.tensors, 139);
  const b = convertCheckpoint(join(dir, 'bert.safetensors'), join(dir, 'bert.bin'), { dtype: 'float32' });
  assert.equal(b.format, 'pytorch');
  const original = openCheckpoint(SHARED_BERT), converted = openCheckpoint(join(dir, 'bert.bin'));
  assert.deepEqual(converted.list().map((t) => t.name), original.list().map((t) => t.name));
  for (const { name, dtype } of original.list()) {
    const o = original.read(name), c = converted.read(name);
    if (dtype === 'int64') { assert.deepEqual(c, o); continue; }
    const want = toFloat32(castFloat(o, 'float16')).data; // values went through fp16
    assert.deepEqual(c.data, want, name);
  }
});

test('convertCheckpoint: ONNX initializers (with external data) -> TF checkpoint', () => {
  const dir = tempDir();
  const onnx = new URL('../fixtures/checkpoint/model.onnx', import.meta.url).pathname;
  const result = convertCheckpoint(onnx, join(dir, 'from_onnx.ckpt'));
  assert.equal(result.inputFormat, 'onnx');
  assert.equal(result.tensors, 5);
  const a = openCheckpoint(onnx), b = openCheckpoint(join(dir, 'from_onnx.ckpt'));
  for (const { name } of a.list()) assert.deepEqual(b.read(name), a.read(name), name);
});
