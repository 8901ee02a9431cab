/**
 * `buildModel(config, options)`: bert4keras's build_transformer_model. Reads a config (Google
 * bert_config.json, Hugging Face config.json, OpenAI hparams.json, a directory `Model.save` wrote, or
 * an object), picks the family, declares the graph once to learn every weight's shape, loads a
 * checkpoint through the family's weight map (load.ts), then builds the graph over the loaded weights.
 * The returned `Model` predicts, exports ONNX, saves (a model directory, safetensors, checkpoints), and
 * rebuilds its graph in a training scope for the Trainer.
 *
 *   const model = buildModel('chinese_L-12_H-768_A-12/bert_config.json', {
 *     checkpoint: 'chinese_L-12_H-768_A-12/bert_model.ckpt', application: 'mlm' });
 *   const { logits } = await model.predict({ input_ids: [[101, 2769, 103, 102]] });   // [1, 4, V]
 *   model.save('my-mlm', { tokenizer });            // later, in any process: buildModel('my-mlm')
 *   const trainer = await Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer });
 */
import { existsSync } from '../util/node/fs.ts';
import { dirname, join, resolve } from '../util/node/path.ts';
import { openCheckpoint, writeSafetensors, writeTfCheckpoint, type CheckpointReader } from '../checkpoint/index.ts';
import type { DType, HostTensor } from '../graph/dtype.ts';
import type { Tensor } from '../graph/tensor.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { checkAttentionSpec } from '../nn/performer.ts';
import { exportOnnx } from '../runtime/export.ts';
import { completeFeeds, type FeedValue } from '../runtime/feeds.ts';
import { compile, FeedError, type Executable, type Feeds, type RuntimeOptions } from '../runtime/session.ts';
import { checkQuantizeOptions, type QuantizeOptions } from '../runtime/quantize.ts';
import type { Tokenizer } from '../tokenizers/index.ts';
import { FileError } from '../util/files.ts';
import { bertFamily } from './bert.ts';
import { ConfigError } from './config.ts';
import type { BuildOptions, BuiltGraph, FamilyDefinition, ModelInputs, Naming, WeightMapping } from './family.ts';
import { gpt2Family } from './gpt2Family.ts';
import { checkLabels, classifierFromConfig, findHead, headScopeName, labelsFromConfig, type HeadContext, type HeadDefinition } from './heads.ts';
import './taskHeads.ts'; // the sized task heads (CRF, GlobalPointer) rebuild from a saved model's config
import { concatAxis, inferFamily, loadWeights, readConfigFile, transpose2d, type LoadReport } from './load.ts';
import { saveModel, splitSavedSection, type SaveOptions } from './save.ts';
import { t5Family } from './t5.ts';

export { inferFamily, readConfigFile, type LoadReport } from './load.ts';
export type { FeedValue } from '../runtime/feeds.ts';

