// Regressions from the fault-injection pass (issue 23): each test fails on the code before the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import type { HostTensor } from '../../src/graph/dtype.ts';
import {
  CheckpointError, convertCheckpoint, openCheckpoint, writePytorchBin, writeSafetensors, writeTfCheckpoint,
} from '../../src/checkpoint/index.ts';
import { PickleWriter, unpickle } from '../../src/checkpoint/pickle.ts';
import { ProtoWriter } from '../../src/checkpoint/protobuf.ts';
import { buildSSTable } from '../../src/checkpoint/sstable.ts';
import { FileError } from '../../src/util/files.ts';
import * as g from '../../src/graph/index.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { gpt2 } from '../../src/models/gpt2.ts';
import { lower } from '../../src/runtime/lower.ts';
import { sampleTensors, tempDir } from './helpers.ts';
import { timeBound } from '../timeBound.ts';

const f32 = (n: number, v = 1): HostTensor => ({ dtype: 'float32', shape: [n], data: new Float32Array(n).fill(v) });
const noTemps = (dir: string) => assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);

/** Open and read every tensor; returns the error thrown, if any. */
function readAll(path: string): unknown {
  try {
    const r = openCheckpoint(path);
    try {
      for (const { name } of r.list()) r.read(name);
    } finally {
      r.close();
    }
  } catch (e) {
    return e;
  }
}

test('convert refuses an output that is the input: same path, symlink, hard link, directory input, TF prefix', () => {
  const dir = tempDir();
  const a = join(dir, 'a.safetensors');
  writeSafetensors(a, sampleTensors());
  symlinkSync(a, join(dir, 'sym.safetensors'));
  linkSync(a, join(dir, 'hard.safetensors'));
  mkdirSync(join(dir, 'model'));
  writeSafetensors(join(dir, 'model', 'model.safetensors'), sampleTensors());
  writeTfCheckpoint(join(dir, 'b.ckpt'), sampleTensors());
  const before = readFileSync(a);
  for (const [input, output] of [
    [a, a], [join(dir, 'sym.safetensors'), a], [a, join(dir, 'sym.safetensors')], [join(dir, 'hard.safetensors'), a],
    [join(dir, 'model'), join(dir, 'model', 'model.safetensors')], [join(dir, 'b.ckpt'), join(dir, 'b.ckpt')], [join(dir, 'b.ckpt'), join(dir, 'b.ckpt.index')],
  ]) {
    assert.throws(() => convertCheckpoint(input!, output!), (e) => e instanceof FileError && /output is the input/.test(e.message), `${input} -> ${output}`);
  }
  assert.throws(() => convertCheckpoint(a, join(dir, 'model'), { format: 'safetensors' }), /is a directory/);
  assert.deepEqual(readFileSync(a), before);
  assert.equal(readAll(join(dir, 'b.ckpt')), undefined);
  assert.equal(readAll(join(dir, 'model')), undefined);
  noTemps(dir);
});

test('a conversion failing midway (crc error) leaves the previous output untouched', () => {
  const dir = tempDir();
  writeTfCheckpoint(join(dir, 'in.ckpt'), [['a', f32(1000)], ['b', f32(1000)]]);
  const data = join(dir, 'in.ckpt.data-00000-of-00001');
  const bytes = readFileSync(data);
  bytes[6000]! ^= 1; // in 'b'
  writeFileSync(data, bytes);
  for (const out of ['out.safetensors', 'out.bin', 'out.ckpt']) {
    writeTfCheckpoint(join(dir, 'good.ckpt'), [['x', f32(3)]]);
    if (out === 'out.ckpt') writeTfCheckpoint(join(dir, 'out.ckpt'), [['x', f32(3)]]);
    else if (out.endsWith('.bin')) writePytorchBin(join(dir, out), [['x', f32(3)]]);
    else writeSafetensors(join(dir, out), [['x', f32(3)]]);
    const before = readdirSync(dir).filter((f) => f.startsWith('out')).map((f) => [f, readFileSync(join(dir, f))]);
    assert.throws(() => convertCheckpoint(join(dir, 'in.ckpt'), join(dir, out)), /tensor 'b': data fails its crc32c check/);
    for (const [f, b] of before) assert.deepEqual(readFileSync(join(dir, f as string)), b, `${out}: ${f} changed`);
  }
  noTemps(dir);
});

