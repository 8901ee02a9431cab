/**
 * TensorFlow checkpoints (the V2 "tensor bundle", tensorflow/core/util/tensor_bundle):
 * `<prefix>.index` is an SSTable mapping "" to a BundleHeaderProto and each tensor name to a
 * BundleEntryProto (dtype, shape, shard_id, offset, size, masked crc32c); the bytes live in
 * `<prefix>.data-0000N-of-0000M`. Every tensor read is checked against its crc32c.
 */
import { existsSync } from '../util/node/fs.ts';
import type { DType, HostTensor } from '../graph/dtype.ts';
import { FileError, writeAtomically } from '../util/files.ts';
import { crc32c, crc32cExtend, maskCrc, unmaskCrc } from './crc32c.ts';
import {
  allocateTensor, checkIndex, checkName, checkTensor, CheckpointError, entriesOf, FileSink, RandomAccessFile, readSmallFile, shapeBytes, tensorBytes,
  type CheckpointReader, type TensorInfo, type TensorSource,
} from './io.ts';
import { ProtoReader, ProtoWriter, WIRE_LEN } from './protobuf.ts';
import { buildSSTable, compareBytes, readSSTable } from './sstable.ts';

/** tensorflow/core/framework/types.proto DataType codes we map to host dtypes. */
const DT_TO_DTYPE: Record<number, DType> = { 1: 'float32', 2: 'float64', 3: 'int32', 4: 'uint8', 6: 'int8', 9: 'int64', 10: 'bool', 14: 'bfloat16', 19: 'float16' };
const DTYPE_TO_DT = Object.fromEntries(Object.entries(DT_TO_DTYPE).map(([k, v]) => [v, Number(k)])) as Record<DType, number>;
const DT_STRING = 7;
/** BundleHeaderProto.num_shards is an int32. */
const MAX_SHARDS = 2 ** 31 - 1;
/** Index files hold ~100 bytes per tensor; refuse absurd ones before reading them into memory. */
const MAX_INDEX_BYTES = 1 << 30;
const DT_NAMES: Record<number, string> = { 5: 'int16', 8: 'complex64', 11: 'qint8', 12: 'quint8', 13: 'qint32', 15: 'qint16', 16: 'quint16', 17: 'uint16', 18: 'complex128', 20: 'resource', 21: 'variant', 22: 'uint32', 23: 'uint64' };

export function dataFileName(prefix: string, shard: number, numShards: number): string {
  return `${prefix}.data-${String(shard).padStart(5, '0')}-of-${String(numShards).padStart(5, '0')}`;
}

interface BundleEntry {
  name: string;
  dt: number;
  shape: number[];
  shard: number;
  offset: number;
  size: number;
  crc: number;
  hasSlices: boolean;
}

function parseShape(buf: Uint8Array): number[] {
  const r = new ProtoReader(buf);
  const dims: number[] = [];
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 2 && w === WIRE_LEN) {
      const d = new ProtoReader(r.bytes());
      let size = 0;
      while (!d.done) {
        const [df, dw] = d.tag();
        if (df === 1) size = Number(d.varintBig()); // -1 (unknown) and huge dims are refused by shapeBytes
        else d.skip(dw);
      }
      dims.push(size);
    } else if (f === 3) {
      if (r.varint()) throw new Error('tensor has unknown rank');
    } else r.skip(w);
  }
  return dims;
}

function parseEntry(name: string, buf: Uint8Array): BundleEntry {
  const r = new ProtoReader(buf);
  const e: BundleEntry = { name, dt: 0, shape: [], shard: 0, offset: 0, size: 0, crc: 0, hasSlices: false };
  while (!r.done) {
    const [f, w] = r.tag();
    switch (f) {
      case 1: e.dt = r.varint(); break;
      case 2: e.shape = parseShape(r.bytes()); break;
      case 3: e.shard = r.varint(); break;
      case 4: e.offset = r.varint(); break;
      case 5: e.size = r.varint(); break;
      case 6: e.crc = r.fixed32(); break;
      case 7: e.hasSlices = true; r.skip(w); break;
      default: r.skip(w);
    }
  }
  if (e.dt > 100) e.dt -= 100; // reference types (DT_FLOAT_REF...) store like their base type
  return e;
}

