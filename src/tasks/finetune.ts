/**
 * Fine-tuning as bert4keras's task examples do it, shared by `bert4ts finetune` and examples/:
 * sentence classification, UniLM seq2seq (title generation), sequence labelling (softmax or CRF)
 * and GlobalPointer spans. Each task is a strategy: how rows become training batches, and how a
 * model's predictions on rows are scored. `finetune` runs the Trainer over it with a dev metric each
 * epoch, keeps the best weights, and scores the test rows.
 *
 * Labelling and span tasks read text one character (code point) per token, as bert4keras's Chinese
 * NER/CWS examples do: tags and spans index characters, with no subword alignment to get wrong.
 */
import { readJsonl, readTsv } from '../data/read.ts';
import { batchIndices } from '../data/batching.ts';
import { sequencePadding } from '../data/padding.ts';
import type { HostTensor } from '../graph/dtype.ts';
import { ViterbiDecoder } from '../nn/crf.ts';
import { decodeSpans } from '../nn/globalPointer.ts';
import { buildModel, modelFamilyOf, type BuildModelOptions, type Model } from '../models/index.ts';
import { crfHead, crfTransitionsWeight, globalPointerHead } from '../models/taskHeads.ts';
import { accuracy, generationScores, spanPRF, tokenPRF } from '../metrics/index.ts';
import { decoderFor, t5GeneratorFor } from '../generation/forModel.ts';
import { T5_FAMILIES, type T5Config } from '../models/t5.ts';
import { beamSearch, greedy, type LengthOptions } from '../generation/decode.ts';
import type { IncrementalLM } from '../generation/causalLM.ts';
import { chooseKeepTokens, loadTokenizer, trimTokenizer, type Tokenizer } from '../tokenizers/index.ts';
import { Trainer, adamW, piecewiseLinear, type TrainingBatch } from '../training/index.ts';
import type { Scope } from '../nn/params.ts';
import { Progress } from '../util/progress.ts';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

export class TaskError extends Error {
  override name = 'TaskError';
}

export type TaskKind = 'classify' | 'seq2seq' | 'tag' | 'spans';
export interface ClassifyRow { text: string; label: string }
export interface Seq2SeqRow { source: string; target: string }
/** One tag per character of `text`. */
export interface TagRow { text: string; tags: string[] }
/** Spans over characters of `text`, `end` exclusive. */
export interface SpanRow { text: string; spans: { start: number; end: number; label: string }[] }

// ---- reading rows --------------------------------------------------------------------------------

/** Column of each field: a 0-based index (TSV without header) or a name (TSV header, JSONL key). */
export type Columns = Partial<Record<'text' | 'label' | 'source' | 'target' | 'tags' | 'spans', string>>;
const FIELDS: Record<TaskKind, (keyof Columns)[]> = { classify: ['text', 'label'], seq2seq: ['source', 'target'], tag: ['text', 'tags'], spans: ['text', 'spans'] };

/**
 * Rows of a task from a TSV (`.tsv`, `.txt`, `.data`, ...) or JSONL (`.jsonl`, `.json`) file; `.gz` too.
 * Spans are character offsets, `end` exclusive: in JSONL an array of `{ start, end, label }`, in either
 * format a string of space-separated `label:start:end` keys (what `spanTask.predict` writes).
 */