test('a TF write failing midway keeps the old .index and .data together', () => {
  const dir = tempDir();
  const prefix = join(dir, 'm.ckpt');
  writeTfCheckpoint(prefix, sampleTensors());
  const index = readFileSync(prefix + '.index'), data = readFileSync(prefix + '.data-00000-of-00001');
  const failing = { list: () => [{ name: 'a', dtype: 'float32' as const, shape: [4] }, { name: 'b', dtype: 'float32' as const, shape: [4] }], read: (n: string) => { if (n === 'b') throw new Error('disk on fire'); return f32(4); } };
  assert.throws(() => writeTfCheckpoint(prefix, failing), /disk on fire/);
  assert.deepEqual(readFileSync(prefix + '.index'), index);
  assert.deepEqual(readFileSync(prefix + '.data-00000-of-00001'), data);
  noTemps(dir);
});

test('ONNX export writes the model and its external data atomically', () => {
  const dir = tempDir();
  const store = new ParamStore();
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const { logits } = gpt2(new Scope(store), { vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 2, maxPosition: 16 }, { ids });
  const path = join(dir, 'model.onnx');
  lower({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) }).writeFiles(path);
  const model = readFileSync(path), data = readFileSync(path + '.data');
  // A weight whose buffer is gone makes the second write fail midway.
  const lowered = lower({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const weight = store.get([...store.names()].find((n) => store.get(n)!.data.byteLength >= 1024)!)!;
  structuredClone(weight.data.buffer, { transfer: [weight.data.buffer as ArrayBuffer] });
  assert.throws(() => lowered.writeFiles(path));
  assert.deepEqual(readFileSync(path), model);
  assert.deepEqual(readFileSync(path + '.data'), data);
  noTemps(dir);
});

test('a 7-byte pickle with a negative BINSTRING length is a CheckpointError, not an endless replay', () => {
  const dir = tempDir();
  const path = join(dir, 'neg.bin');
  writeFileSync(path, Uint8Array.from([0x80, 2, 0x54, 0xfb, 0xff, 0xff, 0xff]));
  const e = readAll(path);
  assert.ok(e instanceof CheckpointError && /bad length -5/.test(e.message), String(e));
});

/** A TF index whose header declares `shards` shards, with one tensor in shard 0 when `withTensor`. */
function tfIndex(shards: number, withTensor: boolean): Uint8Array {
  const header = { key: new Uint8Array(0), value: new ProtoWriter().varintField(1, shards).finish() };
  const entry = new ProtoWriter().varintField(1, 1).messageField(2, new ProtoWriter().messageField(2, new ProtoWriter().varintField(1, 1))).varintField(5, 4).fixed32Field(6, 0);
  return buildSSTable(withTensor ? [header, { key: new TextEncoder().encode('w'), value: entry.finish() }] : [header]);
}

test('TF: a 101-byte index declaring 2^31 shards is refused; 1e8 shards open without allocating per shard', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'big.ckpt.index'), tfIndex(2 ** 31, false));
  assert.equal(readFileSync(join(dir, 'big.ckpt.index')).length, 101);
  assert.match(String(readAll(join(dir, 'big.ckpt'))), /CheckpointError: .*big\.ckpt\.index: bad shard count 2147483648/);
  writeFileSync(join(dir, 'many.ckpt.index'), tfIndex(1e8, true));
  const t0 = performance.now();
  assert.match(String(readAll(join(dir, 'many.ckpt'))), /many\.ckpt\.data-00000-of-100000000: tensor 'w': missing data shard 0 of 100000000/);
  assert.ok(performance.now() - t0 < timeBound(1000));
});

