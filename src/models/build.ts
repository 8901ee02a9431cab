/**
 * `buildModel(config, options)`: bert4keras's build_transformer_model. Reads a config (Google
 * bert_config.json, Hugging Face config.json, OpenAI hparams.json, or an object), picks the family,
 * declares the graph once to learn every weight's shape, loads a checkpoint through the family's
 * weight map (either naming, with or without the head class's prefix), then builds the graph over
 * the loaded weights. The returned `Model` predicts, exports ONNX, saves safetensors, and rebuilds
 * its graph in a training scope for the Trainer.
 *
 *   const model = buildModel('chinese_L-12_H-768_A-12/bert_config.json', {
 *     checkpoint: 'chinese_L-12_H-768_A-12/bert_model.ckpt', application: 'mlm' });
 *   const { logits } = await model.predict({ input_ids: [[101, 2769, 103, 102]] });   // [1, 4, V]
 *   const trainer = await Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer });
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, openCheckpoint, writeSafetensors, writeTfCheckpoint, type CheckpointReader } from '../checkpoint/index.ts';
import { allocate, sizeOf, toFloat32, type HostTensor } from '../graph/dtype.ts';
import { formatShape, type Tensor } from '../graph/tensor.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { exportOnnx } from '../runtime/export.ts';
import { compile, FeedError, hostTensor, type Executable, type Feeds, type RuntimeOptions } from '../runtime/session.ts';
import { bertFamily } from './bert.ts';
import { ConfigError } from './config.ts';
import type { BuildOptions, BuiltGraph, FamilyDefinition, Naming, WeightMapping } from './family.ts';
import { gpt2Family } from './gpt2Family.ts';
import { t5Family } from './t5.ts';

/** A family that can also say how its applications are trained. */
export type TrainableFamily<C = any> = FamilyDefinition<C> & {
  loss?(built: BuiltGraph, application: string, options: BuildOptions): { labels: Tensor; loss: Tensor };
  /** Longest input the position embeddings cover (checked before running, for a clear error). */
  maxLength?(config: C, options: BuildOptions): { tokens: number; hint?: string };
};

const FAMILIES = new Map<string, TrainableFamily>();

/** Make a family available to buildModel under each of its names. */
export function registerFamily(family: TrainableFamily): void {
  for (const name of family.names) FAMILIES.set(name, family);
}
registerFamily(bertFamily);
registerFamily(gpt2Family);
registerFamily(t5Family);

export function familyNames(): string[] {
  return [...FAMILIES.keys()];
}

/** Hugging Face model_type -> our family. */
const MODEL_TYPES: Record<string, string> = {
  bert: 'bert', roberta: 'roberta', 'xlm-roberta': 'roberta', camembert: 'roberta', albert: 'albert',
  electra: 'electra', gpt2: 'gpt2', t5: 't5', mt5: 'mt5',
};

const DEFAULT_APPLICATION: Record<string, string> = { gpt2: 'lm', cpm: 'lm', t5: 'seq2seq', 't5.1.1': 'seq2seq', mt5: 'seq2seq' };

const CONFIG_FILES = ['config.json', 'bert_config.json', 'albert_config.json', 'hparams.json'];

export interface BuildModelOptions extends BuildOptions {
  /** Family name; inferred from the config's model_type (or its keys) when absent. */
  family?: string;
  /** Default: 'encoder' (BERT-shaped), 'lm' (GPT-2). */
  application?: string;
  /** A checkpoint path (file, TF prefix, directory) or an open reader. Without one: seeded random weights. */
  checkpoint?: string | CheckpointReader;
  /** Force a naming instead of picking the one the checkpoint matches best. */
  naming?: Naming;
  /** Seed for random initial weights. */
  seed?: number;
  runtime?: RuntimeOptions;
}

export interface LoadReport {
  file: string;
  naming: Naming;
  /** Our weights filled from the checkpoint. */
  loaded: number;
  /** Optional checkpoint tensors that were absent (those weights were initialised fresh). */
  missingOptional: string[];
  /** Checkpoint tensors the model did not use (optimizer slots, other heads, ...). */
  unexpected: string[];
}

