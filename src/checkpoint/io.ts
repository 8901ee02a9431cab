/**
 * Shared pieces of the checkpoint readers and writers: the reader interface, errors that name the
 * file and tensor, positioned reads from a file descriptor (so a tensor is read without loading the
 * file), and a sequential writer that streams to disk.
 */
import { closeSync, fstatSync, readSync } from '../util/node/fs.ts';
import { allocate, BYTES_PER_ELEMENT, sizeOf, type DType, type HostTensor, type TypedArray } from '../graph/dtype.ts';
import { openRegularFile, type AtomicFile } from '../util/files.ts';

export type CheckpointFormat = 'safetensors' | 'tf' | 'pytorch' | 'onnx';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface CheckpointReader {
  readonly path: string;
  readonly format: CheckpointFormat;
  /** Every tensor of a supported dtype, in file order. */
  list(): TensorInfo[];
  has(name: string): boolean;
  /** Every file this reader reads (so a writer can refuse to overwrite one of them). */
  files(): string[];
  /** Reads just that tensor from disk. */
  read(name: string): HostTensor;
  /** Tensors present in the file but not readable as a HostTensor (string or unsupported dtypes), with the reason. */
  skipped(): { name: string; reason: string }[];
  close(): void;
}

/** Anything a writer can take: name/tensor pairs, or a reader-like source read one tensor at a time (streams). */
export type TensorSource = Iterable<[string, HostTensor]> | { list(): TensorInfo[]; read(name: string): HostTensor };

export function isReaderSource(s: TensorSource): s is { list(): TensorInfo[]; read(name: string): HostTensor } {
  return typeof (s as { list?: unknown }).list === 'function' && typeof (s as { read?: unknown }).read === 'function';
}