/** A family that can also say how its applications are trained. */
export type TrainableFamily<C = any> = FamilyDefinition<C> & {
  /** `given.labels` stands in for the labels input (a graph built twice over one batch). */
  loss?(built: BuiltGraph, application: string, options: BuildOptions, given?: ModelInputs): { labels: Tensor; loss: Tensor };
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

const DEFAULT_APPLICATION: Record<string, string> = { gpt2: 'lm', cpm: 'lm', t5: 'seq2seq', 't5.1.1': 'seq2seq', mt5: 'seq2seq' };

export interface BuildModelOptions extends BuildOptions {
  /** Family name; inferred from the config's model_type (or its keys) when absent. */
  family?: string;
  /** Default: 'encoder' (BERT-shaped), 'lm' (GPT-2); a Hugging Face *ForSequenceClassification / *ForTokenClassification config: 'encoder' / 'tagger'. */
  application?: string;
  /**
   * A checkpoint path (file, TF prefix, directory) or an open reader. Default: the weights of a saved
   * model directory; otherwise none, and the weights are seeded random.
   */
  checkpoint?: string | CheckpointReader;
  /** Force a naming instead of picking the one the checkpoint matches best. */
  naming?: Naming;
  /** Seed for random initial weights. */
  seed?: number;
  runtime?: RuntimeOptions;
  /** A head registered with `registerHead`, built over the family's outputs. */
  head?: string;
  /** Class names in id order (a classifier's numClasses defaults to their number). */
  labels?: string[];
  /** Attached to the model (`model.tokenizer`): `save` writes it beside the weights. */
  tokenizer?: Tokenizer;
  /** Run (and export) with int8 weights: see `quantize(model, options)`. Saved with the model. */
  quantize?: QuantizeOptions;
}

// Closed sets, checked by the compiler against the interfaces: an option nobody reads is an error, not a no-op.
const OPTION_KEYS = {
  family: 1, application: 1, checkpoint: 1, naming: 1, seed: 1, runtime: 1, head: 1, labels: 1, tokenizer: 1, keepTokens: 1,
  hierarchicalPosition: 1, maxPosition: 1, dropoutRate: 1, attentionDropoutRate: 1, attentionKeySize: 1, withPool: 1, numClasses: 1,
  withNsp: 1, dtype: 1, attention: 1, quantize: 1,
} satisfies Record<keyof BuildModelOptions, 1>;
const RUNTIME_KEYS = { threads: 1, externalDataThreshold: 1, prepack: 1, optimization: 1, memoryArena: 1, quantize: 1 } satisfies Record<keyof RuntimeOptions, 1>;

function checkKeys(value: unknown, valid: Record<string, 1>, what: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${what} must be an object, got ${JSON.stringify(value)}`);
  const unknown = Object.keys(value).filter((k) => !Object.hasOwn(valid, k));
  if (unknown.length) throw new ConfigError(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: ${Object.keys(valid).join(', ')})`);
}

