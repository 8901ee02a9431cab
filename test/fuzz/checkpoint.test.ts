// Property-based fuzzing of every checkpoint parser and writer (fast-check, seeded).
//
// Malformed inputs: a valid small file from our writers (or a fixture) is mutated — bytes flipped,
// truncated, big or negative integers spliced in at header positions, regions duplicated, random
// bytes inserted — or replaced by random bytes. Opening it and reading every listed tensor must
// succeed or throw a typed error (CheckpointError / FileError), within a time bound and with memory
// bounded by the input size. Writers: random names (with 'constructor', '__proto__', unicode),
// dtypes, shapes and bits round-trip exactly.
//
// BERT4TS_FUZZ_RUNS=<n> sets the number of runs per property (the defaults keep the file under ~10 s);
// BERT4TS_FUZZ_SEED=<n> changes the seed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { BYTES_PER_ELEMENT, type DType, type HostTensor } from '../../src/graph/dtype.ts';
import { CheckpointError, openCheckpoint, writePytorchBin, writeSafetensors, writeTfCheckpoint } from '../../src/checkpoint/index.ts';
import { snappyUncompress } from '../../src/checkpoint/snappy.ts';
import { FileError } from '../../src/util/files.ts';
import { sampleTensors } from '../checkpoint/helpers.ts';
import { timeBound } from '../timeBound.ts';

const FIXTURES = new URL('../fixtures/checkpoint/', import.meta.url).pathname;
const RUNS = Number(process.env.BERT4TS_FUZZ_RUNS) || 0;
/** Runs for one property: its default share of the ~15 s budget, or BERT4TS_FUZZ_RUNS. */
const runs = (fallback: number) => (RUNS > 0 ? RUNS : fallback);
/** Fixed, so failures reproduce; BERT4TS_FUZZ_SEED explores other cases in long runs. */
const SEED = Number(process.env.BERT4TS_FUZZ_SEED) || 20261204;
const TIME_LIMIT_MS = timeBound(2000);

// tmpfs when there is one: thousands of small writes, each several ms on a disk-backed /tmp.
const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bert4ts-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The valid files to mutate: [file to damage, path to open]. Multi-file formats are damaged one
 * file at a time (the other files stay valid).
 */
function prepare(): [string, string][] {
  const tensors = sampleTensors();
  writeSafetensors(join(dir, 'a.safetensors'), tensors, { format: 'pt' });
  writeTfCheckpoint(join(dir, 'a.ckpt'), tensors, { blockSize: 64 }); // several data blocks
  writePytorchBin(join(dir, 'a.bin'), tensors);
  for (const f of ['torch_state_legacy.bin', 'model.onnx', 'model.onnx.data', 'snappy_tiny.ckpt.index', 'snappy_tiny.ckpt.data-00000-of-00001']) copyFileSync(join(FIXTURES, f), join(dir, f));
  // A sharded safetensors checkpoint: two shards and their index.
  writeSafetensors(join(dir, 's1.safetensors'), tensors.slice(0, 6));
  writeSafetensors(join(dir, 's2.safetensors'), tensors.slice(6));
  const weightMap = Object.fromEntries(tensors.map(([n], i) => [n, i < 6 ? 's1.safetensors' : 's2.safetensors']));
  writeFileSync(join(dir, 'm.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }));
  return [
    ['a.safetensors', 'a.safetensors'], ['a.ckpt.index', 'a.ckpt'], ['a.ckpt.data-00000-of-00001', 'a.ckpt'],
    ['snappy_tiny.ckpt.index', 'snappy_tiny.ckpt'], ['a.bin', 'a.bin'], ['torch_state_legacy.bin', 'torch_state_legacy.bin'],
    ['model.onnx', 'model.onnx'], ['model.onnx.data', 'model.onnx'], ['m.safetensors.index.json', 'm.safetensors.index.json'],
  ];
}
const TARGETS = prepare();
const ORIGINALS = new Map(TARGETS.map(([damaged]) => [damaged, readFileSync(join(dir, damaged))]));

/** Integers that break naive size arithmetic, as 8-byte little-endian or as protobuf varints. */
const NASTY = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -2n, -(2n ** 31n), -(2n ** 63n)];
function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}
function varint(v: bigint): Uint8Array {
  const out: number[] = [];
  for (let x = BigInt.asUintN(64, v); ; x >>= 7n) {
    if (x < 0x80n) return Uint8Array.from([...out, Number(x)]);
    out.push(Number(x & 0x7fn) | 0x80);
  }
}

