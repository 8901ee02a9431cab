/**
 * The model directory `Model.save(dir)` writes and `buildModel(dir)` reads back:
 *
 *   config.json        the Hugging Face config (model_type, architectures, num_labels / id2label /
 *                      label2id, vocab_size of a trimmed vocabulary) plus one key of our own,
 *                      "bert4ts": { format, family, application, weights, ownNames, head, numClasses,
 *                      keepTokens, hierarchicalPosition, maxPosition, quantize, ... } — the build options
 *                      that shape the graph (quantize: int8 sessions, from the fp32 weights stored
 *                      here); Hugging Face tools ignore it.
 *   model.safetensors  every weight in the store: Hugging Face names where the family's map has one,
 *                      our own name (listed in ownNames) otherwise, e.g. a custom head's weights.
 *   tokenizer files    saveTokenizer's (vocab.txt / spiece.model / vocab.json + merges.txt /
 *                      tokenizer.json, tokenizer_config.json, keep_tokens.json).
 *
 * A keepTokens model is saved as what it is: a model whose vocabulary has the kept rows (vocab_size =
 * their number); `keepTokens` records their original ids, and the saved tokenizer is the trimmed one.
 * The directory is written beside the target under a temp name and renamed into place only when
 * complete, so a failed save leaves no directory that loads.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from '../util/node/fs.ts';
import { basename, join } from '../util/node/path.ts';
import { writeSafetensors } from '../checkpoint/index.ts';
import { saveTokenizer, type Tokenizer } from '../tokenizers/index.ts';
import { FileError, tempPathFor, writeFileAtomic } from '../util/files.ts';
import type { BuildModelOptions, Model } from './build.ts';
import { ConfigError } from './config.ts';
import { checkAttentionSpec } from '../nn/performer.ts';
import { checkQuantizeOptions } from '../runtime/quantize.ts';

export const SECTION = 'bert4ts';
export const WEIGHTS_FILE = 'model.safetensors';

/** Build options a saved directory records (the ones that shape the graph), with their value kinds. */
const SAVED_OPTIONS = {
  head: 'string', numClasses: 'integer', keepTokens: 'ids', hierarchicalPosition: 'boolean|number', maxPosition: 'integer',
  withPool: 'boolean', withNsp: 'boolean', dropoutRate: 'number', attentionDropoutRate: 'number', attentionKeySize: 'integer', dtype: 'string',
  attention: 'attention', quantize: 'quantize',
} as const satisfies Partial<Record<keyof BuildModelOptions, string>>;
export type SavedOptions = Pick<BuildModelOptions, keyof typeof SAVED_OPTIONS>;
const SECTION_KEYS = ['format', 'family', 'application', 'weights', 'ownNames', ...Object.keys(SAVED_OPTIONS)];

export interface SavedSection {
  family: string;
  application: string;
  /** The weights file, relative to the directory. */
  weights: string;
  /** Tensors stored under our own names (no checkpoint name holds them). */
  ownNames: string[];
  options: SavedOptions;
}

function kindOk(kind: string, v: unknown): boolean {
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'integer': return Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'boolean|number': return typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
    case 'ids': return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
    case 'attention': try { checkAttentionSpec(v); return true; } catch { return false; }
    case 'quantize': try { checkQuantizeOptions(v); return true; } catch { return false; }
    default: return false;
  }
}