/** Refuse unknown options by name, at every level. */
export function checkBuildOptions(options: unknown): asserts options is BuildModelOptions {
  checkKeys(options, OPTION_KEYS, 'buildModel options');
  const o = options as BuildModelOptions;
  if (o.runtime !== undefined) checkKeys(o.runtime, RUNTIME_KEYS, 'buildModel options.runtime');
  if (o.runtime?.quantize !== undefined) throw new ConfigError(`buildModel options.runtime.quantize: give 'quantize' as a build option (it is saved with the model), not under runtime`);
  if (o.quantize !== undefined) checkQuantizeOptions(o.quantize, 'buildModel options.quantize');
  if (o.naming !== undefined && o.naming !== 'hf' && o.naming !== 'google') throw new ConfigError(`buildModel options: naming must be 'hf' or 'google', got ${JSON.stringify(o.naming)}`);
  if (o.attention !== undefined) {
    try { checkAttentionSpec(o.attention); } catch (e) { throw new ConfigError(`buildModel options.attention: ${(e as Error).message.replace(/^attention option: /, '')}`); }
  }
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

/** A registered head and its name. */
interface NamedHead { name: string; def: HeadDefinition }

export interface ModelParts {
  family: string;
  application: string;
  config: unknown;
  /** The family's config as read (Hugging Face / Google / OpenAI keys), without our saved section. */
  rawConfig: Record<string, unknown>;
  options: BuildModelOptions;
  store: VersionedStore;
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  loadReport: LoadReport | null;
  labels?: string[];
  keptTokens?: number[];
  tokenizer?: Tokenizer;
  definition: TrainableFamily;
  head?: NamedHead;
}

export class Model {
  readonly family: string;
  readonly application: string;
  readonly config: unknown;
  readonly rawConfig: Record<string, unknown>;
  /** The options the graph was built with (keepTokens only when this build trimmed the vocabulary). */
  readonly options: BuildModelOptions;
  readonly store: VersionedStore;
  readonly inputs: Record<string, Tensor>;
  readonly outputs: Record<string, Tensor>;
  readonly loadReport: LoadReport | null;
  /** Class names in id order, for a classifier or tagger. */
  readonly labels?: string[];
  /** Original ids of this model's vocabulary rows when it was trimmed (keepTokens), now or before it was saved. */
  readonly keptTokens?: number[];
  /** Written by `save` unless another is given. */
  tokenizer?: Tokenizer;
  private readonly definition: TrainableFamily;
  private readonly head?: NamedHead;
  private sessions = new Map<string, { exe: Executable; version: number }>();

  constructor(parts: ModelParts) {
    ({ family: this.family, application: this.application, config: this.config, rawConfig: this.rawConfig, options: this.options, store: this.store,
      inputs: this.inputs, outputs: this.outputs, loadReport: this.loadReport, labels: this.labels, keptTokens: this.keptTokens,
      tokenizer: this.tokenizer, definition: this.definition, head: this.head } = parts);
  }

  /** The runtime options every session of this model is made with (the build's, plus its quantization). */
  get runtime(): RuntimeOptions {
    return this.options.quantize ? { ...this.options.runtime, quantize: this.options.quantize } : { ...this.options.runtime };
  }

  /**
   * This model with int8 weights (`undefined`: fp32 again), sharing its weight store; this model is
   * unchanged. Prefer `quantize(model, options)`, which checks the options.
   */
  withQuantization(quantize: QuantizeOptions | undefined): Model {
    const options = { ...this.options, quantize };
    if (!quantize) delete options.quantize;
    return new Model({
      family: this.family, application: this.application, config: this.config, rawConfig: this.rawConfig, options, store: this.store,
      inputs: this.inputs, outputs: this.outputs, loadReport: this.loadReport, labels: this.labels, keptTokens: this.keptTokens,
      tokenizer: this.tokenizer, definition: this.definition, head: this.head,
    });
  }

  /** The longest input this model takes, in tokens (undefined when positions are unbounded, e.g. T5). */
  get maxTokens(): number | undefined {
    return this.definition.maxLength?.(this.config, this.options).tokens;
  }

  /**
   * Build this model's graph again in `scope` (e.g. a Trainer's training scope), with its loss when the
   * family or head defines one. `given` tensors stand in for the graph inputs of the same name, and
   * `inputs_embeds` (T5: `decoder_inputs_embeds`) for the token-embedding lookup (see FamilyDefinition.build).
   */
  build(scope: Scope, given?: ModelInputs): BuiltGraph {
    return buildGraph(this.definition, scope, this.config, this.family, this.application, this.options, this.head, given);
  }

  /** The training loss built in `scope`: pass `(scope) => model.loss(scope)` to Trainer.create. */
  loss(scope: Scope): Tensor {
    const built = this.build(scope);
    if (!built.outputs.loss) throw new Error(`${this.family} '${this.application}'${this.head ? ` with head '${this.head.name}'` : ''} has no training loss`);
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
    return completeFeeds(values, Object.keys(this.inputs));
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
      const exe = await compile(outputs, { params: 'initializers', paramValue: (n) => this.store.get(n), name: this.family }, this.runtime);
      this.sessions.set(key, { exe, version: this.store.version });
      return exe;
    };
    const cached = this.sessions.get(key);
    if (!cached || cached.version !== this.store.version) return (await fresh()).run(feeds);
    try {
      return await cached.exe.run(feeds);
    } catch (e) {
      // clearSessionCache() may have released this session; bad feeds fail the same way on any session.
      if (e instanceof FeedError) throw e;
      return (await fresh()).run(feeds);
    }
  }

  /** Standalone ONNX model (inference outputs, weights baked in; large weights as external data). */
  exportOnnx(path: string, options: { externalThreshold?: number } = {}): { modelPath: string; dataPath?: string; inputs: string[]; outputs: string[] } {
    const outputs = Object.fromEntries(Object.entries(this.outputs).filter(([n]) => n !== 'loss'));
    return exportOnnx(outputs, (n) => this.store.get(n), path, { name: `${this.family}-${this.application}`, quantize: this.options.quantize, ...options });
  }

  /**
   * A model directory (config.json with the build options, model.safetensors, the tokenizer) that
   * `buildModel(dir)` and `loadTokenizer(dir)` restore bit for bit. See save.ts for the format.
   */
  save(dir: string, options: SaveOptions = {}): string[] {
    return saveModel(this, dir, options);
  }

  /** Every weight in the store under our names (the Scope paths); loads back with `buildModel(config, { checkpoint })`. */
  saveSafetensors(path: string): void {
    writeSafetensors(path, this.store.names().sort().map((n): [string, HostTensor] => [n, this.store.get(n)!]), { format: 'bert4ts', family: this.family });
  }

  /** How this model's weights are named in a checkpoint of the given naming. */
  weightMap(naming: Naming): WeightMapping[] {
    return this.definition.weightMap(this.config, this.application, naming, this.options);
  }

  /**
   * Every weight in the store as a checkpoint in `naming` would hold it (bert4keras's
   * save_weights_as_checkpoint): transposes undone, q/k/v fused back into c_attn, OpenAI's [1, in, out]
   * kernels restored. What no checkpoint name can hold — a head's weights, copies of a shared weight
   * that training made differ (albert_unshared) — keeps our name and is listed in `ownNames`; the
   * loader prefers a tensor under our own name, so nothing is lost.
   */
  namedTensors(naming: Naming): { tensors: [string, HostTensor][]; ownNames: string[] } {
    // Vocabulary rows are stored as they are (already the kept ones): no row selection to undo.
    const map = this.definition.weightMap(this.config, this.application, naming, { ...this.options, keepTokens: undefined });
    const groups = new Map<string, { m: WeightMapping; t: HostTensor }[]>();
    const mapped = new Set<string>();
    for (const m of map) {
      const value = this.store.get(m.ours);
      if (!value || mapped.has(m.ours)) continue;
      mapped.add(m.ours);
      let t = m.transpose ? transpose2d(value) : value;
      if (m.reshape) t = { ...t, shape: [1, ...t.shape] }; // our maps reshape only OpenAI's [1, in, out] kernels
      const list = groups.get(m.theirs) ?? [];
      list.push({ m, t });
      groups.set(m.theirs, list);
    }
    const tensors: [string, HostTensor][] = [];
    const ownNames: string[] = [];
    const own = (name: string) => { tensors.push([name, this.store.get(name)!]); ownNames.push(name); };
    for (const [name, parts] of groups) {
      if (parts[0]!.m.slice) {
        const sorted = parts.sort((a, b) => a.m.slice!.start - b.m.slice!.start);
        tensors.push([name, concatAxis(sorted.map((p) => p.t), sorted[0]!.m.slice!.axis)]);
        continue;
      }
      tensors.push([name, parts[0]!.t]); // shared (ALBERT) weights: one copy ...
      for (const p of parts.slice(1)) if (!sameBytes(p.t, parts[0]!.t)) own(p.m.ours); // ... unless training made them differ
    }
    for (const name of this.store.names().sort()) if (!mapped.has(name)) own(name);
    const seen = new Set<string>();
    for (const [name] of tensors) {
      if (seen.has(name)) throw new Error(`cannot save: two weights would be stored as '${name}' (a head weight named like a ${naming} checkpoint tensor?)`);
      seen.add(name);
    }
    return { tensors, ownNames };
  }

  /** `namedTensors(naming).tensors`. */
  checkpointTensors(naming: Naming): [string, HostTensor][] {
    if (this.options.keepTokens) throw new Error('cannot write a checkpoint in the original naming from a keepTokens model: its vocabulary rows are a subset, and the original config would load them as the full vocabulary. Use model.save(dir) (its config.json holds the trimmed vocab_size) or saveSafetensors');
    return this.namedTensors(naming).tensors;
  }

  /** Write the weights in Google (TF checkpoint prefix) or Hugging Face (`.safetensors`) naming; format by extension. */
  saveCheckpoint(path: string, naming: Naming = path.endsWith('.safetensors') ? 'hf' : 'google'): void {
    const tensors = this.checkpointTensors(naming);
    if (path.endsWith('.safetensors')) writeSafetensors(path, tensors, { format: naming === 'hf' ? 'pt' : 'bert4ts' });
    else writeTfCheckpoint(path, tensors);
  }
}