/** Bad or unreadable checkpoint: says which file, and which tensor when one is involved. */
export class CheckpointError extends Error {
  constructor(readonly file: string, message: string, readonly tensor?: string) {
    super(`${file}${tensor !== undefined ? `: tensor '${tensor}'` : ''}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** A file already in memory (fetched, or from a Blob/File in a browser): what the readers take instead of a path. */
export interface NamedBytes {
  /** Shown in errors (a file name or URL). */
  name: string;
  bytes: Uint8Array;
}

export const isNamedBytes = (s: unknown): s is NamedBytes =>
  typeof s === 'object' && s !== null && typeof (s as NamedBytes).name === 'string' && (s as NamedBytes).bytes instanceof Uint8Array;

/** A path (read from disk, Node) or bytes in memory (anywhere), with the same positioned-read interface. */
export function openRandomAccess(source: string | NamedBytes): RandomAccess {
  return typeof source === 'string' ? new RandomAccessFile(source) : new RandomAccessBytes(source);
}

/** Positioned reads with range checks that name the file. */
export abstract class RandomAccess {
  abstract readonly path: string;
  abstract readonly size: number;

  /** Throws unless bytes [position, position + length) lie in the file: call before allocating `length` bytes. */
  checkRange(position: number, length: number, what = 'data'): void {
    if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > this.size) {
      throw new CheckpointError(this.path, `truncated or corrupt: ${what} needs bytes ${position}..${position + length} but the file has ${this.size}`);
    }
  }

  /** Fill `into` from `position`; throws (naming the file and `what`) if the file ends first. */
  abstract readInto(into: Uint8Array, position: number, what?: string): Uint8Array;

  read(position: number, length: number, what?: string): Uint8Array {
    this.checkRange(position, length, what);
    return this.readInto(new Uint8Array(length), position, what);
  }

  abstract close(): void;
}

/** Positioned reads from an open regular file (a FIFO, device or directory is a FileError); the file is never loaded whole. */
export class RandomAccessFile extends RandomAccess {
  readonly fd: number;
  readonly size: number;
  constructor(readonly path: string) {
    super();
    this.fd = openRegularFile(path);
    this.size = fstatSync(this.fd).size;
  }

  readInto(into: Uint8Array, position: number, what = 'data'): Uint8Array {
    this.checkRange(position, into.length, what);
    let done = 0;
    while (done < into.length) {
      // readSync reads at most 2 GB per call.
      const n = readSync(this.fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
      if (n === 0) throw new CheckpointError(this.path, `unexpected end of file reading ${what}`);
      done += n;
    }
    return into;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The same reads over bytes in memory (subarrays share them: a tensor read is a copy, as from disk). */
export class RandomAccessBytes extends RandomAccess {
  readonly path: string;
  readonly size: number;
  private readonly bytes: Uint8Array;
  constructor(source: NamedBytes) {
    super();
    this.path = source.name;
    this.bytes = source.bytes;
    this.size = source.bytes.length;
  }

  readInto(into: Uint8Array, position: number, what = 'data'): Uint8Array {
    this.checkRange(position, into.length, what);
    into.set(this.bytes.subarray(position, position + into.length));
    return into;
  }

  close(): void {}
}

/** A whole small file (an index, JSON, a state file), refused over `limit` bytes. */
export function readSmallFile(path: string, limit: number, what: string): Uint8Array {
  const f = new RandomAccessFile(path);
  try {
    if (f.size > limit) throw new CheckpointError(path, `${what} of ${f.size} bytes is over the ${limit}-byte limit`);
    return f.read(0, f.size, what);
  } finally {
    f.close();
  }
}

/**
 * Sequential writer that streams to an atomic output's temp file and tracks the byte position.
 * Small writes (headers, biases) are gathered into one buffer so a checkpoint of many small
 * tensors is not a syscall each. `flush()` before the file is committed.
 */
export class FileSink {
  private readonly buffer = new Uint8Array(1 << 20);
  private buffered = 0;
  position = 0;
  constructor(private readonly file: AtomicFile) {}
  write(bytes: Uint8Array): void {
    this.position += bytes.length;
    if (this.buffered + bytes.length <= this.buffer.length) {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
      return;
    }
    this.flush();
    if (bytes.length < this.buffer.length / 2) {
      this.buffer.set(bytes);
      this.buffered = bytes.length;
    } else this.file.write(bytes);
  }
  flush(): void {
    this.file.write(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }
}

/** Largest rank accepted from a file (TF allows 254; real checkpoints stay far below). */
const MAX_RANK = 64;

/** A count, offset or size read from a file: must be a non-negative safe integer. */
export function checkIndex(v: unknown, file: string, what: string, tensor?: string): number {
  if (typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER)) v = Number(v);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CheckpointError(file, `${what} must be a non-negative integer, got ${describe(v)}`, tensor);
  return v;
}

/**
 * Validate a shape read from a file and return its size in bytes, so the caller can compare it
 * with what the file holds before allocating. Refuses negative, fractional or huge dims, absurd
 * ranks, and sizes past 2^53.
 */
export function shapeBytes(dtype: DType, shape: unknown, file: string, tensor?: string): number {
  if (!Array.isArray(shape) || shape.length > MAX_RANK) throw new CheckpointError(file, `shape must be a list of at most ${MAX_RANK} dims, got ${describe(shape)}`, tensor);
  let bytes = BYTES_PER_ELEMENT[dtype];
  for (const d of shape) checkIndex(d, file, 'every dim of the shape', tensor);
  if (shape.includes(0)) return 0;
  for (const d of shape) {
    bytes *= d as number;
    if (bytes > Number.MAX_SAFE_INTEGER) throw new CheckpointError(file, `shape [${shape}] of ${dtype} is too large (over 2^53 bytes)`, tensor);
  }
  return bytes;
}

/** A short description of a value read from a file, for errors (no recursion, no huge strings). */
export function describe(v: unknown): string {
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (v === null || typeof v !== 'object') return String(v);
  return `an object (${v.constructor?.name ?? 'no prototype'})`;
}

/** A lookup table with no prototype, so names read from a file ('constructor', '__proto__') find nothing inherited. */
export function table<V>(entries: Record<string, V>): Record<string, V | undefined> {
  return Object.assign(Object.create(null) as Record<string, V>, entries);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Names a writer accepts: strings of valid Unicode, so they encode to UTF-8 and read back equal. */
export function checkName(name: string, file: string): void {
  if (typeof name !== 'string' || LONE_SURROGATE.test(name)) throw new CheckpointError(file, 'tensor names must be strings of valid Unicode (no lone surrogates)', String(name));
}

/** The bytes of a tensor's storage (a view, no copy). Little-endian hosts only, as every supported platform is. */
export function tensorBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Allocate a tensor of `dtype`/`shape` and return it with a byte view to read into. */
export function allocateTensor(dtype: DType, shape: number[]): { tensor: HostTensor; bytes: Uint8Array } {
  const data: TypedArray = allocate(dtype, sizeOf(shape));
  return { tensor: { dtype, shape: [...shape], data }, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function byteSize(dtype: DType, shape: readonly number[]): number {
  return BYTES_PER_ELEMENT[dtype] * sizeOf(shape);
}

/** Check a host tensor is self-consistent before writing it: data length must match the shape. */
export function checkTensor(name: string, t: HostTensor, file: string): void {
  const n = sizeOf(t.shape);
  if (t.data.length !== n || t.data.BYTES_PER_ELEMENT !== BYTES_PER_ELEMENT[t.dtype]) {
    throw new CheckpointError(file, `shape [${t.shape}] (${n} elements of ${t.dtype}) does not match its data (${t.data.length} elements of ${t.data.BYTES_PER_ELEMENT} bytes)`, name);
  }
}

/** Iterate a TensorSource as [name, tensor] pairs, reading lazily from reader-like sources. */
export function* entriesOf(source: TensorSource): Generator<[string, HostTensor]> {
  if (isReaderSource(source)) for (const info of source.list()) yield [info.name, source.read(info.name)];
  else yield* source;
}