/**
 * A torch zip whose storage '0' (float32, `numel` zeros) is deflated, viewed by `tensors` one-element
 * tensors; `declared` overrides its uncompressed size, `payload` its compressed bytes.
 */
function deflatedTorchZip(path: string, numel: number, tensors: number, { declared = numel * 4, payload }: { declared?: number; payload?: Uint8Array } = {}): void {
  const p = new PickleWriter();
  p.global('collections', 'OrderedDict').op(0x29).op(0x52).mark();
  for (let i = 0; i < tensors; i++) {
    p.str(`t${i}`).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(numel).tuple().op(0x51);
    p.int(i).ints([1]).ints([1]).op(0x89).global('collections', 'OrderedDict').op(0x29).op(0x52).tuple().op(0x52);
  }
  const pkl = p.op(0x75).finish();
  const raw = payload ? new Uint8Array(0) : new Uint8Array(numel * 4);
  const entries = [
    { name: 'archive/data.pkl', method: 0, data: pkl, size: pkl.length, crc: crc32(pkl) },
    { name: 'archive/data/0', method: 8, data: payload ?? deflateRawSync(raw), size: declared, crc: crc32(raw) },
  ];
  const parts: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name), local = Buffer.alloc(30), c = Buffer.alloc(46);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(e.method, 8); local.writeUInt32LE(e.crc, 14);
    local.writeUInt32LE(e.data.length, 18); local.writeUInt32LE(e.size, 22); local.writeUInt16LE(name.length, 26);
    c.writeUInt32LE(0x02014b50, 0); c.writeUInt16LE(e.method, 10); c.writeUInt32LE(e.crc, 16);
    c.writeUInt32LE(e.data.length, 20); c.writeUInt32LE(e.size, 24); c.writeUInt16LE(name.length, 28); c.writeUInt32LE(offset, 42);
    parts.push(local, name, Buffer.from(e.data));
    central.push(c, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central), end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(2, 8); end.writeUInt16LE(2, 10); end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  writeFileSync(path, Buffer.concat([...parts, cd, end]));
}

test('torch zip: a deflated storage is inflated once, bounded by its declared size and an archive budget', () => {
  const dir = tempDir();
  // 40 MB from ~40 KB, viewed by 200 tensors: before, every read re-inflated all of it (8 GB of work).
  deflatedTorchZip(join(dir, 'shared.bin'), 10_000_000, 200);
  const t0 = performance.now();
  assert.equal(readAll(join(dir, 'shared.bin')), undefined);
  assert.ok(performance.now() - t0 < timeBound(3000), `took ${performance.now() - t0} ms`);
  // 1.5 GB declared from a 1.4 MB file (what deflate can reach): refused at open, nothing inflated.
  deflatedTorchZip(join(dir, 'bomb.bin'), 375_000_000, 1, { payload: new Uint8Array(1_460_000) });
  const rss = process.memoryUsage().rss;
  assert.match(String(readAll(join(dir, 'bomb.bin'))), /CheckpointError: .*bomb\.bin: zip entry 'archive\/data\/0' would inflate to 1500000000 bytes, past the limit/);
  assert.ok(process.memoryUsage().rss - rss < 100e6);
  // Declared smaller than the real data: inflation stops at the declared size.
  deflatedTorchZip(join(dir, 'short.bin'), 1000, 1, { declared: 400 });
  assert.match(String(readAll(join(dir, 'short.bin'))), /storage 0 declares 1000 elements of float32 but the file holds 400 bytes|does not inflate to its declared 400 bytes/);
});