export type FeedValue = HostTensor | number[] | number[][];

/** Read a config file (or the config file in a model directory). */
export function readConfigFile(path: string): { raw: Record<string, unknown>; file: string } {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const found = CONFIG_FILES.map((f) => join(path, f)).find((f) => existsSync(f));
    if (!found) throw new ConfigError(`${path}: no config file in this directory (looked for ${CONFIG_FILES.join(', ')})`);
    file = found;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read config: ${(e as Error).message}`);
  }
  try {
    return { raw: JSON.parse(text), file };
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/** The model family a config describes (its model_type, or the shape of a Google / OpenAI config). */
export function inferFamily(raw: Record<string, unknown>, source: string): string {
  const type = raw.model_type;
  if (typeof type === 'string') {
    const family = MODEL_TYPES[type];
    if (!family) throw new ConfigError(`${source}: unknown model_type '${type}' (known: ${Object.keys(MODEL_TYPES).join(', ')}); pass family explicitly if it is one of ${familyNames().join(', ')}`);
    return family;
  }
  if ('n_vocab' in raw || 'n_embd' in raw) return 'gpt2'; // OpenAI hparams.json
  if ('num_hidden_groups' in raw) return 'albert'; // Google ALBERT config
  if ('hidden_size' in raw && 'num_attention_heads' in raw) return 'bert'; // Google bert_config.json
  throw new ConfigError(`${source}: cannot tell the model family (no model_type); pass family (one of ${familyNames().join(', ')})`);
}

// ---- host tensor transforms (checkpoint layout -> ours) ------------------------------------------

function sliceAxis(t: HostTensor, axis: number, start: number, end: number): HostTensor {
  const shape = [...t.shape];
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const dim = shape[axis]!;
  const n = end - start;
  const out = allocate(t.dtype, outer * n * inner) as Float32Array;
  const src = t.data as Float32Array;
  for (let o = 0; o < outer; o++) out.set(src.subarray((o * dim + start) * inner, (o * dim + end) * inner), o * n * inner);
  shape[axis] = n;
  return { dtype: t.dtype, shape, data: out };
}

function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.shape as [number, number];
  const src = t.data as Float32Array;
  const out = allocate(t.dtype, r * c) as Float32Array;
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return { dtype: t.dtype, shape: [c, r], data: out };
}

function takeRows(t: HostTensor, rows: number[], file: string, name: string): HostTensor {
  const n = t.shape[0]!;
  const width = sizeOf(t.shape.slice(1));
  const src = t.data as Float32Array;
  const out = allocate(t.dtype, rows.length * width) as Float32Array;
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new CheckpointError(file, `keepTokens id ${r} (position ${i}) is outside the ${n} rows`, name);
    out.set(src.subarray(r * width, (r + 1) * width), i * width);
  });
  return { dtype: t.dtype, shape: [rows.length, ...t.shape.slice(1)], data: out };
}

/** Apply a mapping to a checkpoint tensor: slice -> transpose -> reshape -> rows. */
function transform(t: HostTensor, m: WeightMapping, want: readonly number[], file: string, name: string): HostTensor {
  const steps: string[] = [];
  if (m.slice) {
    const { axis, start, end } = m.slice;
    if (axis >= t.shape.length || end > t.shape[axis]!) throw new CheckpointError(file, `has shape ${formatShape(t.shape)}, too small to take [${start}, ${end}) on axis ${axis} for '${m.ours}'`, name);
    t = sliceAxis(t, axis, start, end);
    steps.push(`slice ${start}:${end} of axis ${axis}`);
  }
  if (m.transpose) {
    if (t.shape.length !== 2) throw new CheckpointError(file, `expected a matrix to transpose for '${m.ours}', got shape ${formatShape(t.shape)}`, name);
    t = transpose2d(t);
    steps.push('transposed');
  }
  if (m.reshape && sizeOf(t.shape) === sizeOf(want)) {
    t = { ...t, shape: [...want] };
  }
  if (m.rows) {
    t = takeRows(t, m.rows, file, name);
    steps.push(`${m.rows.length} kept rows`);
  }
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new CheckpointError(file, `shape ${formatShape(t.shape)}${steps.length ? ` (after ${steps.join(', ')})` : ''} does not fit the model's '${m.ours}' ${formatShape(want)}: does the config match this checkpoint?`, name);
  }
  return t;
}

