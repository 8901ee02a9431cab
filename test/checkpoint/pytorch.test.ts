import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, PytorchReader, writePytorchBin } from '../../src/checkpoint/index.ts';
import { unpickle, PickleWriter, PyGlobal } from '../../src/checkpoint/pickle.ts';
import { ZipReader, ZipWriter } from '../../src/checkpoint/zip.ts';
import { RandomAccessFile } from '../../src/checkpoint/io.ts';
import { toFloat32, type HostTensor } from '../../src/graph/dtype.ts';
import { randomTensor, sampleTensors, tempDir } from './helpers.ts';

const FIXTURES = new URL('../fixtures/checkpoint/', import.meta.url).pathname;

function plainValues(t: HostTensor): number[] {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return Array.from(toFloat32(t).data as Float32Array);
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

for (const [file, layout] of [['torch_state.bin', 'zip'], ['torch_state_legacy.bin', 'legacy']] as const) test(`pytorch: reads a real torch.save ${layout} file (all dtypes, tied storage, offset/strided views, Parameter)`, () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'torch_state.expected.json'), 'utf8'));
  const r = openCheckpoint(join(FIXTURES, file)) as PytorchReader;
  assert.equal(r.format, 'pytorch');
  assert.equal(r.layout, layout);
  assert.deepEqual(r.list().map((t) => t.name), Object.keys(expected));
  assert.deepEqual(r.skipped(), []);
  const names: Record<string, string> = { float32: 'float32', float16: 'float16', bfloat16: 'bfloat16', float64: 'float64', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool' };
  for (const [name, e] of Object.entries<any>(expected)) {
    const t = r.read(name);
    assert.equal(t.dtype, names[e.dtype], name);
    assert.deepEqual(t.shape, e.shape, name);
    // int64 values beyond 2^53 are compared exactly below; JSON numbers are exact up to there.
    const want = e.values.map((v: number) => (t.dtype === 'float32' ? Math.fround(v) : v));
    if (t.dtype !== 'int64') assert.deepEqual(plainValues(t), want, name);
  }
  assert.deepEqual([...r.read('ids').data], [0n, -1n, 2n ** 40n, -(2n ** 62n), 7n]);
  // Views really are views of the tied storage.
  const base = r.read('embeddings.word_embeddings.weight').data as Float32Array;
  assert.deepEqual(r.read('cls.predictions.decoder.weight').data, base);
  assert.deepEqual(r.read('rows_1_to_3').data, base.slice(4, 12));
  assert.deepEqual([...r.read('column').data], [2, 6, 10, 14, 18, 22].map((i) => base[i]));
  const tr = r.read('transposed');
  assert.deepEqual(tr.shape, [4, 6]);
  assert.equal((tr.data as Float32Array)[1], base[4]);
  r.close();
});

test('pytorch writer: every dtype round-trips; entries are stored, 64-byte aligned, under archive/', () => {
  const dir = tempDir();
  const path = join(dir, 'pytorch_model.bin');
  const tensors = sampleTensors();
  writePytorchBin(path, tensors);
  const r = new PytorchReader(path);
  assert.deepEqual(r.list().map((t) => t.name), tensors.map(([n]) => n));
  for (const [name, t] of tensors) assert.deepEqual(r.read(name), t, name);
  r.close();
  const file = new RandomAccessFile(path);
  const zip = new ZipReader(file);
  assert.deepEqual([...zip.entries.keys()].slice(0, 3), ['archive/version', 'archive/byteorder', 'archive/data/0']);
  assert.ok(zip.entries.has('archive/data.pkl'));
  for (const [name, e] of zip.entries) {
    assert.equal(e.method, 0, name);
    if (name.startsWith('archive/data/')) assert.equal(zip.dataOffset(name) % 64, 0, name);
  }
  file.close();
  assert.equal(openCheckpoint(dir).format, 'pytorch');
});

