/**
 * PyTorch `torch.save` files. The zip format (torch >= 1.6): `<archive>/data.pkl` is a pickle of
 * the state dict whose tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 * ...)` calls over persistent-id storages `('storage', torch.FloatStorage, key, location, numel)`;
 * each storage's bytes are the zip entry `<archive>/data/<key>`. Several tensors may share one
 * storage (tied weights, views) at different offsets and strides. The legacy format (older torch,
 * e.g. many 2019 Chinese BERT releases) holds the same pickle followed by raw storages.
 */
import { BYTES_PER_ELEMENT, sizeOf, type DType, type HostTensor } from '../graph/dtype.ts';
import {
  allocateTensor, checkIndex, checkName, checkTensor, CheckpointError, describe, entriesOf, RandomAccessFile, shapeBytes, table, tensorBytes,
  type CheckpointReader, type TensorInfo, type TensorSource,
} from './io.ts';
import { PickleTruncatedError, PickleWriter, PyCall, PyDict, PyGlobal, unpickle, unpickleAt } from './pickle.ts';
import { ZipReader, ZipWriter } from './zip.ts';

const STORAGE_DTYPES = table<DType>({
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
});
const DTYPE_STORAGES = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;
/** Dicts nested deeper than this are refused (state dicts nest a level or two). */
const MAX_DEPTH = 100;
/** Views of a storage (stride 0) may repeat elements; past this size they must not hold more elements than their storage. */
const MAX_EXPANDED_BYTES = 1 << 26;

/** Numbers as the pickle gave them (checked in `checkView` once the tensor has a name). */
class Storage {
  constructor(readonly key: string, readonly dtype: DType | undefined, readonly typeName: string, readonly numel: unknown) {}
}

class TensorRef {
  constructor(readonly storage: Storage, readonly offset: unknown, readonly shape: unknown, readonly stride: unknown) {}
}

/** A TensorRef whose numbers were checked against its storage. */
interface View { storage: Storage; numel: number; dtype: DType; offset: number; shape: number[]; stride: number[]; last: number }

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) throw new Error('_rebuild_tensor_v2: first argument is not a storage');
  return new TensorRef(storage, offset, size, stride);
}

/** What each torch global turns into; anything else stays an inert PyCall. */
function torchCall(fn: PyGlobal, args: unknown[], nested = false): unknown {
  switch (fn.qualified) {
    case 'collections.OrderedDict': return new PyDict();
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor': return rebuildTensor(args);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': return args[0];
    case 'torch._tensor._rebuild_from_type_v2': { // (func, type, args, state): a Tensor subclass; keep the tensor
      const [func, , inner] = args;
      return func instanceof PyGlobal && Array.isArray(inner) && !nested ? torchCall(func, inner, true) : undefined;
    }
  }
  return undefined;
}

/** torch/serialization.py: the legacy (pre-1.6) format starts with this pickled magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** Element sizes of storage types we cannot return but must skip over in a legacy file. */
const OTHER_STORAGE_SIZES = table<number>({ ShortStorage: 2, ComplexFloatStorage: 8, ComplexDoubleStorage: 16, QInt8Storage: 1, QUInt8Storage: 1, QInt32Storage: 4 });

function storageFromPid(pid: unknown): Storage {
  if (!Array.isArray(pid) || pid[0] !== 'storage') throw new Error(`unknown persistent id ${describe(pid)}`);
  const [, type, key, , numel, viewMetadata] = pid;
  if (viewMetadata !== undefined && viewMetadata !== null) throw new Error('storage views (torch < 0.4 files) are not supported');
  const typeName = type instanceof PyGlobal ? type.name : String(type);
  return new Storage(String(key), STORAGE_DTYPES[typeName], typeName, numel);
}

export class PytorchReader implements CheckpointReader {
  readonly format = 'pytorch' as const;
  /** 'zip' (torch >= 1.6) or 'legacy' (consecutive pickles, then raw storages). */
  readonly layout: 'zip' | 'legacy';
  private readonly file: RandomAccessFile;
  private readonly tensors = new Map<string, View>();
  private readonly unsupported: { name: string; reason: string }[] = [];
  /** Fill `into` with the bytes of storage `key` from byte `start`. */
  private readonly readStorage: (key: string, start: number, into: Uint8Array) => void;
  /** Bytes the file holds for storage `key` (throws if it is not there). */
  private readonly storageBytes: (key: string) => number;