/** Split our section off a config (closed key set, checked types); the rest is the family's config. */
export function splitSavedSection(raw: Record<string, unknown>, file: string): { config: Record<string, unknown>; saved?: SavedSection } {
  if (!(SECTION in raw)) return { config: raw };
  const { [SECTION]: section, ...config } = raw;
  const where = `${file}: '${SECTION}'`;
  if (section === null || typeof section !== 'object' || Array.isArray(section)) throw new ConfigError(`${where} must be an object`);
  const s = section as Record<string, unknown>;
  const unknown = Object.keys(s).filter((k) => !SECTION_KEYS.includes(k));
  if (unknown.length) throw new ConfigError(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: ${SECTION_KEYS.join(', ')})`);
  if (s.format !== 1) throw new ConfigError(`${where}.format must be 1, got ${JSON.stringify(s.format)} (a directory written by a newer bert4ts?)`);
  for (const key of ['family', 'application', 'weights'] as const) if (typeof s[key] !== 'string') throw new ConfigError(`${where}.${key} must be a string, got ${JSON.stringify(s[key])}`);
  if (basename(s.weights as string) !== s.weights) throw new ConfigError(`${where}.weights must be a file name in the directory, got ${JSON.stringify(s.weights)}`);
  const ownNames = s.ownNames ?? [];
  if (!Array.isArray(ownNames) || !ownNames.every((n) => typeof n === 'string')) throw new ConfigError(`${where}.ownNames must be an array of tensor names`);
  const options: Record<string, unknown> = {};
  for (const [key, kind] of Object.entries(SAVED_OPTIONS)) {
    if (s[key] === undefined) continue;
    if (!kindOk(kind, s[key])) throw new ConfigError(`${where}.${key} must be ${kind === 'ids' ? 'an array of non-negative integer ids' : kind === 'attention' ? "an attention option such as { kind: 'performer', features: 256 }" : kind === 'quantize' ? "a quantization such as { mode: 'dynamic-int8' } (modes: dynamic-int8, weight-only-int8; embeddings: true|false)" : `a ${kind}`}, got ${JSON.stringify(s[key]).slice(0, 80)}`);
    options[key] = s[key];
  }
  return { config, saved: { family: s.family as string, application: s.application as string, weights: s.weights as string, ownNames, options } };
}

/** Hugging Face model_type and class-name prefix of each family (albert_unshared has no HF class). */
const HF_NAMES: Record<string, [string, string]> = {
  bert: ['bert', 'Bert'], roberta: ['roberta', 'Roberta'], albert: ['albert', 'Albert'], electra: ['electra', 'Electra'],
  gpt2: ['gpt2', 'GPT2'], cpm: ['gpt2', 'GPT2'], t5: ['t5', 'T5'], 't5.1.1': ['t5', 'T5'], mt5: ['mt5', 'MT5'],
};
const ARCHITECTURE: Record<string, string> = {
  encoder: 'Model', mlm: 'ForMaskedLM', nsp: 'ForNextSentencePrediction', tagger: 'ForTokenClassification', lm: 'LMHeadModel',
  discriminator: 'ForPreTraining', generator: 'ForMaskedLM', seq2seq: 'ForConditionalGeneration',
};

/** The Hugging Face part of config.json for `model`, as it now is (labels, vocabulary size, architecture). */
export function hfConfig(model: Model): Record<string, unknown> {
  const c: Record<string, unknown> = { ...model.rawConfig };
  if ('n_vocab' in c) { // OpenAI hparams.json -> Hugging Face GPT-2 keys
    const { n_vocab: vocab, n_ctx: ctx, ...rest } = c;
    Object.assign(rest, { vocab_size: vocab, n_positions: ctx, n_ctx: ctx });
    for (const k of Object.keys(c)) delete c[k];
    Object.assign(c, rest);
  }
  const [modelType, prefix] = HF_NAMES[model.family] ?? [];
  if (c.model_type === undefined && modelType && !model.family.startsWith('t5') && model.family !== 'mt5') c.model_type = modelType;
  if (model.keptTokens) c.vocab_size = model.keptTokens.length;
  delete c.num_labels; delete c.id2label; delete c.label2id;
  const classifier = model.labels && model.application === 'encoder' && model.options.head === undefined;
  if (model.labels) {
    c.num_labels = model.labels.length;
    c.id2label = Object.fromEntries(model.labels.map((l, i) => [String(i), l]));
    c.label2id = Object.fromEntries(model.labels.map((l, i) => [l, i]));
  }
  if (prefix) { // a custom head is ours alone: Hugging Face tools see the trunk
    const suffix = model.options.head !== undefined ? 'Model' : classifier ? 'ForSequenceClassification' : model.application === 'encoder' && model.family.startsWith('t5') ? 'EncoderModel' : ARCHITECTURE[model.application];
    if (suffix) c.architectures = [prefix + suffix];
  }
  return c;
}

/** Our section of config.json. */
function section(model: Model, ownNames: string[]): Record<string, unknown> {
  const s: Record<string, unknown> = { format: 1, family: model.family, application: model.application, weights: WEIGHTS_FILE };
  if (ownNames.length) s.ownNames = ownNames;
  const options = { ...model.options, keepTokens: model.keptTokens } as Record<string, unknown>;
  for (const key of Object.keys(SAVED_OPTIONS)) if (options[key] !== undefined && options[key] !== false) s[key] = options[key];
  return s;
}

function sameIds(a: readonly number[] | undefined, b: readonly number[] | undefined): boolean {
  return a === b || (!!a && !!b && a.length === b.length && a.every((x, i) => x === b[i]));
}

/** A directory `save` may replace: absent, empty, or an earlier save (config.json with our section). */
function checkTarget(dir: string): 'absent' | 'replace' {
  if (!existsSync(dir)) return 'absent';
  if (!statSync(dir).isDirectory()) throw new FileError(dir, 'exists and is not a directory');
  const files = readdirSync(dir);
  if (!files.length) return 'replace';
  let ours = false;
  try {
    ours = files.includes('config.json') && SECTION in JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  } catch { /* not ours */ }
  if (!ours) throw new FileError(dir, 'exists and is not a saved bert4ts model (no config.json with a "bert4ts" key); choose a new directory or remove it');
  return 'replace';
}

export interface SaveOptions {
  /** Saved beside the weights; default: the tokenizer attached to the model (buildModel's `tokenizer` option). */
  tokenizer?: Tokenizer;
}

/** Writes `model` to `dir` (see the file comment); returns the file names written. */
export function saveModel(model: Model, dir: string, options: SaveOptions = {}): string[] {
  const unknown = Object.keys(options ?? {}).filter((k) => k !== 'tokenizer');
  if (unknown.length) throw new ConfigError(`save: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: tokenizer)`);
  const tokenizer = options.tokenizer ?? model.tokenizer;
  if (tokenizer && !sameIds(tokenizer.keepTokens, model.keptTokens)) {
    throw new ConfigError(`save ${dir}: the tokenizer's keepTokens (${tokenizer.keepTokens?.length ?? 'none'}) differ from the model's (${model.keptTokens?.length ?? 'none'}); save the tokenizer the model's vocabulary was trimmed with`);
  }
  const { tensors, ownNames } = model.namedTensors('hf');
  const config = { ...hfConfig(model), [SECTION]: section(model, ownNames) };
  const state = checkTarget(dir);
  const temp = tempPathFor(dir);
  try {
    mkdirSync(temp);
    writeSafetensors(join(temp, WEIGHTS_FILE), tensors, { format: 'pt', bert4ts: '1' });
    const files = [WEIGHTS_FILE, 'config.json'];
    if (tokenizer) files.push(...saveTokenizer(tokenizer, temp));
    writeFileAtomic(join(temp, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    // Swap the complete directory in: the old one (an earlier save) is moved aside, then removed.
    const old = state === 'replace' ? `${temp}.old` : null;
    if (old) renameSync(dir, old);
    renameSync(temp, dir);
    if (old) rmSync(old, { recursive: true, force: true });
    return files;
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    throw e;
  }
}