export function readTaskRows(kind: 'classify', file: string, columns?: Columns, limit?: number): ClassifyRow[];
export function readTaskRows(kind: 'seq2seq', file: string, columns?: Columns, limit?: number): Seq2SeqRow[];
export function readTaskRows(kind: 'tag', file: string, columns?: Columns, limit?: number): TagRow[];
export function readTaskRows(kind: 'spans', file: string, columns?: Columns, limit?: number): SpanRow[];
export function readTaskRows(kind: TaskKind, file: string, columns?: Columns, limit?: number): (ClassifyRow | Seq2SeqRow | TagRow | SpanRow)[];
export function readTaskRows(kind: TaskKind, file: string, columns: Columns = {}, limit = Infinity): (ClassifyRow | Seq2SeqRow | TagRow | SpanRow)[] {
  const fields = FIELDS[kind];
  const jsonl = /\.jsonl?(\.gz)?$/.test(file);
  const cols = fields.map((f, i) => columns[f] ?? (jsonl ? f : String(i)));
  const numeric = cols.every((c) => /^\d+$/.test(c));
  let records: Record<string, unknown>[];
  if (jsonl) {
    if (numeric) throw new TaskError(`${file}: JSONL columns are keys, not indices (got ${cols.join(', ')})`);
    records = readJsonl(file);
  } else if (numeric) {
    records = readTsv(file, { columns: cols.map(Number) }).map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
  } else {
    if (cols.some((c) => /^\d+$/.test(c))) throw new TaskError(`${file}: name every column or number every column (got ${cols.join(', ')})`);
    records = readTsv(file, { header: true, columns: cols });
  }
  return records.slice(0, limit).map((r, i) => {
    const where = `${file}: row ${i + 1}`;
    const get = (k: number): unknown => {
      const v = r[cols[k]!];
      if (v === undefined) throw new TaskError(`${where}: no '${cols[k]}' (the ${fields[k]} column)`);
      return v;
    };
    const str = (k: number) => {
      const v = get(k);
      if (typeof v !== 'string') throw new TaskError(`${where}: '${cols[k]}' (${fields[k]}) must be a string, got ${JSON.stringify(v)}`);
      return v;
    };
    if (kind === 'classify') return { text: str(0), label: typeof get(1) === 'number' ? String(get(1)) : str(1) };
    if (kind === 'seq2seq') return { source: str(0), target: str(1) };
    if (kind === 'spans') return { text: str(0), spans: readSpans(get(1), [...str(0)].length, `${where}: '${cols[1]}' (spans)`) };
    const text = str(0), raw = get(1);
    const tags = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(/\s+/).filter(Boolean) : null;
    if (!tags) throw new TaskError(`${where}: tags must be a string of space-separated tags or an array`);
    const n = [...text].length;
    if (tags.length !== n) throw new TaskError(`${where}: ${tags.length} tags for ${n} characters (one tag per character)`);
    return { text, tags };
  });
}

/** A row's spans: `{ start, end, label }` objects or `label:start:end` keys, within the text's `n` characters. */
function readSpans(raw: unknown, n: number, where: string): SpanRow['spans'] {
  const items = typeof raw === 'string' ? raw.split(/\s+/).filter(Boolean) : Array.isArray(raw) ? raw : null;
  if (!items) throw new TaskError(`${where}: give an array of { start, end, label } or a string of space-separated label:start:end keys, got ${JSON.stringify(raw).slice(0, 60)}`);
  return items.map((x) => {
    let span: { start: unknown; end: unknown; label: unknown };
    if (typeof x === 'string') {
      const m = /^(.+):(\d+):(\d+)$/.exec(x);
      if (!m) throw new TaskError(`${where}: '${x}' is not a label:start:end key`);
      span = { label: m[1], start: Number(m[2]), end: Number(m[3]) };
    } else if (x !== null && typeof x === 'object' && !Array.isArray(x)) span = x as typeof span;
    else throw new TaskError(`${where}: a span must be { start, end, label } or 'label:start:end', got ${JSON.stringify(x)}`);
    const { start, end, label } = span;
    if (typeof label !== 'string' || !label) throw new TaskError(`${where}: span ${JSON.stringify(x)} has no label`);
    if (!Number.isInteger(start) || !Number.isInteger(end) || (start as number) < 0 || (end as number) <= (start as number) || (end as number) > n) {
      throw new TaskError(`${where}: span ${JSON.stringify(x)} must have integer 0 <= start < end <= ${n} (the text's characters; end exclusive)`);
    }
    return { start: start as number, end: end as number, label };
  });
}

/** The label set: given (checked against every row) or the train rows' labels in first-seen order. */
export function labelSet(sets: { file: string; labels: (string | string[])[] }[], given?: string[]): string[] {
  const labels = given ? [...given] : [...new Set(sets[0]!.labels.flat())];
  const known = new Set(labels);
  for (const { file, labels: ls } of given ? sets : sets.slice(1)) {
    ls.forEach((l, i) => {
      const bad = (Array.isArray(l) ? l : [l]).find((x) => !known.has(x));
      if (bad !== undefined) throw new TaskError(`${file}: row ${i + 1}: label '${bad}' is not in the label set (${labels.join(', ')})`);
    });
  }
  return labels;
}

// ---- tokens --------------------------------------------------------------------------------------

/** One token id per character: the character, lower-cased, or [UNK]. */
export function charIds(tokenizer: Tokenizer, text: string): number[] {
  const unk = tokenizer.specialTokens.unk!.id;
  return [...text].map((c) => tokenizer.tokenToId(c) ?? tokenizer.tokenToId(c.toLowerCase()) ?? unk);
}

