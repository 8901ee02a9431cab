/**
 * Shared pieces of the checkpoint readers and writers: the reader interface, errors that name the
 * file and tensor, positioned reads from a file descriptor (so a tensor is read without loading the
 * file), and a sequential writer that streams to disk.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { allocate, BYTES_PER_ELEMENT, sizeOf, type DType, type HostTensor, type TypedArray } from '../graph/dtype.ts';

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

/** Positioned reads from an open file; the file is never loaded whole. */
export class RandomAccessFile {
  readonly fd: number;
  readonly size: number;
  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
    }
    this.size = fstatSync(this.fd).size;
  }

  /** Fill `into` from `position`; throws (naming the file and `what`) if the file ends first. */
  readInto(into: Uint8Array, position: number, what = 'data'): Uint8Array {
    if (position < 0 || position + into.length > this.size) {
      throw new CheckpointError(this.path, `truncated: ${what} needs bytes ${position}..${position + into.length} but the file has ${this.size}`);
    }
    let done = 0;
    while (done < into.length) {
      // readSync reads at most 2 GB per call.
      const n = readSync(this.fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
      if (n === 0) throw new CheckpointError(this.path, `unexpected end of file reading ${what}`);
      done += n;
    }
    return into;
  }

  read(position: number, length: number, what?: string): Uint8Array {
    return this.readInto(new Uint8Array(length), position, what);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Sequential writer that streams to disk and tracks the byte position. Small writes (headers,
 * biases) are gathered into one buffer so a checkpoint of many small tensors is not a syscall each.
 */
export class FileSink {
  private readonly fd: number;
  private readonly buffer = new Uint8Array(1 << 20);
  private buffered = 0;
  position = 0;
  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      throw new CheckpointError(path, `cannot create: ${(e as Error).message}`);
    }
  }
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
    } else this.writeAll(bytes);
  }
  private flush(): void {
    this.writeAll(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }
  private writeAll(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
  }
  close(): void {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
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