/** Resolve what the user passed (prefix, `.index` file, a `.data-*` file, or a directory) to a prefix. */
export function resolveTfPrefix(path: string): string | undefined {
  if (existsSync(path + '.index')) return path;
  if (path.endsWith('.index') && existsSync(path)) return path.slice(0, -'.index'.length);
  const m = /^(.*)\.data-\d{5}-of-\d{5}$/.exec(path);
  if (m && existsSync(m[1] + '.index')) return m[1];
  return undefined;
}

export class TfCheckpointReader implements CheckpointReader {
  readonly format = 'tf' as const;
  readonly numShards: number;
  /** How many index blocks were Snappy-compressed (for diagnostics and tests). */
  readonly compressedBlocks: number;
  private readonly entries = new Map<string, BundleEntry>();
  private readonly stringEntries = new Map<string, BundleEntry>();
  private readonly unsupported: { name: string; reason: string }[] = [];
  /** Open data files by shard number (only the shards some tensor lives in). */
  private readonly shards = new Map<number, RandomAccessFile>();
  /** The checkpoint prefix (`.../bert_model.ckpt`). */
  readonly path: string;
  readonly indexPath: string;

  /** `path`: the checkpoint prefix (e.g. `bert_model.ckpt`) or its `.index` file. */
  constructor(path: string, private readonly options: { verifyChecksums?: boolean } = {}) {
    const prefix = resolveTfPrefix(path);
    if (!prefix) throw new CheckpointError(path, `not a TensorFlow checkpoint: no ${path}.index`);
    this.path = prefix;
    this.indexPath = prefix + '.index';
    let table;
    try {
      table = readSSTable(readSmallFile(this.indexPath, MAX_INDEX_BYTES, 'TF index'));
    } catch (e) {
      if (e instanceof CheckpointError || e instanceof FileError) throw e;
      throw new CheckpointError(this.indexPath, (e as Error).message);
    }
    this.compressedBlocks = table.compressedBlocks;
    const decoder = new TextDecoder();
    let numShards = 1;
    for (const { key, value } of table.entries) {
      if (key.length === 0) {
        numShards = this.parseHeader(value);
        continue;
      }
      const name = decoder.decode(key);
      let e: BundleEntry;
      try {
        e = parseEntry(name, value);
      } catch (err) {
        throw new CheckpointError(this.indexPath, `corrupt index entry: ${(err as Error).message}`, name);
      }
      const dtype = DT_TO_DTYPE[e.dt];
      checkIndex(e.offset, this.indexPath, 'offset', name);
      checkIndex(e.size, this.indexPath, 'size', name);
      shapeBytes('uint8', e.shape, this.indexPath, name);
      if (e.hasSlices) this.unsupported.push({ name, reason: 'partitioned (sliced) variable, which bert4ts does not read' });
      else if (e.dt === DT_STRING) {
        this.stringEntries.set(name, e);
        this.unsupported.push({ name, reason: 'string tensor: use readStrings()' });
      } else if (!dtype) this.unsupported.push({ name, reason: `unsupported dtype ${DT_NAMES[e.dt] ?? `DataType ${e.dt}`}` });
      else {
        const size = shapeBytes(dtype, e.shape, this.indexPath, name);
        if (size !== e.size) throw new CheckpointError(this.indexPath, `shape [${e.shape}] of ${dtype} needs ${size} bytes, the index says ${e.size}`, name);
        this.entries.set(name, e);
      }
      if (e.shard >= numShards) throw new CheckpointError(this.indexPath, `shard ${e.shard} but the header says ${numShards} shards`, name);
    }
    this.numShards = numShards;
    // Check every shard is there and long enough now, so a missing shard fails at open, by name.
    const needed = new Map<number, { end: number; tensor: string }>();
    for (const e of [...this.entries.values(), ...this.stringEntries.values()]) {
      const cur = needed.get(e.shard);
      if (!cur || e.offset + e.size > cur.end) needed.set(e.shard, { end: e.offset + e.size, tensor: e.name });
    }
    try {
      for (const [shard, { end, tensor }] of needed) {
        const file = dataFileName(prefix, shard, numShards);
        if (!existsSync(file)) throw new CheckpointError(file, `missing data shard ${shard} of ${numShards}`, tensor);
        const f = new RandomAccessFile(file);
        this.shards.set(shard, f);
        if (f.size < end) throw new CheckpointError(file, `truncated: needs ${end} bytes, has ${f.size}`, tensor);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** BundleHeaderProto: the shard count (endianness must be little). */
  private parseHeader(value: Uint8Array): number {
    let numShards = 1;
    try {
      const r = new ProtoReader(value);
      while (!r.done) {
        const [f, w] = r.tag();
        if (f === 1) numShards = r.varint();
        else if (f === 2) {
          if (r.varint() !== 0) throw new CheckpointError(this.indexPath, 'big-endian checkpoints are not supported');
        } else r.skip(w);
      }
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(this.indexPath, `corrupt bundle header: ${(e as Error).message}`);
    }
    // Only the shards some tensor lives in are opened, but the count is still checked (it names the files).
    if (!Number.isInteger(numShards) || numShards < 1 || numShards > MAX_SHARDS) throw new CheckpointError(this.indexPath, `bad shard count ${numShards} in the header (must be 1..${MAX_SHARDS})`);
    return numShards;
  }

  list(): TensorInfo[] {
    // Index order is sorted by name, which is also the order TF writes data within a shard.
    return [...this.entries.values()].map((e) => ({ name: e.name, dtype: DT_TO_DTYPE[e.dt]!, shape: [...e.shape] }));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  files(): string[] {
    return [this.indexPath, ...[...this.shards.values()].map((f) => f.path)];
  }

  /** Where a tensor lives (shard, offset, size, masked crc32c) — for diagnostics and tests. */
  location(name: string): { shard: number; offset: number; size: number; crc32cMasked: number } | undefined {
    const e = this.entries.get(name) ?? this.stringEntries.get(name);
    return e && { shard: e.shard, offset: e.offset, size: e.size, crc32cMasked: e.crc };
  }

  read(name: string): HostTensor {
    const e = this.entries.get(name);
    if (!e) {
      const bad = this.unsupported.find((u) => u.name === name);
      throw new CheckpointError(this.path, bad ? bad.reason : 'no such tensor', name);
    }
    const { tensor, bytes } = allocateTensor(DT_TO_DTYPE[e.dt]!, e.shape);
    const file = this.shards.get(e.shard)!;
    file.readInto(bytes, e.offset, `tensor '${name}'`);
    if (this.options.verifyChecksums !== false && crc32c(bytes) !== unmaskCrc(e.crc)) {
      throw new CheckpointError(file.path, 'data fails its crc32c check (corrupt file)', name);
    }
    return tensor;
  }

  /** Names and shapes of the string tensors (e.g. `_CHECKPOINTABLE_OBJECT_GRAPH`). */
  stringTensors(): { name: string; shape: number[] }[] {
    return [...this.stringEntries.values()].map((e) => ({ name: e.name, shape: [...e.shape] }));
  }

  /**
   * A DT_STRING tensor's elements as raw bytes (they are often binary protos, not text). Stored as
   * varint64 lengths, a masked crc32c of the lengths, then the bytes; the entry's crc covers the
   * lengths as little-endian integers (4 bytes each, 8 for lengths over 4 GB, for backward
   * compatibility in TF), that 4-byte checksum, then the bytes.
   */
  readStrings(name: string): { shape: number[]; values: Uint8Array[] } {
    const e = this.stringEntries.get(name);
    if (!e) throw new CheckpointError(this.path, this.entries.has(name) ? 'not a string tensor' : 'no such string tensor', name);
    const file = this.shards.get(e.shard)!;
    const buf = file.read(e.offset, e.size, `tensor '${name}'`);
    const n = shapeBytes('uint8', e.shape, file.path, name); // element count, checked at open
    const r = new ProtoReader(buf);
    const lengths: number[] = [];
    let crc = 0;
    const len8 = new Uint8Array(8);
    const dv = new DataView(len8.buffer);
    try {
      for (let i = 0; i < n; i++) {
        const len = r.varint();
        lengths.push(len);
        dv.setBigUint64(0, BigInt(len), true);
        crc = crc32cExtend(crc, len8.subarray(0, len <= 0xffffffff ? 4 : 8));
      }
      const lengthsCrc = r.fixed32();
      if (unmaskCrc(lengthsCrc) !== crc) throw new Error('string lengths fail their crc32c check');
      crc = crc32cExtend(crc, buf.subarray(r.pos - 4, r.pos));
      const values = lengths.map((len) => {
        if (r.pos + len > buf.length) throw new Error('string data runs past the tensor');
        const v = buf.subarray(r.pos, r.pos + len);
        r.pos += len;
        crc = crc32cExtend(crc, v);
        return v;
      });
      if (this.options.verifyChecksums !== false && crc !== unmaskCrc(e.crc)) throw new Error('data fails its crc32c check');
      return { shape: [...e.shape], values };
    } catch (err) {
      throw new CheckpointError(file.path, `corrupt string tensor: ${(err as Error).message}`, name);
    }
  }

  skipped(): { name: string; reason: string }[] {
    return [...this.unsupported];
  }

  close(): void {
    for (const f of this.shards.values()) f.close();
    this.shards.clear();
  }
}

/**
 * Write a single-shard TF checkpoint (`<prefix>.index` + `<prefix>.data-00000-of-00001`) that
 * TensorFlow's BundleReader (tf.train.load_checkpoint, bert4keras) reads. Names are kept as given
 * (e.g. Google's `bert/encoder/layer_0/...`). Data streams to disk in input order; only the small
 * index is kept in memory and written, sorted by name, at the end.
 */
export function writeTfCheckpoint(prefix: string, tensors: TensorSource, options: { blockSize?: number } = {}): void {
  const dataPath = dataFileName(prefix, 0, 1);
  const encoder = new TextEncoder();
  const entries: { key: Uint8Array; value: Uint8Array }[] = [];
  const seen = new Set<string>();
  // Both files go to temp names; the data file is renamed first and the .index last, so a failure
  // never leaves an old index beside new data (or the reverse).
  writeAtomically([dataPath, prefix + '.index'], ([data, index]) => {
    const sink = new FileSink(data!);
    for (const [name, t] of entriesOf(tensors)) {
      checkTensor(name, t, dataPath);
      checkName(name, prefix);
      if (!name) throw new CheckpointError(prefix, 'tensor names must not be empty (the empty key holds the bundle header)');
      if (seen.has(name)) throw new CheckpointError(prefix, 'duplicate tensor name', name);
      seen.add(name);
      const bytes = tensorBytes(t);
      const shape = new ProtoWriter();
      for (const d of t.shape) shape.messageField(2, new ProtoWriter().varintField(1, d));
      const entry = new ProtoWriter().varintField(1, DTYPE_TO_DT[t.dtype]).messageField(2, shape);
      if (sink.position) entry.varintField(4, sink.position);
      if (bytes.length) entry.varintField(5, bytes.length);
      entry.fixed32Field(6, maskCrc(crc32c(bytes)));
      entries.push({ key: encoder.encode(name), value: entry.finish() });
      sink.write(bytes);
    }
    sink.flush();
    entries.sort((a, b) => compareBytes(a.key, b.key));
    // BundleHeaderProto { num_shards: 1, endianness: LITTLE (default), version { producer: 1 } }
    const header = new ProtoWriter().varintField(1, 1).messageField(3, new ProtoWriter().varintField(1, 1));
    index!.write(buildSSTable([{ key: new Uint8Array(0), value: header.finish() }, ...entries], options));
  });
}
