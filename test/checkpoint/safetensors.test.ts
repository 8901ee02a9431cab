import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, SafetensorsReader, writeSafetensors } from '../../src/checkpoint/index.ts';
import { randomTensor, sampleTensors, tempDir } from './helpers.ts';

test('safetensors: every dtype round-trips with metadata, in file order', () => {
  const dir = tempDir();
  const path = join(dir, 'model.safetensors');
  const tensors = sampleTensors();
  writeSafetensors(path, tensors, { format: 'pt' });
  const r = new SafetensorsReader(path);
  assert.deepEqual(r.metadata, { format: 'pt' });
  assert.deepEqual(r.list().map((t) => t.name), tensors.map(([n]) => n));
  for (const [name, t] of tensors) {
    assert.ok(r.has(name));
    assert.deepEqual(r.read(name), t, name);
  }
  assert.equal(r.has('nope'), false);
  assert.throws(() => r.read('nope'), /model\.safetensors: tensor 'nope': no such tensor/);
  r.close();
});

test('safetensors: header layout matches the spec (u64 length, 8-byte aligned JSON, contiguous offsets)', () => {
  const dir = tempDir();
  const path = join(dir, 'a.safetensors');
  writeSafetensors(path, [['b', randomTensor('float32', [3], 1)], ['a', randomTensor('float16', [2, 1], 2)]]);
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  assert.deepEqual(header.b, { dtype: 'F32', shape: [3], data_offsets: [0, 12] });
  assert.deepEqual(header.a, { dtype: 'F16', shape: [2, 1], data_offsets: [12, 16] });
  assert.equal(bytes.length, 8 + n + 16);
});

test('safetensors: streams from a reader-like source and lists by data offset, not JSON key order', () => {
  const dir = tempDir();
  const src = join(dir, 'src.safetensors');
  // Hand-written header whose JSON key order differs from the data order.
  const header = JSON.stringify({ z: { dtype: 'I32', shape: [1], data_offsets: [4, 8] }, y: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(src, Buffer.concat([len, Buffer.from(header), Buffer.from(new Int32Array([11, 22]).buffer)]));
  const r = openCheckpoint(src);
  assert.deepEqual(r.list().map((t) => t.name), ['y', 'z']);
  assert.deepEqual([...r.read('z').data], [22]);
  const copy = join(dir, 'copy.safetensors');
  writeSafetensors(copy, r);
  const c = openCheckpoint(copy);
  assert.deepEqual(c.list(), r.list());
  assert.deepEqual(c.read('y'), r.read('y'));
});

test('safetensors: unsupported dtype is reported by name, other tensors still read', () => {
  const dir = tempDir();
  const path = join(dir, 'u.safetensors');
  const header = JSON.stringify({ odd: { dtype: 'I16', shape: [2], data_offsets: [0, 4] }, ok: { dtype: 'U8', shape: [1], data_offsets: [4, 5] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(header), Buffer.from([1, 2, 3, 4, 9])]));
  const r = openCheckpoint(path);
  assert.deepEqual(r.list().map((t) => t.name), ['ok']);
  assert.deepEqual([...r.read('ok').data], [9]);
  assert.match(r.skipped()[0]!.reason, /unsupported dtype I16/);
  assert.throws(() => r.read('odd'), /tensor 'odd': unsupported dtype I16/);
});

test('safetensors: truncated or corrupt files fail at open with the file and tensor named', () => {
  const dir = tempDir();
  const path = join(dir, 't.safetensors');
  writeSafetensors(path, [['w', randomTensor('float32', [100], 1)]]);
  const size = readFileSync(path).length;
  truncateSync(path, size - 4);
  assert.throws(() => openCheckpoint(path), /t\.safetensors: tensor 'w': truncated or corrupt: data_offsets \[0, 400\]/);
  truncateSync(path, 20);
  assert.throws(() => new SafetensorsReader(path), /bad or truncated safetensors header/);
  writeFileSync(path, Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{oops')]));
  assert.throws(() => new SafetensorsReader(path), /header is not valid JSON/);
  const header = JSON.stringify({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } });
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(header), Buffer.alloc(8)]));
  assert.throws(() => new SafetensorsReader(path), /tensor 'w': shape \[3\] of F32 needs 12 bytes, data_offsets give 8/);
});

test('safetensors: writer refuses a tensor whose data does not fit its shape', () => {
  const dir = tempDir();
  assert.throws(
    () => writeSafetensors(join(dir, 'x.safetensors'), [['w', { dtype: 'float32', shape: [2, 3], data: new Float32Array(5) }]]),
    /tensor 'w': shape \[2,3\] \(6 elements of float32\) does not match its data \(5 elements/,
  );
});

test('sharded safetensors: index json over shards; missing shard names the file and a tensor', () => {
  const dir = tempDir();
  const [a, b, c] = [randomTensor('float32', [2, 2], 1), randomTensor('float16', [3], 2), randomTensor('int64', [2], 3)];
  writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [['a', a], ['b', b]]);
  writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [['c', c]]);
  const index = { metadata: { total_size: 32 }, weight_map: { c: 'model-00002-of-00002.safetensors', a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors' } };
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  const r = openCheckpoint(dir); // a directory: finds the index
  assert.equal(r.format, 'safetensors');
  assert.deepEqual(r.list().map((t) => t.name), ['a', 'b', 'c']);
  assert.deepEqual(r.read('c'), c);
  assert.deepEqual(r.read('b'), b);
  r.close();
  unlinkSync(join(dir, 'model-00002-of-00002.safetensors'));
  assert.throws(() => openCheckpoint(join(dir, 'model.safetensors.index.json')), /model-00002-of-00002\.safetensors: tensor 'c': missing shard listed in model\.safetensors\.index\.json/);
});

test('safetensors: detected by content even when the header length starts with byte 0x80 (a pickle opcode)', () => {
  const dir = tempDir();
  const json = JSON.stringify({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).padEnd(0x180, ' ');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  assert.equal(len[0], 0x80);
  const bytes = Buffer.concat([len, Buffer.from(json), Buffer.from(Float32Array.of(1.5).buffer)]);
  for (const name of ['w.safetensors', 'weights.st']) {
    writeFileSync(join(dir, name), bytes);
    const r = openCheckpoint(join(dir, name));
    assert.equal(r.format, 'safetensors', name);
    assert.deepEqual([...r.read('w').data], [1.5]);
    r.close();
  }
});
