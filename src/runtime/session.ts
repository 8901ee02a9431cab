/**
 * Running lowered graphs with ONNX Runtime (onnxruntime-node, or onnxruntime-web in a browser: see
 * backend.ts): a session cache keyed by graph signature, feed validation with errors that name the
 * input, zero-copy feeds, optional preallocated outputs.
 */
import type * as ort from 'onnxruntime-common';
import { mkdirSync, mkdtempSync, rmSync } from '../util/node/fs.ts';
import { tmpdir } from '../util/node/os.ts';
import { join } from '../util/node/path.ts';
import { getBackend, loadedBackend } from './backend.ts';
import { allocate, sizeOf, type DType, type HostTensor, type TypedArray } from '../graph/dtype.ts';
import { Tensor, dimAtoms, evalDim, formatShape } from '../graph/tensor.ts';
import { lower, type IndexRange, type LoweredModel, type LowerOptions, type ValueSpec } from './lower.ts';
import { quantizeKey, quantizeLowered, type QuantizeOptions } from './quantize.ts';

export interface RuntimeOptions {
  /** ORT intra-op threads (default: BERT4TS_THREADS or 2). */
  threads?: number;
  /** Weights at or above this many bytes in total go to an external data file (default 1.5 GB). */
  externalDataThreshold?: number;
  /** Keep ORT's weight prepacking (fast GEMMs, but a second copy of the weights). Default: on below externalDataThreshold (1.5 GB), off above it (the weights are memory-mapped). */
  prepack?: boolean;
  /** ORT graph optimisation level. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's CPU memory arena: fast reuse, but it keeps its high-water mark (off for training graphs). */
  memoryArena?: boolean;
  /** Rewrite weight MatMuls (and optionally embeddings) to int8 before the session is made (see quantize.ts). */
  quantize?: QuantizeOptions;
}

export class FeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedError';
  }
}

export class NonFiniteError extends Error {
  constructor(readonly output: string, message: string) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

export type Feed = HostTensor;
export type Feeds = Record<string, Feed>;

export function defaultThreads(): number {
  const env = Number(globalThis.process?.env.BERT4TS_THREADS);
  return Number.isInteger(env) && env > 0 ? env : 2;
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32', float64: 'float64', float16: 'float16', bfloat16: 'bfloat16' as ort.Tensor.Type, int32: 'int32', int64: 'int64', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

function toOrt(t: HostTensor): ort.Tensor {
  return new (loadedBackend().ort.Tensor)(ORT_TYPE[t.dtype], t.data as any, t.shape);
}

function fromOrt(t: ort.Tensor, dtype: DType): HostTensor {
  return { dtype, shape: [...t.dims], data: t.data as TypedArray };
}

/** Every value of an index feed must be in range: names the input, the first bad value and where it is. */
function checkIndexFeed(name: string, feed: Feed, range: IndexRange): void {
  const data = feed.data;
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if ((v >= 0 && v < range.limit) || v === range.ignore) continue;
    const at: number[] = [];
    for (let k = feed.shape.length - 1, rest = i; k >= 0; k--) { at.unshift(rest % feed.shape[k]!); rest = Math.floor(rest / feed.shape[k]!); }
    const allowed = `0..${range.limit - 1}${range.ignore !== undefined ? ` (or ${range.ignore} to ignore)` : ''}`;
    throw new FeedError(`input '${name}' holds ${v} at [${at.join(', ')}]; values must be in ${allowed}, the ${range.limit} ${range.of}`);
  }
}

/** A compiled graph: one ORT session, its input/output specs and feed checks. */
export class Executable {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly inputs: ValueSpec[],
    readonly outputs: ValueSpec[],
    readonly signature: string,
    private readonly tempDir?: string,
  ) {}

  /** Dropped from the session cache (no longer shared with new compiles of the same graph). */
  evicted = false;

  static async fromLowered(model: LoweredModel, options: RuntimeOptions = {}): Promise<Executable> {
    const signature = model.signature() + `|${options.threads ?? defaultThreads()}|${options.prepack}|${options.optimization}|${options.memoryArena}|${options.externalDataThreshold}|${quantizeKey(options.quantize)}`;
    const cached = sessionCache.get(signature);
    if (cached) {
      sessionCache.delete(signature);
      sessionCache.set(signature, cached); // LRU touch
      return cached;
    }
    const promise = Executable.create(model, signature, options);
    sessionCache.set(signature, promise);
    promise.catch(() => sessionCache.delete(signature));
    // Evicted sessions are not released here: a Trainer, a decoder or a Model may still hold one.
    // Each is released when its Executable is garbage-collected (or by an explicit release()).
    while (sessionCache.size > MAX_CACHED_SESSIONS) {
      const [key, old] = sessionCache.entries().next().value!;
      sessionCache.delete(key);
      old.then((e) => { e.evicted = true; }).catch(() => {});
    }
    return promise;
  }

