/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }`, then the data
 * (offsets relative to its start). Sharded checkpoints add `*.safetensors.index.json`
 * (`{ weight_map: { name: file } }`), handled by openCheckpoint.
 */
import type { DType, HostTensor } from '../graph/dtype.ts';
import { writeAtomically } from '../util/files.ts';
import {
  allocateTensor, byteSize, checkIndex, checkName, checkTensor, CheckpointError, describe, FileSink, isReaderSource, openRandomAccess, RandomAccess, RandomAccessFile, shapeBytes, table, tensorBytes,
  type CheckpointReader, type NamedBytes, type TensorInfo, type TensorSource,
} from './io.ts';

const FROM_ST = table<DType>({ F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool' });
const TO_ST = Object.fromEntries(Object.entries(FROM_ST).map(([k, v]) => [v, k])) as Record<DType, string>;
/** Refuse absurd header sizes before allocating (the reference implementation caps at 100 MB). */
const MAX_HEADER = 100_000_000;

interface Entry extends TensorInfo { begin: number; end: number }

export class SafetensorsReader implements CheckpointReader {
  readonly format = 'safetensors' as const;
  readonly metadata: Record<string, string>;
  private readonly file: RandomAccess;
  private readonly entries = new Map<string, Entry>();
  private readonly unsupported: { name: string; reason: string }[] = [];
  private readonly dataStart: number;

  readonly path: string;

  /** A file path (Node), or the file's bytes with a name for errors (e.g. fetched in a browser). */
  constructor(source: string | NamedBytes) {
    const path = (this.path = typeof source === 'string' ? source : source.name);
    this.file = openRandomAccess(source);
    try {
      const f = this.file;
      if (f.size < 8) throw new CheckpointError(path, `not a safetensors file: only ${f.size} bytes`);
      const declared = new DataView(f.read(0, 8).buffer).getBigUint64(0, true);
      const n = Number(declared);
      if (declared > BigInt(MAX_HEADER) || 8 + n > f.size) throw new CheckpointError(path, `bad or truncated safetensors header: declares ${declared} header bytes, file has ${f.size}`);
      let header: Record<string, any>;
      try {
        header = JSON.parse(new TextDecoder().decode(f.read(8, n)));
      } catch (e) {
        throw new CheckpointError(path, `safetensors header is not valid JSON (${(e as Error).message})`);
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new CheckpointError(path, 'safetensors header is not a JSON object');
      this.dataStart = 8 + n;
      const meta = header.__metadata__ ?? {};
      if (typeof meta !== 'object' || Array.isArray(meta) || !Object.values(meta).every((v) => typeof v === 'string')) {
        throw new CheckpointError(path, `__metadata__ must be an object of strings, got ${describe(meta)}`);
      }
      this.metadata = meta as Record<string, string>;
      const dataSize = f.size - this.dataStart;
      // Every entry, readable or not, claims a byte range; they must lie in the data section and not overlap.
      const ranges: { name: string; begin: number; end: number }[] = [];
      const entries: Entry[] = [];
      for (const [name, e] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        if (!e || typeof e !== 'object' || typeof e.dtype !== 'string' || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
          throw new CheckpointError(path, `malformed header entry (needs dtype, shape, data_offsets [begin, end]), got ${describe(e)}`, name);
        }
        const begin = checkIndex(e.data_offsets[0], path, 'data_offsets begin', name), end = checkIndex(e.data_offsets[1], path, 'data_offsets end', name);
        if (end < begin || end > dataSize) throw new CheckpointError(path, `truncated or corrupt: data_offsets [${begin}, ${end}] but the data section has ${dataSize} bytes`, name);
        ranges.push({ name, begin, end });
        const dtype = FROM_ST[e.dtype];
        if (!dtype) {
          this.unsupported.push({ name, reason: `unsupported dtype ${e.dtype.slice(0, 40)} (supported: ${Object.keys(FROM_ST).join(', ')})` });
          continue;
        }
        const size = shapeBytes(dtype, e.shape, path, name);
        if (size !== end - begin) throw new CheckpointError(path, `shape [${e.shape}] of ${e.dtype} needs ${size} bytes, data_offsets give ${end - begin}`, name);
        entries.push({ name, dtype, shape: e.shape, begin, end });
      }
      ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
      for (let i = 1; i < ranges.length; i++) {
        const a = ranges[i - 1]!, b = ranges[i]!;
        if (b.begin < a.end) throw new CheckpointError(path, `data_offsets [${b.begin}, ${b.end}] overlap those of '${a.name}' [${a.begin}, ${a.end}] (corrupt header)`, b.name);
      }
      // The JSON object's key order is arbitrary; the data order is the file order.
      entries.sort((a, b) => a.begin - b.begin);
      for (const e of entries) this.entries.set(e.name, e);
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  list(): TensorInfo[] {
    return [...this.entries.values()].map(({ name, dtype, shape }) => ({ name, dtype, shape: [...shape] }));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  files(): string[] {
    return [this.path];
  }

  read(name: string): HostTensor {
    const e = this.entries.get(name);
    if (!e) {
      const bad = this.unsupported.find((u) => u.name === name);
      throw new CheckpointError(this.path, bad ? bad.reason : 'no such tensor', name);
    }
    const { tensor, bytes } = allocateTensor(e.dtype, e.shape);
    this.file.readInto(bytes, this.dataStart + e.begin, `tensor '${name}'`);
    return tensor;
  }

  skipped(): { name: string; reason: string }[] {
    return [...this.unsupported];
  }

  close(): void {
    this.file.close();
  }
}

/**
 * Write a safetensors file. The header comes first, so every shape must be known before data is
 * written: with a reader-like source (`{ list, read }`) tensors are read and written one at a time;
 * a plain iterable is collected first (references only, no copies).
 */
export function writeSafetensors(path: string, tensors: TensorSource, metadata?: Record<string, string>): void {
  let infos: TensorInfo[];
  let fetch: (i: number) => HostTensor;
  if (isReaderSource(tensors)) {
    infos = tensors.list();
    fetch = (i) => tensors.read(infos[i]!.name);
  } else {
    const all = [...tensors];
    infos = all.map(([name, t]) => (checkTensor(name, t, path), { name, dtype: t.dtype, shape: t.shape }));
    fetch = (i) => all[i]![1];
  }
  // No prototype: 'constructor' or '__proto__' are ordinary tensor names here.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new CheckpointError(path, `metadata value for '${k}' must be a string`);
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const { name, dtype, shape } of infos) {
    checkName(name, path);
    if (name === '__metadata__') throw new CheckpointError(path, 'the name __metadata__ is reserved for the header metadata', name);
    if (name in header) throw new CheckpointError(path, 'duplicate tensor name', name);
    const size = byteSize(dtype, shape);
    header[name] = { dtype: TO_ST[dtype], shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  json = padded;
  writeAtomically([path], ([file]) => {
    const sink = new FileSink(file!);
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(json.length), true);
    sink.write(len);
    sink.write(json);
    for (let i = 0; i < infos.length; i++) {
      const t = fetch(i);
      const info = infos[i]!;
      checkTensor(info.name, t, path);
      if (t.dtype !== info.dtype || t.shape.join() !== info.shape.join()) {
        throw new CheckpointError(path, `source listed ${info.dtype} [${info.shape}] but read ${t.dtype} [${t.shape}]`, info.name);
      }
      sink.write(tensorBytes(t));
    }
    sink.flush();
  });
}