function sameBytes(a: HostTensor, b: HostTensor): boolean {
  if (a.data.length !== b.data.length) return false;
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.every((v, i) => v === y[i]);
}

/** The family's graph, the head over it, and the training loss (the head's when it defines logits, else the family's). */
function buildGraph(def: TrainableFamily, scope: Scope, config: unknown, family: string, application: string, options: BuildOptions, head?: NamedHead, given?: ModelInputs): BuiltGraph {
  if (head && given) throw new Error(`head '${head.name}': a graph with a head cannot be built over given inputs`);
  let built = def.build(scope, config, application, options, given);
  if (head) {
    const context: HeadContext = { family, application, config, options, inputs: built.inputs, outputs: built.outputs };
    const outputs = head.def.build(scope.child(headScopeName(head.name)), context);
    if (!outputs || typeof outputs !== 'object') throw new Error(`head '${head.name}' must return an object of output tensors`);
    built = { inputs: built.inputs, outputs: { ...built.outputs, ...outputs } };
    if (head.def.loss) {
      const { labels, loss } = head.def.loss(built.outputs, { ...context, outputs: built.outputs });
      return { inputs: { ...built.inputs, labels }, outputs: { ...built.outputs, loss } };
    }
    if (outputs.logits) return built; // the family's loss does not know the head's logits
  }
  if (!def.loss || (built.outputs.logits === undefined)) return built;
  const { labels, loss } = def.loss(built, application, options, given);
  return { inputs: { ...built.inputs, labels }, outputs: { ...built.outputs, loss } };
}