  private static async create(model: LoweredModel, signature: string, options: RuntimeOptions): Promise<Executable> {
    if (options.quantize) model = quantizeLowered(model, options.quantize);
    const backend = await getBackend();
    // In a browser there are no files to map: up to protobuf's limit (toBytes says so past it) in memory.
    const big = backend.files && model.weightBytes >= (options.externalDataThreshold ?? 1.5e9);
    const prepack = options.prepack ?? !big;
    // ORT fuses weight-only's DequantizeLinear + MatMul into MatMulNBits, by default at accuracy level 4,
    // which quantizes the activations to int8 as well (MLM agreement 98.2% instead of 98.9%, at fp32 speed):
    // level 1 keeps them fp32, as the mode promises.
    const weightOnly = options.quantize?.mode === 'weight-only-int8';
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: options.optimization ?? 'all',
      executionProviders: backend.executionProviders,
      logSeverityLevel: 3,
      enableCpuMemArena: options.memoryArena ?? true,
      enableMemPattern: options.memoryArena ?? true,
      extra: { session: { set_denormal_as_zero: '1', ...(weightOnly ? { qdq_matmulnbits_accuracy_level: '1' } : {}), ...(prepack ? {} : { disable_prepacking: '1' }) } },
    };
    let session: ort.InferenceSession;
    let tempDir: string | undefined;
    try {
      if (big) {
        // Over protobuf's 2 GB limit: write model + external data and let ORT memory-map the weights.
        mkdirSync(join(tmpdir(), 'bert4ts'), { recursive: true });
        tempDir = mkdtempSync(join(tmpdir(), 'bert4ts', 'session-'));
        trackTempDir(tempDir);
        const { modelPath } = model.writeFiles(join(tempDir, 'model.onnx'));
        session = await backend.ort.InferenceSession.create(modelPath, sessionOptions);
      } else {
        session = await backend.ort.InferenceSession.create(model.toBytes(), sessionOptions);
      }
    } catch (e) {
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      throw new Error(`ONNX Runtime could not load the lowered graph: ${(e as Error).message}`);
    }
    const exe = new Executable(session, model.inputs, model.outputs, signature, tempDir);
    finalizer.register(exe, { session, tempDir }, exe);
    return exe;
  }

  /** Check feeds against the input specs; returns the value of every named dim. */
  checkFeeds(feeds: Feeds): Record<string, number> {
    const env: Record<string, number> = {};
    const origin: Record<string, string> = {};
    for (const spec of this.inputs) {
      const f = feeds[spec.name];
      if (!f) throw new FeedError(`missing input '${spec.name}' (${spec.dtype} ${formatShape(spec.shape)}); inputs are: ${this.inputs.map((i) => i.name).join(', ')}`);
      if (f.dtype !== spec.dtype) throw new FeedError(`input '${spec.name}' must be ${spec.dtype}, got ${f.dtype}`);
      if (f.shape.length !== spec.shape.length) throw new FeedError(`input '${spec.name}' must have shape ${formatShape(spec.shape)}, got ${formatShape(f.shape)}`);
      if (f.data.length !== sizeOf(f.shape)) throw new FeedError(`input '${spec.name}' has ${f.data.length} values for shape ${formatShape(f.shape)}`);
      spec.shape.forEach((d, i) => {
        const actual = f.shape[i]!;
        if (typeof d === 'number') {
          if (d !== actual) throw new FeedError(`input '${spec.name}' must have shape ${formatShape(spec.shape)}, got ${formatShape(f.shape)} (dim ${i})`);
        } else if (/^[A-Za-z_]\w*$/.test(d)) {
          if (env[d] === undefined) { env[d] = actual; origin[d] = spec.name; }
          else if (env[d] !== actual) throw new FeedError(`dim '${d}' is ${env[d]} in input '${origin[d]}' but ${actual} in input '${spec.name}'`);
        }
      });
    }
    for (const spec of this.inputs) if (spec.index) checkIndexFeed(spec.name, feeds[spec.name]!, spec.index);
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.some((i) => i.name === name)) throw new FeedError(`unknown input '${name}'; inputs are: ${this.inputs.map((i) => i.name).join(', ')}`);
    }
    // Inputs whose dims are expressions (e.g. 'past+seq') must agree with the names they use.
    for (const spec of this.inputs) spec.shape.forEach((d, i) => {
      if (typeof d === 'string' && !/^[A-Za-z_]\w*$/.test(d) && dimAtoms(d).every((a) => env[a] !== undefined)) {
        const want = evalDim(d, env);
        if (want !== feeds[spec.name]!.shape[i]) throw new FeedError(`input '${spec.name}' dim ${i} must be ${d} = ${want}, got ${feeds[spec.name]!.shape[i]}`);
      }
    });
    return env;
  }

  /**
   * Run once. `into` may hold preallocated host buffers for some outputs (e.g. updated weights in
   * training); ORT writes them directly. `checkFinite` lists outputs that must not hold NaN/Inf.
   */
  async run(feeds: Feeds, options: { into?: Record<string, HostTensor>; checkFinite?: string[]; outputs?: string[] } = {}): Promise<Record<string, HostTensor>> {
    this.checkFeeds(feeds);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const spec of this.inputs) ortFeeds[spec.name] = toOrt(feeds[spec.name]!);
    const wanted = options.outputs ?? this.outputs.map((o) => o.name);
    const fetches: Record<string, ort.Tensor | null> = {};
    // onnxruntime-web ignores preallocated CPU outputs (it returns its own buffers): there, copy after the run.
    const prealloc = loadedBackend().fillsPreallocated;
    for (const name of wanted) fetches[name] = options.into?.[name] && prealloc ? toOrt(options.into[name]!) : null;
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(ortFeeds, fetches);
    } catch (e) {
      throw new Error(`ONNX Runtime failed while running the graph: ${(e as Error).message}`);
    }
    const out: Record<string, HostTensor> = {};
    for (const name of wanted) {
      const spec = this.outputs.find((o) => o.name === name);
      if (!spec) throw new FeedError(`unknown output '${name}'`);
      const into = options.into?.[name];
      if (into && !prealloc) (into.data as Float32Array).set(result[name]!.data as Float32Array);
      out[name] = into ?? fromOrt(result[name]!, spec.dtype);
    }
    for (const name of options.checkFinite ?? []) {
      const d = out[name]!.data;
      for (let i = 0; i < d.length; i++) {
        const v = d[i] as number;
        if (!Number.isFinite(v)) throw new NonFiniteError(name, `output '${name}' is ${v} at index ${i}`);
      }
    }
    return out;
  }

  /** Free the ORT session now (and drop it from the cache). */
  async release(): Promise<void> {
    if (!this.evicted) sessionCache.delete(this.signature);
    this.evicted = true;
    finalizer.unregister(this);
    await this.session.release();
    if (this.tempDir) {
      rmSync(this.tempDir, { recursive: true, force: true });
      tempDirs.delete(this.tempDir);
    }
  }
}

