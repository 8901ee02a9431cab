/**
 * The runtime-backend seam: which ONNX Runtime runs our lowered graphs. Everything above sees only
 * `Executable` (session.ts); this module picks and configures the ORT package.
 *
 *   Node      onnxruntime-node (native CPU kernels; sessions over 1.5 GB load from temp files that ORT
 *             memory-maps).
 *   browser   onnxruntime-web: WebGPU where the browser has it (`navigator.gpu`), WebAssembly as the
 *             fallback (ORT assigns each node to the first provider that has a kernel for it);
 *             multi-threaded WebAssembly when the page is cross-origin isolated (SharedArrayBuffer).
 *
 * The package is chosen by the `#ort` subpath import in package.json ("browser" -> onnxruntime-web,
 * "node" -> onnxruntime-node), so Node and bundlers resolve it by their own conditions and no browser
 * bundle ever sees onnxruntime-node. `setBackend` overrides the choice (e.g. an ORT from a CDN, or
 * onnxruntime-web in Node for a test).
 */
import type { Env, InferenceSession, Tensor } from 'onnxruntime-common';
import { isNode } from '../util/node/builtin.ts';

/** The part of the onnxruntime-{node,web} module we use (both re-export onnxruntime-common's API). */
export interface OrtModule {
  InferenceSession: typeof InferenceSession;
  Tensor: typeof Tensor;
  env: Env;
}

export interface Backend {
  /** 'onnxruntime-node' or 'onnxruntime-web'. */
  readonly name: string;
  readonly ort: OrtModule;
  /** Execution providers in order of preference (ORT falls back along the list per node). */
  readonly executionProviders: InferenceSession.SessionOptions['executionProviders'];
  /** Sessions can be created from a model file on disk (Node): the path for models over 2 GB. */
  readonly files: boolean;
  /** ORT writes outputs into the preallocated tensors given as fetches (Node); otherwise they are copied there. */
  readonly fillsPreallocated: boolean;
}

export interface WebBackendOptions {
  /** Default: ['webgpu', 'wasm'] when `navigator.gpu` exists, else ['wasm']. */
  executionProviders?: string[];
  /** WebAssembly threads. Default: up to 4 when `crossOriginIsolated`, else 1 (threads need SharedArrayBuffer). */
  numThreads?: number;
  /** Where onnxruntime-web's .wasm/.mjs files are served from (a URL prefix); default: beside its script. */
  wasmPaths?: string;
}

let current: Promise<Backend> | undefined;
let resolved: Backend | undefined;
let webDefaults: WebBackendOptions = {};

/**
 * Options for the default onnxruntime-web backend (providers, threads, where its .wasm files are),
 * applied when it is first loaded: call before the first model runs.
 */
export function configureWebBackend(options: WebBackendOptions): void {
  webDefaults = { ...options };
  if (resolved?.name === 'onnxruntime-web') {
    resolved = webBackend(resolved.ort, webDefaults); // ORT's env settings apply to sessions made from now on
    current = Promise.resolve(resolved);
  }
}

/** Use this ORT module (or backend) from now on; sessions already created keep theirs. */
export function setBackend(backend: Backend | OrtModule, options: WebBackendOptions = {}): void {
  const b = 'ort' in backend ? backend : isNode() && !options.executionProviders ? nodeBackend(backend) : webBackend(backend, options);
  resolved = b;
  current = Promise.resolve(b);
}

/** The backend, loading the default ORT package for this environment on first use. */
export function getBackend(): Promise<Backend> {
  current ??= loadDefault().then((b) => (resolved = b));
  return current;
}

/** The backend once loaded (every Executable exists only after `getBackend()` resolved). */
export function loadedBackend(): Backend {
  if (!resolved) throw new Error('internal: ONNX Runtime backend used before it was loaded');
  return resolved;
}

let preloadedWeb: OrtModule | undefined;

/**
 * The browser entry's onnxruntime-web, imported statically there: its WebAssembly threads are workers
 * that load the page's bundle again and must find ORT initialised at load (a lazily imported ORT
 * never starts them, and the first session waits forever).
 */
export function useWebOrt(ort: OrtModule): void {
  preloadedWeb = ort;
}

async function loadDefault(): Promise<Backend> {
  if (preloadedWeb) return webBackend(preloadedWeb, webDefaults);
  let ort: OrtModule;
  try {
    ort = (await import('#ort')) as unknown as OrtModule;
  } catch (e) {
    const which = isNode() ? 'onnxruntime-node' : 'onnxruntime-web';
    throw new Error(`cannot load ${which} (${(e as Error).message}). It is an ${isNode() ? 'optional ' : ''}dependency of bert4ts: npm install ${which}${isNode() ? ' (with ONNXRUNTIME_NODE_INSTALL=skip if its install script cannot download CUDA files)' : ''}`);
  }
  return isNode() ? nodeBackend(ort) : webBackend(ort, webDefaults);
}

function nodeBackend(ort: OrtModule): Backend {
  optOutOfOrtTelemetry();
  return { name: 'onnxruntime-node', ort, executionProviders: ['cpu'], files: true, fillsPreallocated: true };
}

/**
 * onnxruntime-node 1.30's Linux build starts Microsoft's 1DS telemetry client with the first session:
 * it tries HTTPS uploads and leaves an empty /tmp/mat-debug-<pid>.log behind in every process. Off
 * unless the user chose (the variable is read when the first session is created; "0" or "false" keep
 * it on).
 */
function optOutOfOrtTelemetry(): void {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (env && env.ORT_DISABLE_TELEMETRY === undefined) env.ORT_DISABLE_TELEMETRY = '1';
}

/** onnxruntime-web configured for this page: WebGPU if present, threads if cross-origin isolated. */
export function webBackend(ort: OrtModule, options: WebBackendOptions = {}): Backend {
  const g = globalThis as { navigator?: { gpu?: unknown; hardwareConcurrency?: number }; crossOriginIsolated?: boolean };
  const providers = options.executionProviders ?? (g.navigator?.gpu ? ['webgpu', 'wasm'] : ['wasm']);
  const threads = options.numThreads ?? (g.crossOriginIsolated ? Math.max(1, Math.min(4, g.navigator?.hardwareConcurrency ?? 1)) : 1);
  ort.env.wasm.numThreads = threads;
  if (options.wasmPaths) ort.env.wasm.wasmPaths = options.wasmPaths;
  return { name: 'onnxruntime-web', ort, executionProviders: providers, files: false, fillsPreallocated: false };
}