function specials(tokenizer: Tokenizer): { cls: number; sep: number } {
  const { cls, sep } = tokenizer.specialTokens;
  if (!cls || !sep) throw new TaskError(`these tasks frame text as [CLS] ... [SEP]; the ${tokenizer.kind} tokenizer has no ${cls ? '[SEP]' : '[CLS]'}`);
  return { cls: cls.id, sep: sep.id };
}

/**
 * The model and tokenizer to fine-tune: a base model directory (`Model.save`'s, or config.json +
 * weights + tokenizer), or a config for random weights with a vocabulary trimmed to the tokens of
 * `corpus` (bert4keras keep_tokens), which makes a small model's embedding and MLM head small.
 */
export async function prepareModel<T extends Task<any>>(o: {
  base?: string; config?: string; vocab?: string; corpus?: Iterable<string>; charLevel?: boolean; seed?: number;
  /** The task, made once the tokenizer (and the model's family) is known; its build options shape the model. */
  task: (tokenizer: Tokenizer, family: string) => T;
}): Promise<{ model: Model; tokenizer: Tokenizer; task: T }> {
  if (o.base) {
    if (!existsSync(o.base) || !statSync(o.base).isDirectory()) throw new TaskError(`base model directory not found: ${o.base}`);
    const config = join(o.base, 'config.json');
    if (!existsSync(config) && !existsSync(join(o.base, 'bert_config.json'))) throw new TaskError(`${o.base}: no config.json (a base model directory holds config.json, the weights and the tokenizer)`);
    const tokenizer = await loadTokenizer(o.base);
    const task = o.task(tokenizer, modelFamilyOf(o.base));
    const model = buildModel(o.base, { ...task.build, checkpoint: o.base, keepTokens: tokenizer.keepTokens, seed: o.seed, tokenizer });
    return { model, tokenizer, task };
  }
  if (!o.config || !o.vocab) throw new TaskError('give a base model directory, or a config and a vocabulary for random weights');
  let tokenizer = await loadTokenizer(o.vocab);
  if (o.corpus) {
    const texts = [...o.corpus];
    const keep = o.charLevel
      ? chooseKeepTokens(tokenizer, { tokens: [...new Set(texts.flatMap((t) => charIds(tokenizer, t)))].map((id) => tokenizer.idToToken(id)) })
      : chooseKeepTokens(tokenizer, { corpus: texts });
    tokenizer = trimTokenizer(tokenizer, keep);
  }
  const task = o.task(tokenizer, modelFamilyOf(o.config));
  const model = buildModel(o.config, { ...task.build, keepTokens: tokenizer.keepTokens, seed: o.seed ?? 0, tokenizer });
  return { model, tokenizer, task };
}

// ---- tasks ---------------------------------------------------------------------------------------

export interface Task<R> {
  /** Build options of the model this task trains (application, classes, head). */
  readonly build: BuildModelOptions;
  /** How rows are framed, recorded in the model by `finetune` (see `recordTaskSettings`). */
  readonly settings?: TaskSettings;
  /** The dev metric that picks the best weights (larger is better). */
  readonly monitor: string;
  collate(rows: R[]): TrainingBatch;
  /** Metrics of the model on rows (the monitor among them). */
  evaluate(model: Model, rows: R[]): Promise<Record<string, number>>;
  /** The model's prediction per row (a label, one tag per character, the spans, a text); evaluate scores these. */
  predict?(model: Model, rows: R[]): Promise<Prediction[]>;
  /** The metrics of predictions on rows, as evaluate reports them. */
  score?(rows: R[], predictions: Prediction[]): Record<string, number>;
}

/**
 * What a model was fine-tuned as: the task kind and the settings that frame its rows. `finetune`
 * records it in the model's config under Hugging Face's own keys (`finetuning_task`: the kind;
 * `task_specific_params[kind]`: the rest), so `Model.save` writes it to config.json and
 * `bert4ts evaluate` reads test rows as training did. The head's sizes (a CRF's length, GlobalPointer's
 * types) are in the head's name, not here.
 */
export interface TaskSettings {
  task: TaskKind;
  /** Tokens per row, [CLS] and [SEP] included (a T5 source: tokens before `</s>`). */
  maxlen: number;
  /** seq2seq: target tokens, the beam of the dev/test decoding (absent: greedy), and its no-repeat n-gram size (absent: off). */
  maxTarget?: number;
  beam?: number;
  noRepeatNgram?: number;
  /** tag: the tag outside any entity. */
  outside?: string;
}
export const TASK_KINDS: readonly TaskKind[] = ['classify', 'seq2seq', 'tag', 'spans'];