/** Checkpoint values (fp16 / bf16 / fp32 / fp64) in the model's float dtype. */
function asDtype(t: HostTensor, dtype: string, file: string, name: string): HostTensor {
  const f32 = toFloat32(t);
  if (dtype === 'float32') return f32;
  if (dtype === 'float64') return { dtype: 'float64', shape: f32.shape, data: Float64Array.from(f32.data as Float32Array) };
  throw new CheckpointError(file, `cannot load into a ${dtype} model (float32 or float64)`, name);
}

const KNOWN_PREFIXES = ['bert.', 'roberta.', 'albert.', 'electra.', 'transformer.'];
/**
 * What a checkpoint may hold that no model weight maps to: optimizer slots (Adam; Adafactor's
 * _slot_vc/_slot_vr in Mesh-TF T5), counters, derived buffers, tied copies.
 */
const IGNORABLE = [/\/adam_[mv]$/, /_slot_(v|vc|vr|m)$/, /^global_step$/, /^(encoder|decoder)\.embed_tokens\.weight$/, /position_ids$/, /\.attn\.(masked_)?bias$/, /decoder\.(weight|bias)$/, /^lm_head\.weight$/, /^generator_lm_head\.weight$/];

/** Names a tensor may have: as mapped, without the head class's prefix, with old gamma/beta LayerNorm names. */
function candidates(name: string): string[] {
  const out = [name];
  for (const p of KNOWN_PREFIXES) if (name.startsWith(p)) out.push(name.slice(p.length));
  for (const n of [...out]) {
    if (/LayerNorm\.weight$/.test(n)) out.push(n.replace(/weight$/, 'gamma'));
    if (/LayerNorm\.bias$/.test(n)) out.push(n.replace(/bias$/, 'beta'));
  }
  return out;
}

function loadWeights(
  reader: CheckpointReader, maps: Record<Naming, WeightMapping[]>, declared: Map<string, Tensor>, store: ParamStore, forced?: Naming,
): LoadReport {
  const file = reader.path;
  const available = new Set(reader.list().map((t) => t.name));
  const resolve = (theirs: string) => candidates(theirs).find((n) => available.has(n));
  const score = (n: Naming) => maps[n].filter((m) => resolve(m.theirs) !== undefined).length;
  const naming: Naming = forced ?? (score('google') > score('hf') ? 'google' : 'hf');
  const map = maps[naming];
  if (!forced && score(naming) === 0) {
    const sample = [...available].slice(0, 5).map((n) => `'${n}'`).join(', ');
    throw new CheckpointError(file, `none of the model's weights are here: expected names like '${maps.hf[0]?.theirs}' (Hugging Face) or '${maps.google[0]?.theirs}' (Google); the file has ${sample}${available.size > 5 ? ', ...' : ''}`);
  }
  for (const name of declared.keys()) {
    if (!map.some((m) => m.ours === name)) throw new Error(`weight map bug: the model declares '${name}' but the ${naming} weight map does not list it`);
  }
  const missing: string[] = [];
  const missingOptional: string[] = [];
  const used = new Set<string>();
  let lastName = ''; // fused tensors (c_attn) map to several weights: read once
  let lastTensor: HostTensor | null = null;
  for (const m of map) {
    const leaf = declared.get(m.ours);
    if (!leaf) continue; // mapped head not built for this application
    const name = resolve(m.theirs);
    if (name === undefined) {
      (m.optional ? missingOptional : missing).push(`'${m.theirs}' (for ${m.ours})`);
      continue;
    }
    if (lastName !== name || !lastTensor) { lastTensor = asDtype(reader.read(name), leaf.dtype, file, name); lastName = name; }
    let t = transform(lastTensor, m, leaf.shape as number[], file, name);
    // A tensor shared by several weights (ALBERT unshared) gets its own buffer, so training can update each.
    if (t.data === lastTensor.data && used.has(name)) t = { ...t, data: (t.data as Float32Array).slice() };
    used.add(name);
    store.set(m.ours, t);
  }
  if (missing.length) {
    const shown = missing.slice(0, 12).join(', ');
    throw new CheckpointError(file, `missing ${missing.length} tensor${missing.length > 1 ? 's' : ''} the model needs (${naming} naming): ${shown}${missing.length > 12 ? ', ...' : ''}`);
  }
  const unexpected = [...available].filter((n) => !used.has(n) && !IGNORABLE.some((re) => re.test(n)));
  return { file, naming, loaded: map.filter((m) => store.has(m.ours)).length, missingOptional, unexpected };
}