const sameIds = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * bert4keras's build_transformer_model: config (path, directory or object) + options -> a Model.
 * A directory `Model.save` wrote needs no options; those given override the saved ones.
 */
/** The family a config (file, directory or object) builds: what buildModel would pick without a `family` option. */
export function modelFamilyOf(config: string | Record<string, unknown>): string {
  const { raw: fileRaw, file } = typeof config === 'string' ? readConfigFile(config) : { raw: config, file: 'config object' };
  const { config: raw, saved } = splitSavedSection(fileRaw, file);
  return saved?.family ?? inferFamily(raw, file, familyNames());
}

export function buildModel(config: string | Record<string, unknown>, options: BuildModelOptions = {}): Model {
  checkBuildOptions(options);
  const explicit = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as BuildModelOptions;
  const { raw: fileRaw, file } = typeof config === 'string' ? readConfigFile(config) : { raw: config, file: 'config object' };
  const { config: raw, saved } = splitSavedSection(fileRaw, file);
  const familyName = explicit.family ?? saved?.family ?? inferFamily(raw, file, familyNames());
  const def = FAMILIES.get(familyName);
  if (!def) throw new ConfigError(`${file}: unknown model family '${familyName}' (known: ${familyNames().join(', ')})`);
  let parsed: unknown;
  try {
    parsed = def.parseConfig(raw, familyName);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message.replace(/^config: /, '')}`);
    throw e;
  }
  const hfClassifier = saved ? undefined : classifierFromConfig(raw, file);
  if (hfClassifier && !def.applications.includes(hfClassifier.application)) throw new ConfigError(`${file}: ${String(raw.architectures)} is not supported: classifier heads exist for the BERT-shaped families`);
  const application = explicit.application ?? saved?.application ?? hfClassifier?.application ?? DEFAULT_APPLICATION[familyName] ?? 'encoder';
  if (!def.applications.includes(application)) throw new ConfigError(`${familyName} has no application '${application}' (supported: ${def.applications.join(', ')})`);

  // Options: saved < the config's classifier < explicit.
  const o: BuildModelOptions = { ...saved?.options, ...explicit, family: familyName, application };
  const fromConfig = hfClassifier?.application === application;
  if (fromConfig && explicit.numClasses === undefined) o.numClasses = hfClassifier.labels.length;
  let labels = explicit.labels !== undefined ? checkLabels(explicit.labels, 'buildModel options.labels') : undefined;
  if (labels && o.numClasses === undefined && o.head === undefined) o.numClasses = labels.length;
  if (!labels && (o.numClasses !== undefined || o.head !== undefined)) {
    const named = fromConfig ? hfClassifier.labels : labelsFromConfig(raw, file);
    if (saved && named && saved.options.numClasses !== undefined && named.length !== saved.options.numClasses) throw new ConfigError(`${file}: id2label has ${named.length} labels but ${'bert4ts'}.numClasses is ${saved.options.numClasses}`);
    labels = named && (o.numClasses === undefined || named.length === o.numClasses) ? named : o.numClasses !== undefined ? Array.from({ length: o.numClasses }, (_, i) => `LABEL_${i}`) : undefined;
  }
  if (labels && o.numClasses !== undefined && labels.length !== o.numClasses) throw new ConfigError(`buildModel options: ${labels.length} labels for numClasses ${o.numClasses}`);
  // A saved vocabulary is already trimmed: keepTokens records where its rows came from, and selects none.
  let keptTokens = o.keepTokens;
  if (saved?.options.keepTokens) {
    if (explicit.keepTokens && !sameIds(explicit.keepTokens, saved.options.keepTokens)) throw new ConfigError(`${file}: this model's vocabulary is already trimmed to ${saved.options.keepTokens.length} tokens (bert4ts.keepTokens); keepTokens must be omitted or the same list`);
    keptTokens = saved.options.keepTokens;
    delete o.keepTokens;
  }
  const head = o.head !== undefined ? { name: o.head, def: findHead(o.head, file) } : undefined;

  let checkpoint = explicit.checkpoint;
  const dir = typeof config === 'string' ? dirname(file) : undefined;
  const savedWeights = saved && dir !== undefined ? join(dir, saved.weights) : undefined;
  // The saved weights, by default or named (the directory or the file): their own-named extras are restored too.
  const fromSaved = savedWeights !== undefined && (checkpoint === undefined || (typeof checkpoint === 'string' && [resolve(dir!), resolve(savedWeights)].includes(resolve(checkpoint))));
  if (fromSaved) {
    checkpoint = savedWeights;
    if (!existsSync(savedWeights)) throw new FileError(savedWeights, `missing: the weights of the saved model ${dir} (its config.json names ${saved!.weights})`);
  }
  // Weights the config says were trained are required: a fresh head would predict noise silently.
  const sameGraph = saved && application === saved.application && (['numClasses', 'withPool', 'withNsp', 'head'] as const).every((k) => o[k] === saved.options[k]);
  const required = (name: string) => (sameGraph ? true : fromConfig ? /^(classifier|pooler)\//.test(name) : false);

  const store = new VersionedStore(o.seed ?? 0);
  let report: LoadReport | null = null;
  if (checkpoint !== undefined) {
    // Declare the graph once, without initial values, to learn the shape of every weight.
    const probe = new Scope(new ParamStore(), '', { declareOnly: true, dtype: o.dtype });
    buildGraph(def, probe, parsed, familyName, application, o, head);
    const strict = (maps: WeightMapping[]) => maps.map((m) => (m.optional && required(m.ours) ? { ...m, optional: false } : m));
    const maps = { hf: strict(def.weightMap(parsed, application, 'hf', o)), google: strict(def.weightMap(parsed, application, 'google', o)) };
    const headNames = head ? [...probe.declared.keys()].filter((n) => n.startsWith(`${headScopeName(head.name)}/`)) : [];
    const reader = typeof checkpoint === 'string' ? openCheckpoint(checkpoint) : checkpoint;
    try {
      report = loadWeights(reader, {
        maps, own: { names: headNames, required: !!sameGraph }, forced: o.naming ?? (saved ? 'hf' : undefined),
        restore: fromSaved ? saved!.ownNames : undefined,
      }, probe.declared, store);
    } finally {
      if (typeof checkpoint === 'string') reader.close();
    }
  }
  const scope = new Scope(store, '', { dtype: o.dtype as DType | undefined });
  const built = buildGraph(def, scope, parsed, familyName, application, o, head);
  return new Model({
    // The model's own copy: records written into it later (finetune's task settings) never reach the caller's object.
    family: familyName, application, config: parsed, rawConfig: { ...raw }, options: o, store, inputs: built.inputs, outputs: built.outputs,
    loadReport: report, labels, keptTokens, tokenizer: o.tokenizer, definition: def, head,
  });
}