/** Record `settings` in `model`'s config (written to config.json by `Model.save`). */
export function recordTaskSettings(model: Model, settings: TaskSettings): void {
  const { task, ...params } = settings;
  const c = model.rawConfig, previous = c.task_specific_params;
  c.finetuning_task = task;
  c.task_specific_params = { ...(previous !== null && typeof previous === 'object' && !Array.isArray(previous) ? previous : {}), [task]: params };
}

/**
 * The settings `finetune` recorded in a model's config (`where` names it in errors), or undefined when
 * there are none: a model saved before they were recorded, or a Hugging Face config whose
 * `finetuning_task` is another library's name (such as 'sst-2').
 */
export function recordedTaskSettings(model: Model, where = 'config.json'): TaskSettings | undefined {
  const task = model.rawConfig.finetuning_task;
  if (typeof task !== 'string' || !TASK_KINDS.includes(task as TaskKind)) return undefined;
  const all = model.rawConfig.task_specific_params as Record<string, unknown> | undefined;
  const p = all !== null && typeof all === 'object' ? all[task] as Record<string, unknown> | undefined : undefined;
  const at = `${where}: task_specific_params.${task}`;
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new TaskError(`${at} must be an object with the settings of finetuning_task '${task}' (maxlen, ...), got ${JSON.stringify(p)}`);
  const int = (k: string, min: number, required: boolean) => {
    const v = p[k];
    if (v === undefined && !required) return undefined;
    if (!Number.isInteger(v) || (v as number) < min) throw new TaskError(`${at}.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const unknown = Object.keys(p).filter((k) => !['maxlen', 'maxTarget', 'beam', 'noRepeatNgram', 'outside'].includes(k));
  if (unknown.length) throw new TaskError(`${at}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: maxlen, maxTarget, beam, noRepeatNgram, outside)`);
  if (p.outside !== undefined && typeof p.outside !== 'string') throw new TaskError(`${at}.outside must be a tag name, got ${JSON.stringify(p.outside)}`);
  const s: TaskSettings = { task: task as TaskKind, maxlen: int('maxlen', 4, true)! };
  const [maxTarget, beam, noRepeatNgram] = [int('maxTarget', 1, false), int('beam', 1, false), int('noRepeatNgram', 1, false)];
  if (maxTarget !== undefined) s.maxTarget = maxTarget;
  if (beam !== undefined) s.beam = beam;
  if (noRepeatNgram !== undefined) s.noRepeatNgram = noRepeatNgram;
  if (p.outside !== undefined) s.outside = p.outside as string;
  return s;
}

/** A row's prediction: one value (label, span list, text), or one per character (tags). */
export type Prediction = string | string[];

const chunks = <T>(xs: T[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, (i + 1) * n));
const argmaxRows = (data: ArrayLike<number>, offset: number, n: number) => {
  let best = 0;
  for (let j = 1; j < n; j++) if (data[offset + j]! > data[offset + best]!) best = j;
  return best;
};

/** Sentence classification: [CLS] text [SEP] -> the pooler's classifier (bert4keras task_sentiment_albert). */
export function classifyTask(tokenizer: Tokenizer, labels: string[], maxlen: number): Task<ClassifyRow> {
  const index = new Map(labels.map((l, i) => [l, i]));
  const feeds = (rows: ClassifyRow[]) => {
    const e = tokenizer.encodeBatch(rows.map((r) => r.text), { maxlen });
    return { input_ids: e.ids, token_type_ids: e.segments, attention_mask: e.attentionMask };
  };
  const task: Task<ClassifyRow> = {
    build: { application: 'encoder', numClasses: labels.length, labels },
    settings: { task: 'classify', maxlen },
    monitor: 'accuracy',
    collate: (rows) => ({ ...feeds(rows), labels: rows.map((r) => index.get(r.label)!) }),
    async predict(model, rows) {
      const predicted: string[] = [];
      for (const part of chunks(rows, 64)) {
        const logits = (await model.predict(feeds(part), { outputs: ['logits'] })).logits!;
        part.forEach((_, i) => predicted.push(labels[argmaxRows(logits.data as Float32Array, i * labels.length, labels.length)]!));
      }
      return predicted;
    },
    score: (rows, predicted) => ({ accuracy: accuracy(rows.map((r) => index.get(r.label)!), predicted.map((l) => index.get(l as string)!)) }),
    async evaluate(model, rows) {
      return task.score!(rows, await task.predict!(model, rows));
    },
  };
  return task;
}

/** A seq2seq task's lengths and decoding: `beam` > 1 decodes by beam search, `noRepeatNgram` never repeats a generated n-gram. */
export interface Seq2SeqOptions { maxlen: number; maxTarget?: number; beam?: number; noRepeatNgram?: number }

/**
 * UniLM seq2seq (bert4keras task_seq2seq_autotitle): [CLS] source [SEP] target [SEP] with segment
 * 1 on the target, whose tokens (and the final [SEP]) are the labels; the source is cut to fit
 * `maxlen`, the target to `maxTarget` tokens. Scored by decoding from [CLS] source [SEP] to [SEP]
 * (greedy, or beam search with `beam` > 1) with bert4keras's character-level ROUGE and BLEU.
 */
export function seq2seqTask(tokenizer: Tokenizer, o: Seq2SeqOptions): Task<Seq2SeqRow> & {
  generate(model: Model, sources: string[], beam?: number): Promise<string[]>;
} {
  const { cls, sep } = specials(tokenizer);
  const maxTarget = o.maxTarget ?? 32;
  const ids = (text: string) => tokenizer.encode(text, undefined, { addSpecialTokens: false }).ids;
  const prompt = (source: string, targetLen = maxTarget) => [cls, ...ids(source).slice(0, Math.max(1, o.maxlen - targetLen - 3)), sep];
  const task = {
    build: { application: 'unilm' },
    settings: seq2seqSettings(o),
    monitor: 'rouge-l',
    collate(rows: Seq2SeqRow[]) {
      const seqs = rows.map((r) => {
        const target = [...ids(r.target).slice(0, maxTarget), sep];
        const source = prompt(r.source, target.length - 1);
        return { ids: [...source, ...target], segments: [...source.map(() => 0), ...target.map(() => 1)], labels: [...source.map(() => -100), ...target] };
      });
      const pad = (k: 'ids' | 'segments' | 'labels', value: number) => sequencePadding(seqs.map((s) => s[k]), { value });
      return { input_ids: pad('ids', 0), token_type_ids: pad('segments', 0), attention_mask: sequencePadding(seqs.map((s) => s.ids.map(() => 1))), labels: pad('labels', -100) };
    },
    /** Decoded targets, [SEP] (and anything after it) dropped. */
    async generate(model: Model, sources: string[], beam = o.beam ?? 1): Promise<string[]> {
      const lm = decoderFor(model); // compiled over the weights in the store now
      const out: string[] = [];
      const length = { maxNewTokens: maxTarget + 1, endIds: [sep], noRepeatNgramSize: o.noRepeatNgram };
      for (const part of chunks(sources, beam > 1 ? 8 : 32)) out.push(...await decodeTexts(tokenizer, lm, part.map((s) => prompt(s)), beam, length));
      return out;
    },
    ...generationScoring((model: Model, sources: string[]): Promise<string[]> => task.generate(model, sources)),
  };
  return task;
}

const seq2seqSettings = (o: Seq2SeqOptions): TaskSettings => {
  if (o.noRepeatNgram !== undefined && !(Number.isInteger(o.noRepeatNgram) && o.noRepeatNgram >= 1)) throw new TaskError(`noRepeatNgram must be an integer >= 1 (the n-gram length never repeated), got ${o.noRepeatNgram}`);
  return {
    task: 'seq2seq', maxlen: o.maxlen, maxTarget: o.maxTarget ?? 32, ...(o.beam !== undefined && o.beam > 1 ? { beam: o.beam } : {}), ...(o.noRepeatNgram !== undefined ? { noRepeatNgram: o.noRepeatNgram } : {}),
  };
};

/** Greedy (beam 1) or beam-search continuations of `prompts`, each cut at its first end id, as text without spaces. */
async function decodeTexts(tokenizer: Tokenizer, lm: IncrementalLM, prompts: number[][], beam: number, length: LengthOptions & { endIds: number[] }): Promise<string[]> {
  const gen = beam > 1 ? (await beamSearch(lm, prompts, { ...length, beamSize: beam })).map((h) => h[0]!.ids) : await greedy(lm, prompts, length);
  const end = length.endIds[0]!;
  return gen.map((g) => tokenizer.decode(g.includes(end) ? g.slice(0, g.indexOf(end)) : g).replace(/ /g, ''));
}

/** predict / score / evaluate of a seq2seq task: its generated texts scored by character ROUGE and BLEU. */
function generationScoring(generate: (model: Model, sources: string[]) => Promise<string[]>) {
  const scoring = {
    predict: (model: Model, rows: Seq2SeqRow[]): Promise<Prediction[]> => generate(model, rows.map((r) => r.source)),
    score: (rows: Seq2SeqRow[], predictions: Prediction[]) => ({ ...generationScores(predictions as string[], rows.map((r) => r.target)) }) as Record<string, number>,
    async evaluate(model: Model, rows: Seq2SeqRow[]) {
      return scoring.score(rows, await scoring.predict(model, rows));
    },
  };
  return scoring;
}

/**
 * Encoder-decoder seq2seq (T5, T5.1.1, mT5; bert4keras task_seq2seq_autotitle_csl_mt5): the source
 * and `</s>` are encoded; the decoder reads the start token and the target and predicts the target
 * and `</s>`. Scored as `seq2seqTask` is: decoded (greedy, or beam search with `beam` > 1) up to
 * `</s>`, with bert4keras's character-level ROUGE and BLEU. The source is cut to `maxlen` − 1
 * tokens, the target to `maxTarget`.
 */
export function t5Seq2SeqTask(tokenizer: Tokenizer, o: Seq2SeqOptions): Task<Seq2SeqRow> & {
  generate(model: Model, sources: string[], beam?: number): Promise<string[]>;
} {
  const eos = tokenizer.specialTokens.eos?.id;
  if (eos === undefined) throw new TaskError(`a T5 seq2seq task ends sequences with </s>; the ${tokenizer.kind} tokenizer has none`);
  const pad = tokenizer.specialTokens.pad?.id ?? 0;
  const maxTarget = o.maxTarget ?? 32;
  const ids = (text: string) => tokenizer.encode(text, undefined, { addSpecialTokens: false }).ids;
  const source = (text: string) => [...ids(text).slice(0, Math.max(1, o.maxlen - 1)), eos];
  const task = {
    build: { application: 'seq2seq' },
    settings: seq2seqSettings(o),
    monitor: 'rouge-l',
    collate(rows: Seq2SeqRow[]) {
      const sources = rows.map((r) => source(r.source));
      const targets = rows.map((r) => [...ids(r.target).slice(0, maxTarget), eos]);
      return {
        input_ids: sequencePadding(sources, { value: pad }), attention_mask: sequencePadding(sources.map((s) => s.map(() => 1))),
        decoder_input_ids: sequencePadding(targets.map((t) => [pad, ...t.slice(0, -1)]), { value: pad }), // T5 starts decoding from the pad id
        labels: sequencePadding(targets, { value: -100 }),
      };
    },
    /** Decoded targets, `</s>` (and anything after it) dropped. */
    async generate(model: Model, sources: string[], beam = o.beam ?? 1): Promise<string[]> {
      if (!T5_FAMILIES.includes(model.family)) throw new TaskError(`a T5 seq2seq task decodes a T5 / mT5 model, not ${model.family}`);
      const c = model.config as T5Config;
      const t5 = t5GeneratorFor(model);
      const length = { maxNewTokens: maxTarget + 1, endIds: [c.eosTokenId], noRepeatNgramSize: o.noRepeatNgram };
      const out: string[] = [];
      for (const part of chunks(sources, beam > 1 ? 8 : 32)) {
        const lm = await t5.encode(part.map(source)); // compiled over the weights in the store now
        out.push(...await decodeTexts(tokenizer, lm, part.map(() => [c.decoderStartTokenId]), beam, length));
      }
      return out;
    },
    ...generationScoring((model: Model, sources: string[]): Promise<string[]> => task.generate(model, sources)),
  };
  return task;
}

/** The seq2seq task for a model family: encoder-decoder for T5 / mT5, UniLM for the BERT-shaped families. */
export function seq2seqTaskFor(family: string, tokenizer: Tokenizer, o: Seq2SeqOptions): ReturnType<typeof seq2seqTask> {
  return T5_FAMILIES.includes(family) ? t5Seq2SeqTask(tokenizer, o) : seq2seqTask(tokenizer, o);
}

/**
 * Sequence labelling, one tag per character: a softmax per token (application 'tagger'), or with
 * `crf` a CRF over the same emissions decoded by Viterbi (bert4keras task_sequence_labeling_ner_crf).
 * Scored by micro precision/recall/F1 over the tags other than `outside` (token level) and, for
 * BIO tags, span level.
 */
export function tagTask(tokenizer: Tokenizer, labels: string[], o: { maxlen: number; crf?: boolean; outside?: string }): Task<TagRow> {
  const { cls, sep } = specials(tokenizer);
  const index = new Map(labels.map((l, i) => [l, i]));
  const outside = o.outside ?? 'O';
  const bio = labels.some((l) => /^[BI]-/.test(l));
  const head = o.crf ? crfHead(o.maxlen, labels.length) : undefined;
  const cut = (r: TagRow) => [...r.text].slice(0, o.maxlen - 2);
  const feeds = (rows: TagRow[]) => {
    const seqs = rows.map((r) => [cls, ...charIds(tokenizer, cut(r).join('')), sep]);
    // The CRF's recursion is unrolled over a static length: pad every batch to maxlen.
    const length = o.crf ? o.maxlen : undefined;
    return { input_ids: sequencePadding(seqs, { length }), attention_mask: sequencePadding(seqs.map((s) => s.map(() => 1)), { length }) };
  };
  const task: Task<TagRow> = {
    build: { application: 'tagger', numClasses: labels.length, labels, head },
    settings: { task: 'tag', maxlen: o.maxlen, outside },
    monitor: 'f1',
    collate(rows) {
      const f = feeds(rows);
      const edge = o.crf ? index.get(outside) ?? 0 : -100; // the CRF scores [CLS]/[SEP] as outside; softmax ignores them
      const tagIds = rows.map((r) => [edge, ...r.tags.slice(0, o.maxlen - 2).map((t) => index.get(t)!), edge]);
      return { ...f, labels: sequencePadding(tagIds, { length: f.input_ids[0]!.length, value: o.crf ? 0 : -100 }) };
    },
    async predict(model, rows) {
      const predicted: string[][] = [];
      const viterbi = head ? new ViterbiDecoder(model.store.get(crfTransitionsWeight(head))!) : undefined;
      for (const part of chunks(rows, 64)) {
        const logits = (await model.predict(feeds(part), { outputs: ['logits'] })).logits!;
        const [, T, L] = logits.shape as [number, number, number];
        part.forEach((r, i) => {
          const n = cut(r).length;
          const path = viterbi ? viterbi.decode(logits.data as Float32Array, n + 2, i * T * L).slice(1, n + 1)
            : Array.from({ length: n }, (_, t) => argmaxRows(logits.data as Float32Array, (i * T + t + 1) * L, L));
          predicted.push(path.map((k) => labels[k]!));
        });
      }
      return predicted;
    },
    async evaluate(model, rows) {
      return task.score!(rows, await task.predict!(model, rows));
    },
    score(rows, predictions) {
      const truth = rows.map((r) => r.tags.slice(0, cut(r).length)), predicted = predictions as string[][];
      const tokens = tokenPRF(truth, predicted, { ignore: [outside] }).micro;
      const metrics: Record<string, number> = { f1: tokens.f1, precision: tokens.precision, recall: tokens.recall };
      if (bio) metrics.span_f1 = spanPRF(truth, predicted).micro.f1;
      return metrics;
    },
  };
  return task;
}

/**
 * Span extraction with GlobalPointer (bert4keras task_sequence_labeling_ner_global_pointer): every
 * (start, end) pair of characters is scored per type and spans scoring > 0 are predicted. Scored by
 * micro span precision/recall/F1 (type, start and end must match).
 */
export function spanTask(tokenizer: Tokenizer, types: string[], o: { maxlen: number; headSize?: number }): Task<SpanRow> {
  const { cls, sep } = specials(tokenizer);
  const index = new Map(types.map((l, i) => [l, i]));
  const n = (r: SpanRow) => Math.min([...r.text].length, o.maxlen - 2);
  const inside = (r: SpanRow) => r.spans.filter((s) => s.end <= n(r)); // spans cut by maxlen are dropped
  const feeds = (rows: SpanRow[]) => {
    const seqs = rows.map((r) => [cls, ...charIds(tokenizer, [...r.text].slice(0, n(r)).join('')), sep]);
    return { input_ids: sequencePadding(seqs), attention_mask: sequencePadding(seqs.map((s) => s.map(() => 1))) };
  };
  const key = (s: { start: number; end: number; label: string }) => `${s.label}:${s.start}:${s.end}`;
  const task: Task<SpanRow> = {
    build: { application: 'encoder', head: globalPointerHead(types.length, o.headSize), labels: types },
    settings: { task: 'spans', maxlen: o.maxlen },
    monitor: 'f1',
    collate(rows) {
      const f = feeds(rows);
      const T = f.input_ids[0]!.length, H = types.length;
      const labels = new BigInt64Array(rows.length * H * T * T);
      rows.forEach((r, b) => { for (const s of inside(r)) labels[((b * H + index.get(s.label)!) * T + s.start + 1) * T + s.end] = 1n; }); // +1: [CLS]; end inclusive
      const tensor: HostTensor = { dtype: 'int64', shape: [rows.length, H, T, T], data: labels };
      return { ...f, labels: tensor };
    },
    /** Each row's spans as one string of sorted `label:start:end` keys (empty: none). */
    async predict(model, rows) {
      const out: string[] = [];
      for (const part of chunks(rows, 32)) {
        const logits = (await model.predict(feeds(part), { outputs: ['logits'] })).logits!;
        const found = decodeSpans(logits).map((s) => ({ b: s.batch, s: { start: s.start - 1, end: s.end, label: types[s.head]! } }));
        part.forEach((r, b) => out.push(found.filter((f) => f.b === b && f.s.start >= 0 && f.s.end <= n(r)).map((f) => key(f.s)).sort().join(' ')));
      }
      return out;
    },
    async evaluate(model, rows) {
      return task.score!(rows, await task.predict!(model, rows));
    },
    score(rows, predictions) {
      let tp = 0, predicted = 0, actual = 0;
      rows.forEach((r, i) => {
        const gold = new Set(inside(r).map(key));
        const mine = (predictions[i] as string).split(' ').filter(Boolean);
        actual += gold.size;
        predicted += mine.length;
        tp += mine.filter((k) => gold.has(k)).length;
      });
      const precision = predicted ? tp / predicted : 0, recall = actual ? tp / actual : 0;
      return { f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0, precision, recall };
    },
  };
  return task;
}

// ---- the loop ------------------------------------------------------------------------------------

export interface FinetuneOptions<R> {
  model: Model;
  task: Task<R>;
  train: R[];
  dev: R[];
  test?: R[];
  epochs: number;
  batchSize: number;
  lr: number;
  seed?: number;
  /** Warm-up steps of the piecewise-linear schedule (default: 10% of the first epoch). */
  warmup?: number;
  /** Score at most this many dev rows each epoch (generation is slow); the test set is scored whole. */
  devLimit?: number;
  progress?: boolean;
  /** Called after the best weights are back in the store, before the test set is scored. */
  log?: (line: string) => void;
}

export interface FinetuneResult {
  /** Dev metrics of each epoch. */
  evals: Record<string, number>[];
  best: { epoch: number; value: number } | undefined;
  dev: Record<string, number>;
  test?: Record<string, number>;
  seconds: number;
}

/**
 * Train `task` for `epochs` over `train` (shuffled by `seed`), score `dev` after each epoch, put the
 * weights of the best dev epoch back (by the task's monitor), and score dev and test with them. The
 * task's settings are recorded in the model (`recordTaskSettings`), so a saved model says how to score it.
 */
export async function finetune<R>(o: FinetuneOptions<R>): Promise<FinetuneResult> {
  const started = Date.now();
  const { model, task } = o;
  if (!o.train.length) throw new TaskError('no training rows');
  if (!o.dev.length) throw new TaskError('no dev rows: the best weights are chosen by the dev metric');
  if (task.settings) recordTaskSettings(model, task.settings);
  const perEpoch = Math.ceil(o.train.length / o.batchSize);
  const steps = perEpoch * o.epochs;
  const warmup = o.warmup ?? Math.max(1, Math.round(perEpoch / 10));
  const trainer = await Trainer.create({
    store: model.store, loss: (s: Scope) => model.loss(s), clipNorm: 1, seed: o.seed ?? 0,
    optimizer: adamW(piecewiseLinear(o.lr, { [warmup]: 1, [steps]: 0.1 })), // warm up, then decay linearly to lr/10
  });
  const batches = function* () {
    for (let e = 0; e < o.epochs; e++) for (const idx of batchIndices(o.train.length, { batchSize: o.batchSize, seed: o.seed ?? 0, epoch: e })) yield task.collate(idx.map((i) => o.train[i]!));
  };
  const devRows = o.dev.slice(0, o.devLimit ?? o.dev.length);
  const fit = await trainer.fit({
    batches: batches(), steps, evalEvery: perEpoch,
    evaluate: async () => task.evaluate(model, devRows),
    monitor: task.monitor, mode: 'max', restoreBest: true,
    progress: o.progress === false ? false : new Progress({ label: 'finetune', total: steps, unit: 'step' }),
  });
  const best = fit.best ? { epoch: fit.best.step / perEpoch, value: fit.best.value } : undefined;
  if (best) o.log?.(`best dev ${task.monitor} ${best.value.toFixed(4)} after epoch ${best.epoch}`);
  const dev = await task.evaluate(model, o.dev);
  const test = o.test?.length ? await task.evaluate(model, o.test) : undefined;
  return { evals: fit.evals, best, dev, test, seconds: (Date.now() - started) / 1000 };
}

/** Metrics as `name value` pairs with 4 decimals, for logs and example output. */
export const formatMetrics = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ');
