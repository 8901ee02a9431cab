import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, TfCheckpointReader, writeTfCheckpoint } from '../../src/checkpoint/index.ts';
import { crc32c, maskCrc, unmaskCrc } from '../../src/checkpoint/crc32c.ts';
import { snappyUncompress } from '../../src/checkpoint/snappy.ts';
import { buildSSTable, readSSTable } from '../../src/checkpoint/sstable.ts';
import { randomTensor, sampleTensors, snappyFixtureTensors, tempDir } from './helpers.ts';

const SHARED = new URL('../../../shared/data/checkpoints/tf/', import.meta.url).pathname;
const FIXTURES = new URL('../fixtures/checkpoint/', import.meta.url).pathname;

test('crc32c matches the standard check value; masking round-trips', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  for (const c of [0, 1, 0xe3069283, 0xffffffff]) assert.equal(unmaskCrc(maskCrc(c)), c);
});

test('crc32c: the word-at-a-time path agrees with a bit-by-bit reference at any alignment and length', () => {
  const bytes = Uint8Array.from({ length: 2100 }, (_, i) => (i * 131 + 7) & 0xff);
  const reference = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; }
    return ~c >>> 0;
  };
  for (const offset of [0, 1, 2, 3, 5]) for (const length of [0, 1, 3, 7, 8, 9, 16, 17, 1001, 2048]) {
    const s = bytes.subarray(offset, offset + length);
    assert.equal(crc32c(s), reference(s), `offset ${offset} length ${length}`);
  }
});

test('snappy: literals, 1/2-byte-offset copies and overlapping copies decode; bad input is refused', () => {
  // "abcd" literal, then copy offset 4 length 8 (overlapping: repeats "abcd" twice), 2-byte-offset copy of 3.
  const stream = Uint8Array.from([15, (4 - 1) << 2, 97, 98, 99, 100, ((8 - 4) << 2) | 1, 4, ((3 - 1) << 2) | 2, 12, 0]);
  assert.equal(new TextDecoder().decode(snappyUncompress(stream)), 'abcdabcdabcdabc');
  assert.throws(() => snappyUncompress(Uint8Array.from([4, 1 << 2 | 1, 9])), /bad copy/);
  assert.throws(() => snappyUncompress(Uint8Array.from([9, 0, 97])), /produced 1 bytes, header says 9/);
});

/** Every tensor TF wrote, checked against the independent listing in tensors.expected.json. */
for (const dir of existsSync(SHARED) ? readdirSync(SHARED) : []) {
  test(`real TF checkpoint ${dir}: every tensor matches tensors.expected.json`, () => {
    const expected = JSON.parse(readFileSync(join(SHARED, dir, 'tensors.expected.json'), 'utf8'));
    const r = openCheckpoint(join(SHARED, dir)) as TfCheckpointReader;
    assert.equal(r.format, 'tf');
    assert.equal(r.numShards, expected.header.num_shards);
    assert.equal(r.compressedBlocks, expected.compressed_blocks);
    const strings = expected.tensors.filter((t: any) => t.dtype === 'string');
    assert.deepEqual(r.list().map((t) => t.name), expected.tensors.filter((t: any) => t.dtype !== 'string').map((t: any) => t.name));
    for (const t of expected.tensors) {
      assert.deepEqual(r.location(t.name), { shard: t.shard, offset: t.offset, size: t.size, crc32cMasked: t.crc32c_masked }, t.name);
      if (t.dtype === 'string') {
        const s = r.readStrings(t.name);
        assert.deepEqual(s.shape, t.shape);
        assert.deepEqual(s.values.map((v) => v.length), t.string_lengths, t.name);
        continue;
      }
      const x = r.read(t.name); // also verifies the crc32c
      assert.equal(x.dtype, t.dtype, t.name);
      assert.deepEqual(x.shape, t.shape, t.name);
      assert.deepEqual(Array.from(x.data.subarray(0, t.first_values.length), Number), t.first_values.map((v: number) => (t.dtype === 'float32' ? Math.fround(v) : v)), t.name);
    }
    assert.deepEqual(r.stringTensors().map((s) => s.name), strings.map((t: any) => t.name));
    for (const t of strings) assert.throws(() => r.read(t.name), /string tensor: use readStrings/);
    r.close();
  });
}
/** TF1 Saver checkpoints (one shard, no strings): rewriting them reproduces TensorFlow's bytes. */
for (const [dir, prefix] of [['keras_bert_tiny', 'bert_model.ckpt'], ['keras_gpt2_toy', 'model.ckpt']]) {
  test(`TF writer reproduces TensorFlow's own ${dir} files byte for byte`, { skip: existsSync(join(SHARED, dir)) ? false : 'shared data not found' }, () => {
    const out = join(tempDir(), prefix);
    const original = join(SHARED, dir, prefix);
    const r = openCheckpoint(original);
    writeTfCheckpoint(out, r);
    r.close();
    assert.ok(readFileSync(out + '.index').equals(readFileSync(original + '.index')), '.index differs');
    assert.ok(readFileSync(out + '.data-00000-of-00001').equals(readFileSync(original + '.data-00000-of-00001')), '.data differs');
  });
}
if (!existsSync(SHARED)) test('real TF checkpoints', { skip: `shared data not found at ${SHARED}` }, () => {});