// ---- the model --------------------------------------------------------------------------------

/**
 * A ParamStore that counts replaced weights, so a Model keeps its compiled sessions until one changes.
 * After editing a weight's data in place, `set` it again (the same object is fine) to bump the count.
 */
export class VersionedStore extends ParamStore {
  version = 0;
  override set(name: string, value: HostTensor): void {
    super.set(name, value);
    this.version++;
  }
}

export class Model {
  private sessions = new Map<string, { exe: Executable; version: number }>();

  constructor(
    readonly family: string,
    readonly application: string,
    readonly config: unknown,
    readonly options: BuildModelOptions,
    readonly store: VersionedStore,
    readonly inputs: Record<string, Tensor>,
    readonly outputs: Record<string, Tensor>,
    readonly loadReport: LoadReport | null,
    private readonly definition: TrainableFamily,
  ) {}

  /** The longest input this model takes, in tokens (undefined when positions are unbounded, e.g. T5). */
  get maxTokens(): number | undefined {
    return this.definition.maxLength?.(this.config, this.options).tokens;
  }

  /** Build this model's graph again in `scope` (e.g. a Trainer's training scope), with its loss when the family defines one. */
  build(scope: Scope): BuiltGraph {
    return buildGraph(this.definition, scope, this.config, this.application, this.options);
  }

  /** The training loss built in `scope`: pass `(scope) => model.loss(scope)` to Trainer.create. */
  loss(scope: Scope): Tensor {
    const built = this.build(scope);
    if (!built.outputs.loss) throw new Error(`${this.family} '${this.application}' has no training loss`);
    return built.outputs.loss;
  }

  /** Names of the weights the graph uses. */
  weightNames(): string[] {
    const names = new Set<string>();
    const visit = new Set<Tensor>();
    const stack = Object.values(this.outputs);
    while (stack.length) {
      const t = stack.pop()!;
      if (visit.has(t)) continue;
      visit.add(t);
      if (t.node.op === 'param') names.add(t.node.attrs.name as string);
      stack.push(...t.node.inputs);
    }
    return [...names].sort();
  }

  /** Fill feeds the caller may omit: attention_mask = 1, token_type_ids = 0; arrays become int64 tensors. */
  private feedsFrom(values: Record<string, FeedValue>): Feeds {
    const feeds: Feeds = {};
    for (const [name, v] of Object.entries(values)) feeds[name] = toHostTensor(name, v);
    const ids = feeds.input_ids;
    if (ids) {
      if (this.inputs.attention_mask && !feeds.attention_mask) feeds.attention_mask = hostTensor('int64', [...ids.shape], new Array(ids.data.length).fill(1));
      if (this.inputs.token_type_ids && !feeds.token_type_ids) feeds.token_type_ids = hostTensor('int64', [...ids.shape]);
    }
    return feeds;
  }

