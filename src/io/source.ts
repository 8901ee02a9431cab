/**
 * File sources: model files that are not (or not only) paths on this machine's disk.
 *
 *   fileSource('https://host/models/chinese-small/')   fetched by name; responses kept in the Cache API
 *   fileSource(input.files)                            the Files of <input type=file multiple> / a drop
 *   fileSource({ 'config.json': blob, ... })           bytes, Blobs or Files by name
 *   fileSource('/path/to/dir')                         a directory on disk (Node)
 *
 * and the loaders over them, the same formats the path-based loaders read:
 *   loadModel(source)              a directory `Model.save` wrote (config.json + model.safetensors + tokenizer)
 *   loadTokenizerFrom(source)      what loadTokenizer(dir) finds (vocab.txt, *.model, BPE pairs, tokenizer.json)
 *   readSafetensors(file), readOnnx(file)    checkpoint readers over one file's bytes
 * Everything here runs in a browser; only a path source needs Node.
 */
import { OnnxReader } from '../checkpoint/onnx.ts';
import { SafetensorsReader } from '../checkpoint/safetensors.ts';
import { buildModel, type BuildModelOptions, type Model } from '../models/build.ts';
import { ConfigError } from '../models/config.ts';
import { splitSavedSection, WEIGHTS_FILE } from '../models/save.ts';
import { loadTokenizerFiles, TOKENIZER_FILE_NAMES, type LoadOptions, type TokenizerFiles } from '../tokenizers/load.ts';
import type { Tokenizer } from '../tokenizers/types.ts';
import { existsSync, readdirSync, readFileSync, statSync } from '../util/node/fs.ts';
import { join } from '../util/node/path.ts';
import { isNode } from '../util/node/builtin.ts';

/** One file's contents in memory. */
export type FileData = ArrayBuffer | ArrayBufferView | Blob;
/** One file: its contents, or where to fetch it (a URL; in Node also a path). */
export type FileInput = FileData | string | URL;

export interface FileSource {
  /** Shown in errors: the URL, directory or 'the given files'. */
  readonly description: string;
  /** The bytes of `name`, or undefined when the source has no such file (HTTP 404, not among the files). */
  read(name: string): Promise<Uint8Array | undefined>;
  /** The file names, when the source can list them (not a URL). */
  list?(): string[];
}

export interface FetchOptions {
  /** Cache API cache that keeps downloaded files (default 'bert4ts'; false: fetch every time). */
  cache?: string | false;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
}

export class SourceError extends Error {
  constructor(readonly where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'SourceError';
  }
}

const URL_LIKE = /^[a-z][a-z0-9+.-]*:/i;

/** Where model files come from: a base URL, a directory path (Node), a FileList / File[], or named contents. */
export function fileSource(from: string | URL | Iterable<File> | ArrayLike<File> | Record<string, FileData>, options: FetchOptions = {}): FileSource {
  if (from instanceof URL) return urlSource(from, options);
  if (typeof from === 'string') {
    // Node: a path unless it is a URL; browser: a URL, relative to the page.
    if (URL_LIKE.test(from) && !/^[a-z]:[\\/]/i.test(from)) return urlSource(new URL(from), options);
    if (isNode()) return dirSource(from);
    const base = (globalThis as { location?: { href: string } }).location?.href;
    if (!base) throw new SourceError(from, 'a relative URL needs a page to resolve against: give an absolute URL');
    return urlSource(new URL(from, base), options);
  }
  if (typeof (from as ArrayLike<File>).length === 'number' || Symbol.iterator in (from as object)) {
    const files = new Map<string, FileData>();
    for (const f of Array.from(from as ArrayLike<File>)) {
      // A directory picker names files 'dir/sub/name' in webkitRelativePath: the last part is the name.
      files.set(f.name, f);
    }
    return memorySource(files);
  }
  return memorySource(new Map(Object.entries(from as Record<string, FileData>)));
}

function memorySource(files: Map<string, FileData>): FileSource {
  for (const [name, data] of files) {
    if (!isFileData(data)) throw new SourceError(name, `expected an ArrayBuffer, a typed array, a Blob or a File, got ${describe(data)}`);
  }
  return {
    description: `the given files (${[...files.keys()].join(', ') || 'none'})`,
    list: () => [...files.keys()],
    read: async (name) => {
      const data = files.get(name);
      return data === undefined ? undefined : toBytes(data);
    },
  };
}