test('TF writer: every dtype round-trips; names kept; data in input order, index sorted', () => {
  const dir = tempDir();
  const prefix = join(dir, 'bert_model.ckpt');
  const tensors = sampleTensors();
  writeTfCheckpoint(prefix, tensors);
  assert.ok(existsSync(prefix + '.data-00000-of-00001'));
  const r = openCheckpoint(prefix);
  const sortedNames = tensors.map(([n]) => n).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(r.list().map((t) => t.name), sortedNames);
  let offset = 0;
  for (const [name, t] of tensors) {
    assert.deepEqual(r.read(name), t, name);
    const loc = (r as TfCheckpointReader).location(name)!;
    assert.equal(loc.offset, offset, `${name} is written in input order`);
    offset += loc.size;
  }
  r.close();
  // The `.index` path and the directory (single *.index) open the same checkpoint.
  assert.equal(openCheckpoint(prefix + '.index').list().length, tensors.length);
  assert.equal(openCheckpoint(dir).list().length, tensors.length);
});

test('TF writer: SSTable layout follows the LevelDB table format', () => {
  const dir = tempDir();
  const prefix = join(dir, 'm.ckpt');
  const tensors: [string, ReturnType<typeof randomTensor>][] = [];
  for (let i = 0; i < 200; i++) tensors.push([`layer_${String(i).padStart(3, '0')}/kernel`, randomTensor('float32', [2], i)]);
  writeTfCheckpoint(prefix, tensors, { blockSize: 256 });
  const file = readFileSync(prefix + '.index');
  // Footer: two varint block handles, zero padding to 40 bytes, magic 0xdb4775248b80fb57 little-endian.
  const footer = file.subarray(file.length - 48);
  assert.equal(footer.readBigUInt64LE(40), 0xdb4775248b80fb57n);
  const varints = (b: Buffer, n: number) => {
    const out: number[] = [];
    let p = 0;
    for (let k = 0; k < n; k++) {
      let v = 0;
      for (let shift = 0; ; shift += 7) { const x = b[p++]!; v += (x & 0x7f) * 2 ** shift; if (x < 0x80) break; }
      out.push(v);
    }
    return { values: out, end: p };
  };
  const { values: [metaOff, metaSize, indexOff, indexSize], end } = varints(footer, 4);
  assert.ok(footer.subarray(end, 40).every((b) => b === 0), 'footer padding is zeros');
  // The metaindex block is empty: no entries, restart array [0], count 1.
  assert.deepEqual([...file.subarray(metaOff!, metaOff! + metaSize!)], [0, 0, 0, 0, 1, 0, 0, 0]);
  assert.equal(indexOff! + indexSize! + 5, file.length - 48, 'index block and trailer end where the footer starts');
  // Every block's trailer: type 0 (uncompressed) and the masked crc32c of contents + type byte.
  const index = file.subarray(indexOff!, indexOff! + indexSize!);
  const restarts = index.readUInt32LE(index.length - 4);
  let dataEnd = 0, blocks = 0;
  for (let p = 0, limit = index.length - 4 - 4 * restarts; p < limit; blocks++) {
    const { values: [shared, nonShared, valueLen], end: e } = varints(index.subarray(p) as Buffer, 3);
    assert.equal(shared, 0, 'index block has a restart point at every key');
    const handle = varints(index.subarray(p + e + nonShared!) as Buffer, 2).values;
    assert.equal(handle[0], dataEnd, 'data blocks are contiguous');
    assert.equal(file[handle[0]! + handle[1]!], 0);
    assert.equal(unmaskCrc(file.readUInt32LE(handle[0]! + handle[1]! + 1)), crc32c(file.subarray(handle[0]!, handle[0]! + handle[1]! + 1)));
    dataEnd = handle[0]! + handle[1]! + 5;
    p += e + nonShared! + valueLen!;
  }
  assert.equal(restarts, blocks);
  assert.ok(blocks > 5, `small blocks give several data blocks (${blocks})`);
  assert.equal(dataEnd, metaOff);
  // And the whole table parses back: header entry first (empty key), then the names in order.
  const { entries } = readSSTable(file);
  assert.equal(entries[0]!.key.length, 0);
  assert.deepEqual(entries.slice(1).map((e) => new TextDecoder().decode(e.key)), tensors.map(([n]) => n));
  const r = openCheckpoint(prefix);
  for (const [name, t] of tensors) assert.deepEqual(r.read(name), t);
});