/** Native ORT memory of an Executable nobody holds any more (after eviction from the cache). */
const finalizer = new FinalizationRegistry<{ session: ort.InferenceSession; tempDir?: string }>(({ session, tempDir }) => {
  session.release().catch(() => {});
  if (tempDir) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDirs.delete(tempDir);
  }
});

// External-data files are as big as the model (10 GB for CPM-LM): remove them when the process
// ends, not only on release(), or every run would leave one behind.
const tempDirs = new Set<string>();
function trackTempDir(dir: string): void {
  if (tempDirs.size === 0) {
    process.once('exit', () => { for (const d of tempDirs) rmSync(d, { recursive: true, force: true }); });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
  }
  tempDirs.add(dir);
}

const MAX_CACHED_SESSIONS = Number(globalThis.process?.env.BERT4TS_SESSION_CACHE) || 16;
const sessionCache = new Map<string, Promise<Executable>>();

/** Drop every cached session (frees ORT memory). */
export async function clearSessionCache(): Promise<void> {
  const all = [...sessionCache.values()];
  sessionCache.clear();
  await Promise.all(all.map((p) => p.then((e) => e.release()).catch(() => {})));
}

/** Lower and compile `outputs` in one call. */
export async function compile(outputs: Record<string, Tensor>, lowerOptions: LowerOptions, options: RuntimeOptions = {}): Promise<Executable> {
  return Executable.fromLowered(lower(outputs, lowerOptions), options);
}

/** Host tensor helpers for feeds. */
export function hostTensor(dtype: DType, shape: number[], values?: ArrayLike<number> | ArrayLike<bigint>): HostTensor {
  const data = allocate(dtype, sizeOf(shape));
  if (values) {
    if (values.length !== data.length) throw new FeedError(`${values.length} values for shape ${formatShape(shape)}`);
    if (data instanceof BigInt64Array) for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i] as number);
    else (data as Float32Array).set(values as ArrayLike<number>);
  }
  return { dtype, shape, data };
}