type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; value: bigint; varint: boolean }
  | { kind: 'duplicate'; from: number; len: number; to: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'text'; at: number; text: string };

/** Tokens that break JSON headers (safetensors, shard indexes) in interesting ways, written over a position. */
const TOKENS = ['-1', '-8', '0.5', '1e400', '9007199254740993', '4294967296', 'null', '"', '[', ']', '{', '}', ',', '"__proto__"', '"constructor"', '[0,0]', '[]'];

const position = fc.nat({ max: 0x7fffffff });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('splice' as const), at: position, value: fc.constantFrom(...NASTY), varint: fc.boolean() }),
  fc.record({ kind: fc.constant('duplicate' as const), from: position, len: fc.integer({ min: 1, max: 256 }), to: position }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('text' as const), at: position, text: fc.constantFrom(...TOKENS) }),
);

/** Positions are drawn uniformly, but headers matter most: half of them land in the first 64 bytes. */
function place(at: number, length: number): number {
  if (!length) return 0;
  return at % 2 ? (at >> 1) % Math.min(length, 64) : (at >> 1) % length;
}

function mutate(original: Uint8Array, mutations: Mutation[]): Uint8Array {
  let b = Uint8Array.from(original);
  for (const m of mutations) {
    if (m.kind === 'flip') {
      if (b.length) b[place(m.at, b.length)]! ^= m.xor;
    } else if (m.kind === 'truncate') b = b.slice(0, place(m.at, b.length));
    else if (m.kind === 'splice') {
      const bytes = m.varint ? varint(m.value) : le64(m.value);
      const at = place(m.at, b.length);
      if (at < b.length) b.set(bytes.subarray(0, b.length - at), at);
    } else if (m.kind === 'duplicate') {
      const from = place(m.from, b.length), to = place(m.to, b.length);
      const region = b.slice(from, from + m.len);
      b = Uint8Array.from([...b.subarray(0, to), ...region, ...b.subarray(to)]);
    } else if (m.kind === 'insert') {
      const at = place(m.at, b.length);
      b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    } else {
      // Anywhere in the file, but mostly where JSON headers are (the first 64 bytes are mostly binary).
      const at = m.at % 4 ? 8 + ((m.at >> 2) % Math.max(1, b.length - 8)) : place(m.at >> 2, b.length);
      if (at < b.length) b.set(new TextEncoder().encode(m.text).subarray(0, b.length - at), at);
    }
  }
  return b;
}

/**
 * Open `path` and read every listed tensor. Passes if that succeeds or throws a typed error, in
 * time, with array-buffer memory bounded by the input size (measured while the tensors are held).
 */