  /** Run the model; `loss` is computed only when `labels` is fed. */
  async predict(values: Record<string, FeedValue>, options: { outputs?: string[] } = {}): Promise<Record<string, HostTensor>> {
    const feeds = this.feedsFrom(values);
    const limit = this.definition.maxLength?.(this.config, this.options);
    const length = feeds.input_ids?.shape[1];
    if (limit && length !== undefined && length > limit.tokens) {
      throw new RangeError(`${length} tokens exceed the ${limit.tokens} positions of this ${this.family} model${limit.hint ? ` (${limit.hint})` : ''}`);
    }
    const wanted = options.outputs ?? Object.keys(this.outputs).filter((n) => n !== 'loss' || feeds.labels);
    for (const n of wanted) if (!this.outputs[n]) throw new Error(`unknown output '${n}'; outputs are: ${Object.keys(this.outputs).join(', ')}`);
    if (!wanted.includes('loss')) delete feeds.labels;
    // Sessions bake the weights in: reuse one until a weight is replaced (the Trainer replaces them each step).
    const key = wanted.join(',');
    const fresh = async () => {
      const outputs = Object.fromEntries(wanted.map((n) => [n, this.outputs[n]!]));
      const exe = await compile(outputs, { params: 'initializers', paramValue: (n) => this.store.get(n), name: this.family }, this.options.runtime);
      this.sessions.set(key, { exe, version: this.store.version });
      return exe;
    };
    const cached = this.sessions.get(key);
    if (!cached || cached.version !== this.store.version) return (await fresh()).run(feeds);
    try {
      return await cached.exe.run(feeds);
    } catch (e) {
      // The runtime's LRU may have released this session; bad feeds fail the same way on any session.
      if (e instanceof FeedError) throw e;
      return (await fresh()).run(feeds);
    }
  }

  /** Standalone ONNX model (inference outputs, weights baked in; large weights as external data). */
  exportOnnx(path: string, options: { externalThreshold?: number } = {}): { modelPath: string; dataPath?: string; inputs: string[]; outputs: string[] } {
    const outputs = Object.fromEntries(Object.entries(this.outputs).filter(([n]) => n !== 'loss'));
    return exportOnnx(outputs, (n) => this.store.get(n), path, { name: `${this.family}-${this.application}`, ...options });
  }

  /** Every weight in our names (the Scope paths), e.g. to resume training. */
  saveSafetensors(path: string): void {
    writeSafetensors(path, this.weightNames().map((n): [string, HostTensor] => [n, this.store.get(n)!]), { format: 'bert4ts', family: this.family });
  }

  /** How this model's weights are named in a checkpoint of the given naming. */
  weightMap(naming: Naming): WeightMapping[] {
    return this.definition.weightMap(this.config, this.application, naming, this.options);
  }

  /**
   * The weights as a checkpoint in `naming` would hold them (bert4keras's save_weights_as_checkpoint):
   * transposes undone, q/k/v fused back into c_attn, OpenAI's [1, in, out] kernels restored.
   */
  checkpointTensors(naming: Naming): [string, HostTensor][] {
    if (this.options.keepTokens) throw new Error('cannot write a checkpoint in the original naming from a keepTokens model: its vocabulary rows are a subset');
    const groups = new Map<string, { m: WeightMapping; t: HostTensor }[]>();
    for (const m of this.weightMap(naming)) {
      const value = this.store.get(m.ours);
      if (!value) continue;
      let t = m.transpose ? transpose2d(value) : value;
      if (m.reshape) t = { ...t, shape: [1, ...t.shape] }; // our maps reshape only OpenAI's [1, in, out] kernels
      const list = groups.get(m.theirs) ?? [];
      list.push({ m, t });
      groups.set(m.theirs, list);
    }
    return [...groups].map(([name, parts]): [string, HostTensor] => {
      if (!parts[0]!.m.slice) return [name, parts[0]!.t]; // shared (ALBERT) weights: one copy
      const sorted = parts.sort((a, b) => a.m.slice!.start - b.m.slice!.start);
      return [name, concatAxis(sorted.map((p) => p.t), sorted[0]!.m.slice!.axis)];
    });
  }