function dirSource(dir: string): FileSource {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new SourceError(dir, 'not a directory');
  return {
    description: dir,
    list: () => readdirSync(dir),
    read: async (name) => {
      const path = join(dir, name);
      return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
    },
  };
}

function urlSource(base: URL, options: FetchOptions): FileSource {
  const dir = base.href.endsWith('/') ? base : new URL(base.href + '/');
  return {
    description: dir.href,
    read: (name) => fetchBytes(new URL(name, dir), options, true),
  };
}

/** GET `url` through the Cache API (when the page has it and `cache` is not false); undefined on 404 when `optional`. */
export async function fetchBytes(url: URL | string, options: FetchOptions = {}, optional = false): Promise<Uint8Array | undefined> {
  const href = url.toString();
  const doFetch = options.fetch ?? globalThis.fetch;
  const cacheName = options.cache ?? 'bert4ts';
  let cache: Cache | undefined;
  const caches = (globalThis as { caches?: CacheStorage }).caches;
  if (cacheName !== false && caches && /^https?:/.test(href)) {
    try {
      cache = await caches.open(cacheName);
      const hit = await cache.match(href);
      if (hit) return new Uint8Array(await hit.arrayBuffer());
    } catch {
      cache = undefined; // an opaque origin or storage turned off: fetch without it
    }
  }
  let res: Response;
  try {
    res = await doFetch(href);
  } catch (e) {
    throw new SourceError(href, `cannot fetch: ${(e as Error).message}`);
  }
  if (res.status === 404 && optional) return undefined;
  if (!res.ok) throw new SourceError(href, `HTTP ${res.status} ${res.statusText}`.trim());
  if (cache) {
    try { await cache.put(href, res.clone()); } catch { /* quota: keep going without caching */ }
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Remove the downloaded model files kept by `fetchBytes` (the whole named cache). */
export async function clearFileCache(name = 'bert4ts'): Promise<boolean> {
  const caches = (globalThis as { caches?: CacheStorage }).caches;
  return caches ? caches.delete(name) : false;
}

const isFileData = (d: unknown): d is FileData =>
  d instanceof ArrayBuffer || ArrayBuffer.isView(d) || (typeof Blob !== 'undefined' && d instanceof Blob);

function describe(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
}

async function toBytes(data: FileData): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(await data.arrayBuffer());
}

/** One file's bytes and a name for errors: fetched (URL), read (a path in Node) or taken as given. */
export async function readFile(input: FileInput, options: FetchOptions = {}): Promise<{ name: string; bytes: Uint8Array }> {
  if (input instanceof URL || (typeof input === 'string' && (URL_LIKE.test(input) && !/^[a-z]:[\\/]/i.test(input) || !isNode()))) {
    const url = input instanceof URL ? input : new URL(input, (globalThis as { location?: { href: string } }).location?.href);
    return { name: url.href, bytes: (await fetchBytes(url, options))! };
  }
  if (typeof input === 'string') {
    if (!existsSync(input)) throw new SourceError(input, 'no such file');
    return { name: input, bytes: new Uint8Array(readFileSync(input)) };
  }
  if (!isFileData(input)) throw new SourceError('file', `expected a URL, an ArrayBuffer, a typed array, a Blob or a File, got ${describe(input)}`);
  const name = typeof File !== 'undefined' && input instanceof File ? input.name : 'bytes';
  return { name, bytes: await toBytes(input) };
}

/** A safetensors file from a URL, bytes, Blob or File (the tensors are read from memory). */
export async function readSafetensors(input: FileInput, options: FetchOptions = {}): Promise<SafetensorsReader> {
  return new SafetensorsReader(await readFile(input, options));
}

/** An ONNX model's initializers from a URL, bytes, Blob or File (weights inline; external data needs a path). */
export async function readOnnx(input: FileInput, options: FetchOptions = {}): Promise<OnnxReader> {
  return new OnnxReader(await readFile(input, options));
}

/** How errors name a file of a source. */
const whereIn = (source: FileSource, name: string) => (/[/\\]$/.test(source.description) ? `${source.description}${name}` : source.list && !source.description.startsWith('the given') ? `${source.description}/${name}` : `${name} (${source.description})`);

type Files = FileSource | Parameters<typeof fileSource>[0];
const asSource = (s: Files, options?: FetchOptions): FileSource =>
  typeof (s as FileSource).read === 'function' && typeof (s as FileSource).description === 'string' ? (s as FileSource) : fileSource(s as Parameters<typeof fileSource>[0], options);

/**
 * The tokenizer in a source, found as loadTokenizer finds it in a directory. A source that cannot
 * list (a URL) is asked for each candidate name in loadTokenizer's order until one is there.
 */
export async function loadTokenizerFrom(from: Files, options: LoadOptions & FetchOptions = {}): Promise<Tokenizer> {
  const source = asSource(from, options);
  const contents = new Map<string, Uint8Array>();
  const listed = source.list ? new Set(source.list()) : undefined;
  const get = async (name: string) => {
    if (listed && !listed.has(name)) return;
    const bytes = await source.read(name);
    if (bytes) contents.set(name, bytes);
  };
  await Promise.all(TOKENIZER_FILE_NAMES.configs.map(get));
  if (listed) await Promise.all([...listed].filter((n) => TOKENIZER_FILE_NAMES.main.includes(n) || n.endsWith('.model')).map(get));
  else {
    for (const name of TOKENIZER_FILE_NAMES.main) {
      await get(name);
      // Stop at the first complete tokenizer (a BPE vocabulary needs its merges too).
      const bpe = [['encoder.json', 'vocab.bpe'], ['vocab.json', 'merges.txt']].some((pair) => pair.every((n) => contents.has(n)));
      if (contents.has('vocab.txt') || [...contents.keys()].some((n) => n.endsWith('.model')) || bpe || contents.has('tokenizer.json')) break;
    }
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const files: TokenizerFiles = {
    names: () => new Set(contents.keys()),
    bytes: (n) => contents.get(n)!,
    text: (n) => {
      try { return decoder.decode(contents.get(n)!); } catch { throw new SourceError(whereIn(source, n), 'not UTF-8 text'); }
    },
    where: (n) => whereIn(source, n),
  };
  return loadTokenizerFiles(files, options, undefined, source.description);
}

export interface LoadModelOptions extends BuildModelOptions, FetchOptions {
  /** Load the directory's tokenizer too, as `model.tokenizer` (default true; absent files are fine). */
  withTokenizer?: boolean;
}

/**
 * A model directory that `Model.save` wrote (config.json with its 'bert4ts' section, model.safetensors,
 * the tokenizer files), from a URL, picked files or bytes: `buildModel(dir)` for sources that are not
 * paths. Options given override the saved ones, as with buildModel.
 */
export async function loadModel(from: Files, options: LoadModelOptions = {}): Promise<Model> {
  const { withTokenizer = true, cache, fetch, ...build } = options;
  const source = asSource(from, { cache, fetch });
  const configBytes = await source.read('config.json');
  if (!configBytes) throw new SourceError(source.description, 'no config.json: not a model directory');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (e) {
    throw new ConfigError(`${source.description} config.json: not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source.description} config.json: a config must be a JSON object`);
  const { saved } = splitSavedSection(raw as Record<string, unknown>, `${source.description} config.json`);
  const weightsName = saved?.weights ?? WEIGHTS_FILE;
  let checkpoint = build.checkpoint;
  let reader: SafetensorsReader | undefined;
  if (checkpoint === undefined) {
    const bytes = await source.read(weightsName);
    if (bytes) checkpoint = reader = new SafetensorsReader({ name: whereIn(source, weightsName), bytes });
    else if (saved) throw new SourceError(source.description, `missing ${weightsName}, the weights its config.json names`);
  }
  let tokenizer = build.tokenizer;
  if (tokenizer === undefined && withTokenizer) {
    try {
      tokenizer = await loadTokenizerFrom(source, { cache, fetch });
    } catch (e) {
      if (!/no tokenizer found/.test((e as Error).message)) throw e;
    }
  }
  const model = buildModel(raw as Record<string, unknown>, { ...build, checkpoint, tokenizer });
  // As buildModel(dir) does: tensors saved under our own names that the graph does not declare.
  if (reader && saved) for (const name of saved.ownNames) if (!model.store.has(name) && reader.has(name)) model.store.set(name, reader.read(name));
  reader?.close();
  return model;
}
