/**
 * PyTorch `torch.save` files (the zip format, torch >= 1.6): `<archive>/data.pkl` is a pickle of
 * the state dict whose tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 * ...)` calls over persistent-id storages `('storage', torch.FloatStorage, key, location, numel)`;
 * each storage's bytes are the zip entry `<archive>/data/<key>`. Several tensors may share one
 * storage (tied weights, views) at different offsets and strides.
 */
import { BYTES_PER_ELEMENT, sizeOf, type DType, type HostTensor } from '../graph/dtype.ts';
import {
  allocateTensor, checkTensor, CheckpointError, entriesOf, RandomAccessFile, tensorBytes,
  type CheckpointReader, type TensorInfo, type TensorSource,
} from './io.ts';
import { PickleWriter, PyCall, PyDict, PyGlobal, unpickle } from './pickle.ts';
import { ZipReader, ZipWriter } from './zip.ts';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
};
const DTYPE_STORAGES = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([k, v]) => [v, k])) as Record<DType, string>;

class Storage {
  constructor(readonly key: string, readonly dtype: DType | undefined, readonly typeName: string, readonly numel: number) {}
}

class TensorRef {
  constructor(readonly storage: Storage, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

function asInts(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) throw new Error(`${what} is not a tuple of ints`);
  return v as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) throw new Error('_rebuild_tensor_v2: first argument is not a storage');
  return new TensorRef(storage, Number(offset), asInts(size, 'tensor size'), asInts(stride, 'tensor stride'));
}

/** What each torch global turns into; anything else stays an inert PyCall. */
function torchCall(fn: PyGlobal, args: unknown[]): unknown {
  switch (fn.qualified) {
    case 'collections.OrderedDict': return new PyDict();
    case 'torch._utils._rebuild_tensor_v2':
    case 'torch._utils._rebuild_tensor': return rebuildTensor(args);
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': return args[0];
    case 'torch._tensor._rebuild_from_type_v2': { // (func, type, args, state): a Tensor subclass; keep the tensor
      const [func, , inner] = args;
      return func instanceof PyGlobal ? torchCall(func, inner as unknown[]) : undefined;
    }
  }
  return undefined;
}

function isLegacyTorchFile(head: Uint8Array): boolean {
  return head[0] === 0x80 && head[1] !== undefined && head[1] <= 5;
}

export class PytorchReader implements CheckpointReader {
  readonly format = 'pytorch' as const;
  private readonly file: RandomAccessFile;
  private readonly zip: ZipReader;
  private readonly prefix: string;
  private readonly tensors = new Map<string, TensorRef>();
  private readonly unsupported: { name: string; reason: string }[] = [];

  constructor(readonly path: string) {
    this.file = new RandomAccessFile(path);
    try {
      const head = this.file.read(0, Math.min(4, this.file.size));
      if (isLegacyTorchFile(head)) {
        throw new CheckpointError(path, 'legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a recent torch (torch.save(torch.load(f), f2)) or convert it to safetensors');
      }
      this.zip = new ZipReader(this.file);
      const pkl = [...this.zip.entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
      if (!pkl) throw new CheckpointError(path, 'zip has no data.pkl: not a torch.save file');
      this.prefix = pkl.slice(0, -'data.pkl'.length);
      let root: unknown;
      try {
        root = unpickle(this.zip.readAll(pkl), {
          persistentLoad: (pid) => {
            if (!Array.isArray(pid) || pid[0] !== 'storage') throw new Error(`unknown persistent id ${JSON.stringify(pid)}`);
            const [, type, key, , numel] = pid;
            const typeName = type instanceof PyGlobal ? type.name : String(type);
            return new Storage(String(key), STORAGE_DTYPES[typeName], typeName, Number(numel));
          },
          call: torchCall,
        });
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        throw new CheckpointError(path, `cannot unpickle ${pkl}: ${(e as Error).message}`);
      }
      this.collect(root, '');
      if (!(root instanceof Map)) throw new CheckpointError(path, 'data.pkl does not hold a dict of tensors (a state_dict)');
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  /** Flatten nested dicts with '.' (HF state dicts are flat; {'model': {...}} becomes 'model.x'). */
  private collect(obj: unknown, prefix: string): void {
    if (!(obj instanceof Map)) return;
    for (const [k, v] of obj) {
      const name = prefix + String(k);
      if (v instanceof TensorRef) {
        const st = v.storage;
        if (!st.dtype) this.unsupported.push({ name, reason: `unsupported storage type ${st.typeName}` });
        else this.tensors.set(name, v);
      } else if (v instanceof Map) this.collect(v, name + '.');
      else if (v instanceof PyCall) this.unsupported.push({ name, reason: `not a plain tensor (${v.func instanceof PyGlobal ? v.func.qualified : 'unknown object'})` });
    }
  }

  list(): TensorInfo[] {
    return [...this.tensors].map(([name, t]) => ({ name, dtype: t.storage.dtype!, shape: [...t.shape] }));
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  read(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) {
      const bad = this.unsupported.find((u) => u.name === name);
      throw new CheckpointError(this.path, bad ? bad.reason : 'no such tensor', name);
    }
    const dtype = t.storage.dtype!;
    const es = BYTES_PER_ELEMENT[dtype];
    const entryName = `${this.prefix}data/${t.storage.key}`;
    const n = sizeOf(t.shape);
    const { tensor, bytes } = allocateTensor(dtype, t.shape);
    if (n === 0) return tensor;
    // Span of storage elements this view touches.
    let last = t.offset;
    for (let d = 0; d < t.shape.length; d++) last += (t.shape[d]! - 1) * t.stride[d]!;
    if (t.offset < 0 || t.stride.some((s) => s < 0) || last >= t.storage.numel) {
      throw new CheckpointError(this.path, `view (offset ${t.offset}, shape [${t.shape}], stride [${t.stride}]) reaches outside its storage of ${t.storage.numel} elements`, name);
    }
    let contiguous = true;
    for (let d = t.shape.length - 1, expect = 1; d >= 0; d--) {
      if (t.shape[d] !== 1 && t.stride[d] !== expect) contiguous = false;
      expect *= t.shape[d]!;
    }
    try {
      if (contiguous) {
        this.zip.readRange(entryName, t.offset * es, n * es, bytes);
        return tensor;
      }
      // A strided view saved as-is: read the span once, then gather element by element.
      const span = this.zip.readRange(entryName, t.offset * es, (last - t.offset + 1) * es);
      const index = new Array(t.shape.length).fill(0);
      for (let i = 0; i < n; i++) {
        let src = 0;
        for (let d = 0; d < index.length; d++) src += index[d] * t.stride[d]!;
        bytes.set(span.subarray(src * es, src * es + es), i * es);
        for (let d = index.length - 1; d >= 0; d--) {
          if (++index[d] < t.shape[d]!) break;
          index[d] = 0;
        }
      }
      return tensor;
    } catch (e) {
      if (e instanceof CheckpointError) throw new CheckpointError(e.file, e.message.slice(e.file.length + 2), name);
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
  } catch (e) {
    zip.abort();
    throw e;
  }
  zip.finish();
}