  constructor(readonly path: string) {
    this.file = new RandomAccessFile(path);
    try {
      const head = this.file.read(0, Math.min(4, this.file.size));
      let root: unknown;
      if (head[0] === 0x80) {
        this.layout = 'legacy';
        const offsets = new Map<string, { at: number; bytes: number }>();
        root = this.openLegacy(offsets);
        this.storageBytes = (key) => {
          const at = offsets.get(key);
          if (!at) throw new CheckpointError(path, `storage ${key} is missing from the file`);
          return at.bytes;
        };
        this.readStorage = (key, start, into) => {
          this.file.readInto(into, offsets.get(key)!.at + start, `storage ${key}`);
        };
      } else {
        this.layout = 'zip';
        const zip = new ZipReader(this.file);
        const pkl = [...zip.entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
        if (!pkl) throw new CheckpointError(path, 'zip has no data.pkl: not a torch.save file');
        const prefix = pkl.slice(0, -'data.pkl'.length);
        try {
          root = unpickle(zip.readAll(pkl), { persistentLoad: storageFromPid, call: torchCall });
        } catch (e) {
          if (e instanceof CheckpointError) throw e;
          throw new CheckpointError(path, `cannot unpickle ${pkl}: ${(e as Error).message}`);
        }
        this.readStorage = (key, start, into) => void zip.readRange(`${prefix}data/${key}`, start, into.length, into);
        this.storageBytes = (key) => zip.entry(`${prefix}data/${key}`).size;
      }
      if (!(root instanceof Map)) throw new CheckpointError(path, 'the pickle does not hold a dict of tensors (a state_dict)');
      this.collect(root);
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  /**
   * Legacy layout: pickles of the magic number, the protocol version, sys_info, the object, and the
   * sorted storage keys; then each storage as int64 element count + raw bytes. Returns the object
   * and fills `offsets` with where each storage's bytes start.
   */
  private openLegacy(offsets: Map<string, { at: number; bytes: number }>): unknown {
    const path = this.path;
    for (let chunk = Math.min(this.file.size, 1 << 20); ; chunk = Math.min(this.file.size, chunk * 4)) {
      const buf = this.file.read(0, chunk);
      const storages = new Map<string, Storage>();
      try {
        const noPersistent = { persistentLoad: () => { throw new Error('unexpected persistent id'); } };
        const magic = unpickleAt(buf, 0, noPersistent);
        if (magic.value !== LEGACY_MAGIC) throw new CheckpointError(path, 'not a torch.save file: a pickle without the torch magic number');
        const protocol = unpickleAt(buf, magic.end, noPersistent);
        if (protocol.value !== LEGACY_PROTOCOL) throw new CheckpointError(path, `unsupported legacy torch.save protocol ${String(protocol.value)}`);
        const sysInfo = unpickleAt(buf, protocol.end, noPersistent);
        if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) throw new CheckpointError(path, 'big-endian torch.save files are not supported');
        const root = unpickleAt(buf, sysInfo.end, {
          persistentLoad: (pid) => {
            const st = storageFromPid(pid);
            storages.set(st.key, st);
            return st;
          },
          call: torchCall,
        });
        const keys = unpickleAt(buf, root.end, noPersistent);
        if (!Array.isArray(keys.value)) throw new CheckpointError(path, 'legacy torch.save file: storage key list missing');
        let at = keys.end;
        for (const key of keys.value.map(String)) {
          const st = storages.get(key);
          const es = st?.dtype ? BYTES_PER_ELEMENT[st.dtype] : st && OTHER_STORAGE_SIZES[st.typeName];
          if (!es) throw new CheckpointError(path, `storage ${key} has unknown type ${st?.typeName ?? '(unreferenced)'}, so later storages cannot be located`);
          const header = this.file.read(at, 8, `storage ${key} header`);
          const numel = checkIndex(new DataView(header.buffer, header.byteOffset, 8).getBigInt64(0, true), path, `storage ${key} element count`);
          if (numel !== st!.numel) throw new CheckpointError(path, `storage ${key} holds ${numel} elements, the pickle says ${describe(st!.numel)} (corrupt file)`);
          if (at + 8 + numel * es > this.file.size) throw new CheckpointError(path, `truncated: storages need ${at + 8 + numel * es} bytes, the file has ${this.file.size}`);
          offsets.set(key, { at: at + 8, bytes: numel * es });
          at += 8 + numel * es;
        }
        return root.value;
      } catch (e) {
        if (e instanceof PickleTruncatedError && chunk < this.file.size) continue; // pickles are longer: read more
        if (e instanceof CheckpointError) throw e;
        throw new CheckpointError(path, `cannot unpickle legacy torch.save file: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Flatten nested dicts with '.' (HF state dicts are flat; {'model': {...}} becomes 'model.x').
   * Iterative with a depth limit, and each dict is visited once: the pickle decides the nesting and
   * may share a dict (or make one contain itself).
   */
  private collect(root: Map<unknown, unknown>): void {
    const seen = new Set<Map<unknown, unknown>>([root]);
    const stack = [{ entries: root.entries(), prefix: '' }];
    while (stack.length) {
      const next = stack[stack.length - 1]!.entries.next();
      if (next.done) {
        stack.pop();
        continue;
      }
      const [k, v] = next.value;
      const name = stack[stack.length - 1]!.prefix + String(k);
      if (v instanceof TensorRef) {
        if (!v.storage.dtype) this.unsupported.push({ name, reason: `unsupported storage type ${v.storage.typeName}` });
        else this.tensors.set(name, this.checkView(name, v, v.storage.dtype));
      } else if (v instanceof Map) {
        if (seen.has(v)) throw new CheckpointError(this.path, 'a dict appears twice in the state dict (corrupt pickle)', name);
        if (stack.length >= MAX_DEPTH) throw new CheckpointError(this.path, `dicts nested over ${MAX_DEPTH} deep`, name);
        seen.add(v);
        stack.push({ entries: v.entries(), prefix: name + '.' });
      } else if (v instanceof PyCall) this.unsupported.push({ name, reason: `not a plain tensor (${v.func instanceof PyGlobal ? v.func.qualified : 'unknown object'})` });
    }
  }

  /** Check a view's numbers against its storage and the file before anything is allocated for it. */
  private checkView(name: string, t: TensorRef, dtype: DType): View {
    const path = this.path, es = BYTES_PER_ELEMENT[dtype];
    const numel = checkIndex(t.storage.numel, path, 'storage element count', name);
    const offset = checkIndex(t.offset, path, 'storage offset', name);
    const bytes = shapeBytes(dtype, t.shape, path, name);
    const shape = t.shape as number[];
    if (!Array.isArray(t.stride) || t.stride.length !== shape.length) throw new CheckpointError(path, `stride ${describe(t.stride)} does not match shape [${shape}]`, name);
    const stride = t.stride.map((s) => checkIndex(s, path, 'every stride', name));
    // Last storage element the view touches.
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d]! - 1) * stride[d]!;
    if (bytes > 0 && last >= numel) {
      throw new CheckpointError(path, `view (offset ${offset}, shape [${shape}], stride [${stride}]) reaches outside its storage of ${numel} elements`, name);
    }
    if (bytes > MAX_EXPANDED_BYTES && bytes > numel * es) throw new CheckpointError(path, `expanded view of ${bytes} bytes over a storage of ${numel * es}: refused (re-save it with .contiguous())`, name);
    return { storage: t.storage, numel, dtype, offset, shape, stride, last };
  }

  list(): TensorInfo[] {
    return [...this.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] }));
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  files(): string[] {
    return [this.path];
  }

  read(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) {
      const bad = this.unsupported.find((u) => u.name === name);
      throw new CheckpointError(this.path, bad ? bad.reason : 'no such tensor', name);
    }
    const { dtype, last } = t;
    const es = BYTES_PER_ELEMENT[dtype];
    const n = sizeOf(t.shape);
    if (n === 0) return allocateTensor(dtype, t.shape).tensor;
    let contiguous = true;
    for (let d = t.shape.length - 1, expect = 1; d >= 0; d--) {
      if (t.shape[d] !== 1 && t.stride[d] !== expect) contiguous = false;
      expect *= t.shape[d]!;
    }
    try {
      // The storage must hold what its pickle declares before we allocate for a view of it.
      const available = this.storageBytes(t.storage.key);
      if (t.numel * es > available) throw new CheckpointError(this.path, `storage ${t.storage.key} declares ${t.numel} elements of ${dtype} but the file holds ${available} bytes for it`);
      const { tensor, bytes } = allocateTensor(dtype, t.shape);
      if (contiguous) {
        this.readStorage(t.storage.key, t.offset * es, bytes);
        return tensor;
      }
      // A strided view saved as-is: read the span it touches once, then gather element by element.
      const span = allocateTensor(dtype, [last - t.offset + 1]);
      this.readStorage(t.storage.key, t.offset * es, span.bytes);
      const src = span.tensor.data as unknown as ArrayLike<number> & { [i: number]: number };
      const dst = tensor.data as unknown as { [i: number]: number };
      const index = new Array<number>(t.shape.length).fill(0);
      for (let i = 0, at = 0; i < n; i++) {
        dst[i] = src[at]!;
        // Odometer over the shape, moving `at` by the strides.
        for (let d = index.length - 1; d >= 0; d--) {
          at += t.stride[d]!;
          if (++index[d]! < t.shape[d]!) break;
          at -= t.stride[d]! * t.shape[d]!;
          index[d] = 0;
        }
      }
      return tensor;
    } catch (e) {
      if (e instanceof CheckpointError && e.tensor === undefined) throw new CheckpointError(e.file, e.message.slice(e.file.length + 2), name);
      throw e;
    }
  }

  skipped(): { name: string; reason: string }[] {
    return [...this.unsupported];
  }

  close(): void {
    this.file.close();
  }
}

/**
 * Write a state dict as torch.save does (zip, `archive/data.pkl` + `archive/data/<n>`), one storage
 * per tensor; torch.load reads it (also with weights_only=True). Storages stream to disk as they
 * come; the pickle, which only references them, is written last.
 */
export function writePytorchBin(path: string, tensors: TensorSource): void {
  const zip = new ZipWriter(path);
  const pickle = new PickleWriter();
  pickle.global('collections', 'OrderedDict').op(0x29).op(0x52).mark(); // OrderedDict() then SETITEMS
  const seen = new Set<string>();
  try {
    zip.add('archive/version', [new TextEncoder().encode('3\n')]);
    zip.add('archive/byteorder', [new TextEncoder().encode('little')]);
    let key = 0;
    for (const [name, t] of entriesOf(tensors)) {
      checkTensor(name, t, path);
      checkName(name, path);
      if (seen.has(name)) throw new CheckpointError(path, 'duplicate tensor name', name);
      seen.add(name);
      const storageKey = String(key++);
      zip.add(`archive/data/${storageKey}`, [tensorBytes(t)]);
      const stride: number[] = [];
      for (let d = t.shape.length - 1, s = 1; d >= 0; d--) { stride[d] = s; s *= t.shape[d]!; }
      pickle.str(name).global('torch._utils', '_rebuild_tensor_v2').mark();
      pickle.mark().str('storage').global('torch', DTYPE_STORAGES[t.dtype]).str(storageKey).str('cpu').int(t.data.length).tuple().op(0x51); // BINPERSID
      pickle.int(0).ints(t.shape).ints(stride).op(0x89); // offset, size, stride, requires_grad=False
      pickle.global('collections', 'OrderedDict').op(0x29).op(0x52); // backward_hooks = OrderedDict()
      pickle.tuple().op(0x52); // REDUCE
    }
    pickle.op(0x75); // SETITEMS
    zip.add('archive/data.pkl', [pickle.finish()]);
    zip.finish();
  } catch (e) {
    zip.abort();
    throw e;
  }
}