function checkOpen(path: string, inputBytes: number, label: string): void {
  const buffersBefore = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  const held: HostTensor[] = [];
  let error: unknown;
  try {
    const r = openCheckpoint(path);
    try {
      for (const { name } of r.list()) held.push(r.read(name));
      r.skipped();
    } finally {
      r.close();
    }
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  const grown = process.memoryUsage().arrayBuffers - buffersBefore;
  if (error !== undefined && !(error instanceof CheckpointError) && !(error instanceof FileError)) {
    assert.fail(`${label}: untyped ${(error as Error)?.constructor?.name}: ${(error as Error)?.stack ?? String(error)}`);
  }
  assert.ok(ms < TIME_LIMIT_MS, `${label}: took ${ms.toFixed(0)} ms`);
  // Generous: tensors, the index or pickle held in memory, and inflated zip entries, plus slack
  // for buffers the runner itself allocates meanwhile.
  assert.ok(grown < 64 * inputBytes + (64 << 20), `${label}: array buffers grew by ${grown} bytes for ${inputBytes} input bytes`);
}


test('fuzz: mutated checkpoints of every format open and read, or fail with a typed error, in bounded time and memory', () => {
  fc.assert(
    fc.property(fc.nat({ max: TARGETS.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, mutations) => {
      const [damaged, opened] = TARGETS[which]!;
      const bytes = mutate(ORIGINALS.get(damaged)!, mutations);
      try {
        writeFileSync(join(dir, damaged), bytes);
        checkOpen(join(dir, opened), Math.max(bytes.length, ORIGINALS.get(damaged)!.length), `${damaged} ${JSON.stringify(mutations, (_, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? [...v] : v))}`);
      } finally {
        writeFileSync(join(dir, damaged), ORIGINALS.get(damaged)!); // so the damage does not leak into the next case
      }
    }),
    { seed: SEED, numRuns: runs(6000) },
  );
});

test('fuzz: random bytes under every checkpoint name are refused with a typed error', () => {
  const names = ['random.safetensors', 'random.bin', 'random.onnx', 'random.ckpt.index', 'random.safetensors.index.json', 'random.pt'];
  // Random bytes, or a format's magic followed by random bytes (so the parsers past the sniffing run).
  const prefixes = [new Uint8Array(0), Uint8Array.from([0x50, 0x4b, 0x03, 0x04]), Uint8Array.from([0x80, 0x02]), Uint8Array.from([16, 0, 0, 0, 0, 0, 0, 0, 0x7b])];
  fc.assert(
    fc.property(fc.nat({ max: names.length - 1 }), fc.nat({ max: prefixes.length - 1 }), fc.uint8Array({ maxLength: 512 }), (n, p, body) => {
      const name = names[n]!;
      const bytes = Uint8Array.from([...prefixes[p]!, ...body]);
      try {
        writeFileSync(join(dir, name), bytes);
        checkOpen(join(dir, name.replace(/\.index$/, '')), bytes.length, `${name} ${Buffer.from(bytes).toString('hex')}`);
      } finally {
        rmSync(join(dir, name));
      }
    }),
    { seed: SEED, numRuns: runs(3000) },
  );
});

test('fuzz: snappy decodes or refuses random and mutated streams, never allocating past its bound', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (input) => {
      try {
        const out = snappyUncompress(input);
        assert.ok(out.length <= 22 * input.length);
      } catch (e) {
        assert.ok(e instanceof Error && e.message.startsWith('snappy:'), String(e));
      }
    }),
    { seed: SEED, numRuns: runs(5000) },
  );
});

const DTYPES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int8', 'uint8', 'bool'];
/** Names that hit Object.prototype when used as keys of a plain object, plus unicode and separators. */
const name = fc.oneof(
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '0', 'a.b', 'bert/encoder/layer_0/kernel', '名字', 'emoji 🤗'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
);
const tensor: fc.Arbitrary<HostTensor> = fc
  .record({ dtype: fc.constantFrom(...DTYPES), shape: fc.array(fc.nat({ max: 4 }), { maxLength: 3 }) })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // Any bits, NaN payloads included: the round trip must be exact.
    return fc.uint8Array({ minLength: n * BYTES_PER_ELEMENT[dtype], maxLength: n * BYTES_PER_ELEMENT[dtype] }).map((bytes) => {
      const data = new ({ float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array, int64: BigInt64Array, int32: Int32Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array }[dtype])(bytes.buffer);
      return { dtype, shape, data } as HostTensor;
    });
  });
const checkpoint = fc.uniqueArray(fc.tuple(name, tensor), { minLength: 0, maxLength: 6, selector: ([n]) => n });

const bits = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

test('fuzz: every writer round-trips random names, dtypes, shapes and bits exactly', () => {
  const writers = {
    'rt.safetensors': (p: string, t: [string, HostTensor][]) => writeSafetensors(p, t),
    'rt.ckpt': (p: string, t: [string, HostTensor][]) => writeTfCheckpoint(p, t),
    'rt.bin': (p: string, t: [string, HostTensor][]) => writePytorchBin(p, t),
  };
  fc.assert(
    fc.property(fc.constantFrom(...(Object.keys(writers) as (keyof typeof writers)[])), checkpoint, (file, tensors) => {
      const path = join(dir, file);
      writers[file](path, tensors);
      const r = openCheckpoint(path);
      try {
        assert.deepEqual(r.list().map((i) => i.name).sort(), tensors.map(([n]) => n).sort());
        for (const [n, t] of tensors) {
          const back = r.read(n);
          assert.equal(back.dtype, t.dtype, n);
          assert.deepEqual(back.shape, t.shape, n);
          assert.ok(bits(back).equals(bits(t)), `${file}: '${n}' bits differ`);
        }
      } finally {
        r.close();
      }
    }),
    { seed: SEED, numRuns: runs(1000) },
  );
});
