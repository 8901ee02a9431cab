/**
 * ONNX initializers: the weights of a `.onnx` ModelProto (graph = field 7, initializer = field 5 of
 * GraphProto, each a TensorProto). The file is walked on disk: small fields are decoded, tensor
 * payloads (raw_data, float_data, ...) are only located, then read when asked for. External data
 * (`data_location: EXTERNAL`, `location`/`offset`/`length`) is read from the file next to the model.
 */
import { dirname, join } from '../util/node/path.ts';
import { FileError } from '../util/files.ts';
import { BYTES_PER_ELEMENT, sizeOf, type DType, type HostTensor } from '../graph/dtype.ts';
import { allocateTensor, checkIndex, CheckpointError, openRandomAccess, RandomAccess, RandomAccessFile, shapeBytes, type CheckpointReader, type NamedBytes, type TensorInfo } from './io.ts';
import { ProtoReader, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './protobuf.ts';

/** onnx.proto TensorProto.DataType codes we map to host dtypes. */
const ONNX_DTYPES: Record<number, DType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16' };
const ONNX_NAMES: Record<number, string> = { 4: 'uint16', 5: 'int16', 8: 'string', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128' };

type Span = { offset: number; length: number };

interface Initializer {
  name: string;
  dtype: DType;
  shape: number[];
  /** Where the values are: in the model file (field number + span) or in an external file. */
  field?: number;
  span?: Span;
  external?: { location: string; offset: number; length?: number };
}

/** Reads protobuf fields straight from a file through a small window. */
class DiskProto {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;
  constructor(private readonly file: RandomAccess, public pos: number, readonly end: number) {}

  private byte(): number {
    if (this.pos >= this.end) throw new CheckpointError(this.file.path, `truncated protobuf at byte ${this.pos}`);
    if (this.pos < this.windowStart || this.pos >= this.windowStart + this.window.length) {
      this.windowStart = this.pos;
      this.window = this.file.read(this.pos, Math.min(65536, this.end - this.pos));
    }
    return this.window[this.pos++ - this.windowStart]!;
  }

  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = this.byte();
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    throw new CheckpointError(this.file.path, `bad varint at byte ${this.pos}`);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Next field: number, wire type, and for length-delimited fields the span (not read). */
  next(): { field: number; wire: number; span?: Span; value?: number } {
    const tag = this.varint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    if (wire === WIRE_VARINT) return { field, wire, value: this.varint() };
    if (wire === WIRE_LEN) {
      const length = this.varint();
      const span = { offset: this.pos, length };
      if (this.pos + length > this.end) throw new CheckpointError(this.file.path, `truncated: field ${field} of ${length} bytes at ${this.pos} runs past the end (${this.end})`);
      this.pos += length;
      return { field, wire, span };
    }
    const width = wire === WIRE_I64 ? 8 : wire === WIRE_I32 ? 4 : -1;
    if (width < 0) throw new CheckpointError(this.file.path, `unsupported protobuf wire type ${wire} at byte ${this.pos}`);
    const span = { offset: this.pos, length: width };
    this.pos += width;
    return { field, wire, span };
  }
}

export class OnnxReader implements CheckpointReader {
  readonly format = 'onnx' as const;
  private readonly file: RandomAccess;
  private readonly initializers = new Map<string, Initializer>();
  private readonly unsupported: { name: string; reason: string }[] = [];
  private readonly externalFiles = new Map<string, RandomAccessFile>();

  readonly path: string;
  private readonly inMemory: boolean;

  /** A file path (Node; external data is read beside it), or the model's bytes with a name for errors (external data refused). */
  constructor(source: string | NamedBytes) {
    const path = (this.path = typeof source === 'string' ? source : source.name);
    this.inMemory = typeof source !== 'string';
    this.file = openRandomAccess(source);
    try {
      const model = new DiskProto(this.file, 0, this.file.size);
      let graphs = 0;
      while (!model.done) {
        const f = model.next();
        if (f.field === 7 && f.span) {
          graphs++;
          const graph = new DiskProto(this.file, f.span.offset, f.span.offset + f.span.length);
          while (!graph.done) {
            const g = graph.next();
            if (g.field === 5 && g.span) this.parseInitializer(g.span);
            else if (g.field === 15 && g.span) this.unsupported.push({ name: `sparse_initializer@${g.span.offset}`, reason: 'sparse initializers are not supported' });
          }
        }
      }
      if (!graphs) throw new CheckpointError(path, 'not an ONNX model: no graph');
    } catch (e) {
      this.close();
      if (e instanceof CheckpointError || e instanceof FileError) throw e;
      throw new CheckpointError(path, `not a readable ONNX model: ${(e as Error).message}`);
    }
  }

  private small(span: Span): Uint8Array {
    if (span.length > 1 << 20) throw new CheckpointError(this.path, `unexpectedly large metadata field (${span.length} bytes)`);
    return this.file.read(span.offset, span.length);
  }

  private parseInitializer(span: Span): void {
    const t = new DiskProto(this.file, span.offset, span.offset + span.length);
    let name = '', dataType = 0, dataLocation = 0, segmented = false;
    const dims: number[] = [];
    const external: Record<string, string> = Object.create(null); // keys come from the file
    let data: { field: number; span: Span } | undefined;
    while (!t.done) {
      const f = t.next();
      switch (f.field) {
        case 1: // dims: repeated int64, unpacked in proto2 (but accept packed)
          if (f.wire === WIRE_VARINT) dims.push(f.value!);
          else { const r = new ProtoReader(this.small(f.span!)); while (!r.done) dims.push(r.varint()); }
          break;
        case 2: dataType = f.value!; break;
        case 3: segmented = true; break;
        case 8: name = new TextDecoder().decode(this.small(f.span!)); break;
        case 13: {
          const r = new ProtoReader(this.small(f.span!));
          let key = '', value = '';
          while (!r.done) {
            const [k, w] = r.tag();
            if (k === 1) key = r.string(); else if (k === 2) value = r.string(); else r.skip(w);
          }
          external[key] = value;
          break;
        }
        case 14: dataLocation = f.value!; break;
        case 4: case 5: case 7: case 9: case 10: case 11:
          // onnx.proto declares the repeated value fields [packed = true]: one span each.
          if (f.wire !== WIRE_LEN) throw new CheckpointError(this.path, `unpacked tensor data (field ${f.field}) is not supported`, name || undefined);
          if (data) throw new CheckpointError(this.path, `initializer has data in more than one field`, name || undefined);
          data = { field: f.field, span: f.span! };
          break;
      }
    }
    const dtype = ONNX_DTYPES[dataType];
    if (!dtype) return void this.unsupported.push({ name, reason: `unsupported ONNX data type ${ONNX_NAMES[dataType] ?? dataType}` });
    if (segmented) return void this.unsupported.push({ name, reason: 'segmented tensors are not supported' });
    shapeBytes(dtype, dims, this.path, name);
    const init: Initializer = { name, dtype, shape: dims };
    if (dataLocation === 1) {
      if (!external.location) throw new CheckpointError(this.path, 'external data without a location', name);
      const number = (key: string) => (external[key] === undefined ? undefined : checkIndex(/^\d+$/.test(external[key]!) ? Number(external[key]) : external[key], this.path, `external data ${key}`, name));
      init.external = { location: external.location, offset: number('offset') ?? 0, length: number('length') };
    } else if (data) Object.assign(init, data);
    else if (sizeOf(dims) !== 0) throw new CheckpointError(this.path, `initializer has shape [${dims}] but no data`, name);
    this.initializers.set(name, init);
  }

  list(): TensorInfo[] {
    return [...this.initializers.values()].map(({ name, dtype, shape }) => ({ name, dtype, shape: [...shape] }));
  }

  has(name: string): boolean {
    return this.initializers.has(name);
  }

  files(): string[] {
    const external = new Set<string>();
    for (const i of this.initializers.values()) if (i.external) external.add(join(dirname(this.path), i.external.location));
    return [this.path, ...external];
  }

  read(name: string): HostTensor {
    const init = this.initializers.get(name);
    if (!init) {
      const bad = this.unsupported.find((u) => u.name === name);
      throw new CheckpointError(this.path, bad ? bad.reason : 'no such initializer', name);
    }
    const n = sizeOf(init.shape);
    const nbytes = n * BYTES_PER_ELEMENT[init.dtype]; // checked at open
    // Every size is checked against the bytes the file holds before the tensor is allocated.
    if (init.external) {
      const file = this.external(init.external.location, name);
      const length = init.external.length ?? nbytes;
      if (length !== nbytes) throw new CheckpointError(file.path, `external data length ${length} does not match shape [${init.shape}] of ${init.dtype} (${nbytes} bytes)`, name);
      file.checkRange(init.external.offset, nbytes, `initializer '${name}'`);
      const { tensor, bytes } = allocateTensor(init.dtype, init.shape);
      file.readInto(bytes, init.external.offset, `initializer '${name}'`);
      return tensor;
    }
    if (!init.span) return allocateTensor(init.dtype, init.shape).tensor; // empty, checked at open
    const field = init.field!;
    const packed = field === 9 || field === 4 || field === 10;
    // Raw values have exactly nbytes; varints take at least a byte each.
    if (packed ? init.span.length !== nbytes : init.span.length < n) {
      throw new CheckpointError(this.path, `has ${init.span.length} data bytes, shape [${init.shape}] of ${init.dtype} needs ${packed ? nbytes : `at least ${n}`}`, name);
    }
    const raw = this.file.read(init.span.offset, init.span.length, `initializer '${name}'`);
    const { tensor, bytes } = allocateTensor(init.dtype, init.shape);
    if (packed) {
      // raw_data, or packed float_data / double_data: already little-endian values of the right width
      // (float_data/double_data are used only for float32/float64).
      bytes.set(raw);
      return tensor;
    }
    // int32_data / int64_data / uint64_data: varints, one per element.
    const r = new ProtoReader(raw);
    const out = tensor.data;
    let i = 0;
    try {
      for (; !r.done && i < n; i++) {
        if (out instanceof BigInt64Array) out[i] = r.varintBig();
        else out[i] = r.int32();
      }
    } catch (e) {
      throw new CheckpointError(this.path, `corrupt tensor data: ${(e as Error).message}`, name);
    }
    if (i !== n || !r.done) throw new CheckpointError(this.path, `data holds a different number of values than shape [${init.shape}] needs (${n})`, name);
    return tensor;
  }

  private external(location: string, tensor: string): RandomAccessFile {
    let f = this.externalFiles.get(location);
    if (!f) {
      if (this.inMemory) throw new CheckpointError(this.path, `the tensor's data is in an external file ('${location}'), which a model given as bytes cannot reach: export it with all weights inline (externalThreshold: Infinity)`, tensor);
      if (location.split(/[\\/]/).includes('..')) throw new CheckpointError(this.path, `external data location '${location}' leaves the model directory`, tensor);
      const path = join(dirname(this.path), location);
      try {
        f = new RandomAccessFile(path);
      } catch (e) {
        throw new CheckpointError(path, `missing external data file for the model ${this.path} (${(e as Error).message})`, tensor);
      }
      this.externalFiles.set(location, f);
    }
    return f;
  }

  skipped(): { name: string; reason: string }[] {
    return [...this.unsupported];
  }

  close(): void {
    this.file.close();
    for (const f of this.externalFiles.values()) f.close();
    this.externalFiles.clear();
  }
}