test('pickle: the VM reads what the writer writes, including large and negative ints', () => {
  const p = new PickleWriter();
  p.global('collections', 'OrderedDict').op(0x29).op(0x52).mark();
  p.str('a').ints([0, 255, 65535, 65536, -1, 2 ** 31, -(2 ** 40), Number.MAX_SAFE_INTEGER]);
  p.op(0x75);
  const calls: string[] = [];
  const out = unpickle(p.finish(), {
    persistentLoad: () => { throw new Error('none expected'); },
    call: (fn: PyGlobal) => { calls.push(fn.qualified); return new Map(); },
  }) as Map<string, number[]>;
  assert.deepEqual(calls, ['collections.OrderedDict']);
  assert.deepEqual(out.get('a'), [0, 255, 65535, 65536, -1, 2 ** 31, -(2 ** 40), Number.MAX_SAFE_INTEGER]);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0xff]), { persistentLoad: () => null }), /unsupported opcode 0xff at byte 2/);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 9, 0, 0, 0, 97]), { persistentLoad: () => null }), /truncated/);
});

test('zip: more than 65535 entries use zip64 end records and read back', () => {
  const dir = tempDir();
  const path = join(dir, 'many.zip');
  const zip = new ZipWriter(path, 1);
  const n = 65540;
  for (let i = 0; i < n; i++) zip.add(`e${i}`, [Uint8Array.of(i & 0xff)]);
  zip.finish();
  const file = new RandomAccessFile(path);
  const r = new ZipReader(file);
  assert.equal(r.entries.size, n);
  assert.deepEqual([...r.readAll('e65539')], [65539 & 0xff]);
  file.close();
});

test('pytorch reader: truncated legacy file, truncated zip and missing storage are clear errors', () => {
  const dir = tempDir();
  const legacy = readFileSync(join(FIXTURES, 'torch_state_legacy.bin'));
  writeFileSync(join(dir, 'old.bin'), legacy.subarray(0, 300)); // inside the pickles
  assert.throws(() => openCheckpoint(join(dir, 'old.bin')), /old\.bin: cannot unpickle legacy torch\.save file: pickle: truncated/);
  writeFileSync(join(dir, 'old.bin'), legacy.subarray(0, legacy.length - 10)); // inside the last storage
  assert.throws(() => openCheckpoint(join(dir, 'old.bin')), /old\.bin: truncated: storages need \d+ bytes, the file has \d+/);
  writeFileSync(join(dir, 'old.bin'), Uint8Array.from([0x80, 0x02, 0x4b, 0x07, 0x2e]));
  assert.throws(() => openCheckpoint(join(dir, 'old.bin')), /old\.bin: not a torch\.save file: a pickle without the torch magic number/);
  const good = join(dir, 'good.bin');
  writePytorchBin(good, [['w', randomTensor('float32', [64], 1)]]);
  const bytes = readFileSync(good);
  const cut = join(dir, 'cut.bin');
  writeFileSync(cut, bytes.subarray(0, bytes.length - 30));
  assert.throws(() => openCheckpoint(cut), /cut\.bin: not a zip file or truncated/);
  // Rename the storage entry so the pickle points at a storage that is not there.
  const renamed = Buffer.from(bytes.toString('latin1').replaceAll('archive/data/0', 'archive/data/9'), 'latin1');
  const missing = join(dir, 'missing.bin');
  writeFileSync(missing, renamed);
  const r = openCheckpoint(missing);
  assert.throws(() => r.read('w'), /missing\.bin: tensor 'w': zip entry 'archive\/data\/0' is missing/);
});

test('sharded pytorch_model.bin.index.json reads across shards; a tensor missing from its shard is named', () => {
  const dir = tempDir();
  const [a, b] = [randomTensor('float32', [3], 1), randomTensor('bfloat16', [2, 2], 2)];
  writePytorchBin(join(dir, 'pytorch_model-00001-of-00002.bin'), [['a', a]]);
  writePytorchBin(join(dir, 'pytorch_model-00002-of-00002.bin'), [['b', b]]);
  const weightMap = { a: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin' };
  writeFileSync(join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: weightMap }));
  const r = openCheckpoint(dir);
  assert.equal(r.format, 'pytorch');
  assert.deepEqual(r.read('b'), b);
  assert.deepEqual(r.read('a'), a);
  r.close();
  writeFileSync(join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: { ...weightMap, c: 'pytorch_model-00002-of-00002.bin' } }));
  assert.throws(() => openCheckpoint(dir), /pytorch_model-00002-of-00002\.bin: tensor 'c': pytorch_model\.bin\.index\.json places the tensor here but the shard does not hold it/);
});