  /** Write the weights in Google (TF checkpoint prefix) or Hugging Face (`.safetensors`) naming; format by extension. */
  saveCheckpoint(path: string, naming: Naming = path.endsWith('.safetensors') ? 'hf' : 'google'): void {
    const tensors = this.checkpointTensors(naming);
    if (path.endsWith('.safetensors')) writeSafetensors(path, tensors, { format: naming === 'hf' ? 'pt' : 'bert4ts' });
    else writeTfCheckpoint(path, tensors);
  }
}

function concatAxis(parts: HostTensor[], axis: number): HostTensor {
  const shape = [...parts[0]!.shape];
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const total = parts.reduce((n, p) => n + p.shape[axis]!, 0);
  const out = allocate(parts[0]!.dtype, outer * total * inner) as Float32Array;
  let offset = 0;
  for (const p of parts) {
    const width = p.shape[axis]! * inner;
    const src = p.data as Float32Array;
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * width, (o + 1) * width), o * total * inner + offset);
    offset += width;
  }
  shape[axis] = total;
  return { dtype: parts[0]!.dtype, shape, data: out };
}

function toHostTensor(name: string, v: FeedValue): HostTensor {
  if (!Array.isArray(v)) return v;
  if (v.length === 0) throw new Error(`input '${name}' is empty`);
  if (Array.isArray(v[0])) {
    const rows = v as number[][];
    const width = rows[0]!.length;
    if (rows.some((r) => r.length !== width)) throw new Error(`input '${name}' rows have different lengths; pad them and pass attention_mask`);
    return hostTensor('int64', [rows.length, width], rows.flat());
  }
  return hostTensor('int64', [v.length], v as number[]);
}

function buildGraph(def: TrainableFamily, scope: Scope, config: unknown, application: string, options: BuildOptions): BuiltGraph {
  const built = def.build(scope, config, application, options);
  if (!def.loss || (built.outputs.logits === undefined)) return built;
  const { labels, loss } = def.loss(built, application, options);
  return { inputs: { ...built.inputs, labels }, outputs: { ...built.outputs, loss } };
}

/** bert4keras's build_transformer_model: config (path, directory or object) + options -> a Model. */
export function buildModel(config: string | Record<string, unknown>, options: BuildModelOptions = {}): Model {
  const { raw, file } = typeof config === 'string' ? readConfigFile(config) : { raw: config, file: 'config object' };
  const familyName = options.family ?? inferFamily(raw, file);
  const def = FAMILIES.get(familyName);
  if (!def) throw new ConfigError(`${file}: unknown model family '${familyName}' (known: ${familyNames().join(', ')})`);
  let parsed: unknown;
  try {
    parsed = def.parseConfig(raw, familyName);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message.replace(/^config: /, '')}`);
    throw e;
  }
  const application = options.application ?? DEFAULT_APPLICATION[familyName] ?? 'encoder';
  if (!def.applications.includes(application)) throw new ConfigError(`${familyName} has no application '${application}' (supported: ${def.applications.join(', ')})`);

  const store = new VersionedStore(options.seed ?? 0);
  let report: LoadReport | null = null;
  if (options.checkpoint !== undefined) {
    // Declare the graph once, without initial values, to learn the shape of every weight.
    const probe = new Scope(new ParamStore(), '', { declareOnly: true, dtype: options.dtype });
    buildGraph(def, probe, parsed, application, options);
    const maps = { hf: def.weightMap(parsed, application, 'hf', options), google: def.weightMap(parsed, application, 'google', options) };
    const reader = typeof options.checkpoint === 'string' ? openCheckpoint(options.checkpoint) : options.checkpoint;
    try {
      report = loadWeights(reader, maps, probe.declared, store, options.naming);
    } finally {
      if (typeof options.checkpoint === 'string') reader.close();
    }
  }
  const scope = new Scope(store, '', { dtype: options.dtype });
  const built = buildGraph(def, scope, parsed, application, options);
  return new Model(familyName, application, parsed, options, store, built.inputs, built.outputs, report, def);
}