test('TF reader: Snappy-compressed multi-block index written by LevelDB itself', () => {
  const r = openCheckpoint(join(FIXTURES, 'snappy_tiny.ckpt')) as TfCheckpointReader;
  assert.ok(r.compressedBlocks > 1, `compressed blocks: ${r.compressedBlocks}`);
  const expected = snappyFixtureTensors();
  assert.equal(r.list().length, expected.length);
  for (const [name, t] of expected) assert.deepEqual(r.read(name), t, name);
});

test('TF reader: corrupt data names the tensor; missing or truncated shard fails at open', () => {
  const dir = tempDir();
  const prefix = join(dir, 'c.ckpt');
  writeTfCheckpoint(prefix, [['a', randomTensor('float32', [4], 1)], ['b', randomTensor('float32', [4], 2)]]);
  const data = prefix + '.data-00000-of-00001';
  const bytes = readFileSync(data);
  bytes[20] ^= 0x40; // inside 'b' (bytes 16..32)
  writeFileSync(data, bytes);
  const r = openCheckpoint(prefix);
  assert.ok(r.read('a'));
  assert.throws(() => r.read('b'), /c\.ckpt\.data-00000-of-00001: tensor 'b': data fails its crc32c check/);
  r.close();
  truncateSync(data, 20);
  assert.throws(() => openCheckpoint(prefix), /c\.ckpt\.data-00000-of-00001: tensor 'b': truncated: needs 32 bytes, has 20/);
  unlinkSync(data);
  assert.throws(() => openCheckpoint(prefix), /c\.ckpt\.data-00000-of-00001: tensor 'b': missing data shard 0 of 1/);
});

test('TF reader: truncated or corrupt index is reported against the .index file', () => {
  const dir = tempDir();
  const prefix = join(dir, 'i.ckpt');
  writeTfCheckpoint(prefix, [['a', randomTensor('float32', [4], 1)]]);
  const index = readFileSync(prefix + '.index');
  copyFileSync(prefix + '.index', join(dir, 'orig.index'));
  writeFileSync(prefix + '.index', index.subarray(0, index.length - 3));
  assert.throws(() => new TfCheckpointReader(prefix), /i\.ckpt\.index: not an SSTable: bad magic number/);
  const flipped = Buffer.from(index);
  flipped[3] ^= 1;
  writeFileSync(prefix + '.index', flipped);
  assert.throws(() => new TfCheckpointReader(prefix), /i\.ckpt\.index: data block at offset 0 fails its crc32c check/);
});

test('SSTable builder refuses unsorted keys', () => {
  const k = (s: string) => new TextEncoder().encode(s);
  assert.throws(() => buildSSTable([{ key: k('b'), value: k('') }, { key: k('a'), value: k('') }]), /strictly increasing/);
});