test('safetensors: negative, out-of-range and overlapping data_offsets are refused', () => {
  const dir = tempDir();
  const file = (name: string, header: object | string, data: number) => {
    const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header)), len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(join(dir, name), Buffer.concat([len, json, Buffer.alloc(data)]));
    return String(readAll(join(dir, name)));
  };
  assert.match(file('neg.safetensors', { a: { dtype: 'U8', shape: [8], data_offsets: [-8, 0] } }, 0), /tensor 'a': data_offsets begin must be a non-negative integer, got -8/);
  assert.match(file('frac.safetensors', { a: { dtype: 'U8', shape: [1], data_offsets: [0.5, 1.5] } }, 2), /non-negative integer, got 0.5/);
  assert.match(file('over.safetensors', { a: { dtype: 'U8', shape: [8], data_offsets: [0, 8] }, b: { dtype: 'U8', shape: [4], data_offsets: [4, 8] } }, 8), /tensor 'b': data_offsets \[4, 8\] overlap those of 'a'/);
  assert.match(file('huge.safetensors', { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /too large/);
  assert.equal(file('odd.safetensors', { a: { dtype: 'constructor', shape: [1], data_offsets: [0, 1] } }, 1), 'undefined');
  assert.match(openCheckpoint(join(dir, 'odd.safetensors')).skipped()[0]!.reason, /unsupported dtype constructor/);
  assert.match(file('deep.safetensors', `{"a":${'['.repeat(100000)}${']'.repeat(100000)}}`, 0), /CheckpointError: .*tensor 'a': malformed header entry/);
});

test("names such as 'constructor' and '__proto__' are ordinary tensor names in every writer and reader", () => {
  const dir = tempDir();
  const tensors: [string, HostTensor][] = [['constructor', f32(2, 1)], ['__proto__', f32(3, 2)], ['toString', f32(1, 3)], ['hasOwnProperty', f32(1, 4)]];
  for (const path of ['n.safetensors', 'n.ckpt', 'n.bin']) {
    const full = join(dir, path);
    if (path.endsWith('.safetensors')) writeSafetensors(full, tensors);
    else if (path.endsWith('.ckpt')) writeTfCheckpoint(full, tensors);
    else writePytorchBin(full, tensors);
    const r = openCheckpoint(full);
    assert.deepEqual(r.list().map((t) => t.name).sort(), tensors.map(([n]) => n).sort(), path);
    for (const [name, t] of tensors) assert.deepEqual(r.read(name), t, `${path}: ${name}`);
    assert.equal(r.has('valueOf'), false);
    r.close();
  }
  // A shard index whose weight_map names 'constructor' (and one name it does not list).
  writeSafetensors(join(dir, 'shard.safetensors'), tensors);
  writeFileSync(join(dir, 'm.safetensors.index.json'), JSON.stringify({ weight_map: { constructor: 'shard.safetensors', __proto__: 'shard.safetensors' } }));
  const r = openCheckpoint(join(dir, 'm.safetensors.index.json'));
  assert.deepEqual(r.list().length, tensors.length);
  assert.deepEqual(r.read('constructor'), tensors[0]![1]);
  writeFileSync(join(dir, 'bad.safetensors.index.json'), JSON.stringify({ weight_map: { a: 3 } }));
  assert.match(String(readAll(join(dir, 'bad.safetensors.index.json'))), /CheckpointError: .*tensor 'a': weight_map values must be shard file names, got 3/);
});

test('150k tensors (V8 spreads fail past ~125k arguments): no spread arguments or recursion over file-sized lists', () => {
  const dir = tempDir();
  const n = 150_000;
  const one = f32(1);
  const source = { list: () => Array.from({ length: n }, (_, i) => ({ name: `t${i}`, dtype: 'float32' as const, shape: [1] })), read: () => one };
  writeSafetensors(join(dir, 'many.safetensors'), source);
  assert.equal(openCheckpoint(join(dir, 'many.safetensors')).list().length, n);
  // A TF index with every entry in one block (the reader once spread a block's entries into push()).
  writeTfCheckpoint(join(dir, 'many.ckpt'), openCheckpoint(join(dir, 'many.safetensors')), { blockSize: 1 << 30 });
  assert.equal(openCheckpoint(join(dir, 'many.ckpt')).list().length, n);
  // APPENDS of 150k items.
  const p = new PickleWriter().op(0x5d).mark();
  for (let i = 0; i < n; i++) p.int(1);
  assert.equal((unpickle(p.op(0x65).finish(), { persistentLoad: () => null }) as unknown[]).length, n);
});

test('pytorch: a dict that contains itself, or nests 100k deep, is a CheckpointError', () => {
  const dir = tempDir();
  // { 'a': <itself> } via memo: EMPTY_DICT, BINPUT 0, 'a', BINGET 0, SETITEM
  const self = new PickleWriter().op(0x7d).op(0x71).op(0).str('a').op(0x68).op(0).op(0x73).finish();
  // 100k nested dicts: '}' 'k' '}' 'k' ... '}' then 100k SETITEMs, innermost first.
  const deep = new PickleWriter();
  for (let i = 0; i < 100_000; i++) deep.op(0x7d).str('k');
  deep.op(0x7d);
  for (let i = 0; i < 100_000; i++) deep.op(0x73);
  // Legacy layout: pickles of the magic number, the protocol, sys_info, the object, the storage keys.
  const magic = Uint8Array.from([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
  const proto = new PickleWriter().int(1001).finish(), sys = new PickleWriter().op(0x7d).finish(), keys = new PickleWriter().op(0x5d).finish();
  for (const [name, pkl] of [['self', self], ['deep', deep.finish()]] as const) {
    writeFileSync(join(dir, `${name}.bin`), Buffer.concat([magic, proto, sys, pkl, keys]));
    const e = readAll(join(dir, `${name}.bin`));
    assert.ok(e instanceof CheckpointError, `${name}: ${String(e)}`);
  }
});

test('inputs that are not regular files (FIFO, /dev/zero, a directory named like a file) fail fast with a FileError', () => {
  const dir = tempDir();
  execFileSync('mkfifo', [join(dir, 'fifo.safetensors')]);
  mkdirSync(join(dir, 'x.ckpt.index'));
  // Read whole, these once read /dev/zero until memory ran out.
  symlinkSync('/dev/zero', join(dir, 'z.ckpt.index'));
  symlinkSync('/dev/zero', join(dir, 'z.safetensors.index.json'));
  const t0 = performance.now();
  for (const path of ['fifo.safetensors', 'x.ckpt', 'z.ckpt', 'z.safetensors.index.json']) {
    const e = readAll(join(dir, path));
    assert.ok(e instanceof FileError && /not a regular file/.test(e.message), `${path}: ${String(e)}`);
  }
  assert.ok(performance.now() - t0 < timeBound(2000));
});

test('ONNX: dims that would allocate gigabytes are refused before allocating', () => {
  const dir = tempDir();
  const tensor = new ProtoWriter().varintField(1, 2 ** 20).varintField(1, 2 ** 20).varintField(2, 1).bytesField(8, new TextEncoder().encode('w')).bytesField(9, new Uint8Array(16));
  const model = new ProtoWriter().messageField(7, new ProtoWriter().messageField(5, tensor));
  writeFileSync(join(dir, 'm.onnx'), model.finish());
  assert.match(String(readAll(join(dir, 'm.onnx'))), /CheckpointError: .*tensor 'w': has 16 data bytes, shape \[1048576,1048576\] of float32 needs 4398046511104/);
});

test('a pickle that floods the heap (a run of EMPTY_DICT) is a CheckpointError, not a V8 abort', () => {
  const dir = tempDir();
  const path = join(dir, 'flood.bin');
  // 2 MB of '}' builds ~400 MB of dicts; a 128 MB heap shows the guard without the cost.
  const bytes = new Uint8Array(2_000_003).fill(0x7d);
  bytes.set([0x80, 2]);
  bytes[bytes.length - 1] = 0x2e;
  writeFileSync(path, bytes);
  const script = `import { openCheckpoint } from ${JSON.stringify(new URL('../../src/checkpoint/index.ts', import.meta.url).pathname)};
try { openCheckpoint(${JSON.stringify(path)}); console.log('opened'); } catch (e) { console.log(e.name + ': ' + e.message); }`;
  const out = execFileSync(process.execPath, ['--max-old-space-size=128', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.match(out, /CheckpointError: .*flood\.bin: cannot unpickle legacy torch\.save file: pickle: the objects built by byte \d+ fill the JS heap/);
});
