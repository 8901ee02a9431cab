/**
 * The test metric of a fine-tuned model, fp32 and quantized, side by side: what int8 costs on the
 * task, not only on logits. Used by `bert4ts evaluate`, the task examples' `--quantize` and
 * bench/int8-tasks.ts. Every mode runs the same model over the same rows; quantized modes share the
 * fp32 weight store (a CRF's transitions, read on the host, stay fp32), only the sessions differ.
 * Beside the metric, how often int8 predicts exactly what fp32 does: a metric can hold while
 * predictions move (and on a weak model it says little).
 */
import { quantize, type Model } from '../models/index.ts';
import { isCrfHead, isGlobalPointerHead } from '../models/taskHeads.ts';
import { T5_FAMILIES } from '../models/t5.ts';
import { QUANTIZE_MODES, type QuantizeMode } from '../runtime/quantize.ts';
import type { Tokenizer } from '../tokenizers/index.ts';
import {
  TaskError, classifyTask, labelSet, readTaskRows, recordedTaskSettings, seq2seqTaskFor, spanTask, tagTask,
  type Columns, type Prediction, type SpanRow, type TagRow, type Task, type TaskKind, type TaskSettings,
} from './finetune.ts';

/** 'fp32' (the model as saved, unquantized) or a quantization mode. */
export type EvalMode = 'fp32' | QuantizeMode;
export const EVAL_MODES: readonly EvalMode[] = ['fp32', ...QUANTIZE_MODES];

/** Modes from a comma-separated list such as 'fp32,dynamic-int8' ('all': every mode). */
export function parseEvalModes(spec: string, what = '--quantize'): EvalMode[] {
  if (spec.trim() === 'all') return [...EVAL_MODES];
  const modes = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!modes.length) throw new TaskError(`${what}: give one or more of ${EVAL_MODES.join(', ')} (comma-separated), or all`);
  const bad = modes.find((m) => !EVAL_MODES.includes(m as EvalMode));
  if (bad !== undefined) throw new TaskError(`${what}: unknown mode '${bad}' (valid: ${EVAL_MODES.join(', ')}, or all)`);
  return [...new Set(modes)] as EvalMode[];
}

/** The model in a mode: fp32 drops any quantization the saved config records. */
export function modelIn(model: Model, mode: EvalMode, o: { embeddings?: boolean } = {}): Model {
  return mode === 'fp32' ? quantize(model, null) : quantize(model, { mode, ...(o.embeddings ? { embeddings: true } : {}) });
}

export interface ModeScore {
  mode: EvalMode;
  metrics: Record<string, number>;
  seconds: number;
  /**
   * Against fp32's predictions (when fp32 is among the modes and the task has predict): the share of
   * rows predicted exactly alike, and for per-character predictions (tags) the share of characters.
   */
  agreement?: { rows: number; items?: number };
}

/** The task's metric of the model in each mode, in order, with its wall time and its agreement with fp32. */
export async function evaluateModes<R>(model: Model, modes: readonly EvalMode[], task: Pick<Task<R>, 'evaluate' | 'predict' | 'score'>, rows: R[], o: { embeddings?: boolean } = {}): Promise<ModeScore[]> {
  const scores: ModeScore[] = [];
  const predictions = new Map<EvalMode, Prediction[]>();
  for (const mode of modes) {
    const started = performance.now();
    const m = modelIn(model, mode, o);
    let metrics: Record<string, number>;
    if (task.predict && task.score) {
      const p = await task.predict(m, rows);
      predictions.set(mode, p);
      metrics = task.score(rows, p);
    } else metrics = await task.evaluate(m, rows);
    scores.push({ mode, metrics, seconds: (performance.now() - started) / 1000 });
  }
  const reference = predictions.get('fp32');
  if (reference) for (const s of scores) if (s.mode !== 'fp32') s.agreement = agreement(reference, predictions.get(s.mode)!);
  return scores;
}

function agreement(a: Prediction[], b: Prediction[]): { rows: number; items?: number } {
  let rows = 0, items = 0, total = 0;
  const perItem = a.every((x, i) => Array.isArray(x) && Array.isArray(b[i]) && x.length === b[i]!.length);
  a.forEach((x, i) => {
    const y = b[i]!;
    if (perItem) {
      const xs = x as string[], ys = y as string[];
      const same = xs.reduce((n, v, j) => n + (v === ys[j] ? 1 : 0), 0);
      items += same;
      total += xs.length;
      if (same === xs.length) rows++;
    } else if (x === y) rows++;
  });
  return perItem ? { rows: rows / a.length, items: total ? items / total : 1 } : { rows: rows / a.length };
}

// ---- the task of a saved model -------------------------------------------------------------------

/** What a saved model is scored as: the fine-tuning task kinds, the CRF tagger apart (its length is fixed). */
export type ModelTaskKind = 'classify' | 'tag' | 'tag-crf' | 'spans' | 'seq2seq';

/** A value given for a setting (--maxlen, ...) that this model cannot take: the CLI's usage errors. */
export class EvalOptionError extends TaskError {
  override name = 'EvalOptionError';
}

export interface ModelTask {
  kind: ModelTaskKind;
  task: Task<any>;
  /** The settings the rows are framed with: given, else recorded by `finetune`, else the defaults. */
  settings: TaskSettings;
  /** Whether the model records its fine-tuning settings (config.json finetuning_task). */
  recorded: boolean;
  /** What the reader should know (a default used in place of a record). */
  notes: string[];
}

const DESCRIBE: Record<ModelTaskKind, string> = {
  classify: 'classifier', tag: 'softmax tagger', 'tag-crf': 'CRF tagger', spans: 'GlobalPointer span model', seq2seq: 'seq2seq model',
};
const ROWS: Record<ModelTaskKind, TaskKind> = { classify: 'classify', tag: 'tag', 'tag-crf': 'tag', spans: 'spans', seq2seq: 'seq2seq' };

/** The task kind of a model, from its application and head; an error naming them when it is no task model. */
export function modelTaskKind(model: Model, where = 'the model'): ModelTaskKind {
  const { application: app, family } = model, head = model.options.head;
  if (app === 'unilm' || (app === 'seq2seq' && T5_FAMILIES.includes(family))) return 'seq2seq';
  if (app === 'tagger' && head === undefined) return 'tag';
  if (app === 'tagger' && isCrfHead(head)) return 'tag-crf';
  if (app === 'encoder' && isGlobalPointerHead(head)) return 'spans';
  if (app === 'encoder' && head === undefined && model.labels) return 'classify';
  throw new TaskError(`${where}: a ${family} ${app} model${head !== undefined ? ` with head '${head}'` : ''} is none of the models bert4ts fine-tunes `
    + '(a classifier, a softmax or CRF tagger, a GlobalPointer span model, a UniLM or T5 seq2seq model); nothing to score');
}

/**
 * The task that scores `model` as its fine-tuning scored it: the kind from the model, the settings
 * (maxlen, seq2seq's target length and beam, the outside tag) from what `finetune` recorded in its
 * config, each overridable. `where` (the directory) names it in errors.
 */
export function taskForModel(model: Model, tokenizer: Tokenizer, o: { maxlen?: number; maxTarget?: number; beam?: number; noRepeatNgram?: number; where?: string } = {}): ModelTask {
  const where = o.where ?? 'the model';
  const kind = modelTaskKind(model, where);
  const record = recordedTaskSettings(model, `${where}/config.json`);
  if (record && record.task !== ROWS[kind]) throw new TaskError(`${where}: config.json records finetuning_task '${record.task}', but the model is a ${DESCRIBE[kind]} (${model.family} ${model.application}${model.options.head ? `, head ${model.options.head}` : ''}); fix or remove finetuning_task`);
  const notes: string[] = [];
  const head = model.options.head, positions = model.maxTokens;
  let maxlen: number, from: string;
  if (kind === 'tag-crf') {
    maxlen = Number(/^crf-(\d+)x/.exec(head!)![1]);
    from = `the CRF's length ${maxlen}`;
    if (o.maxlen !== undefined && o.maxlen !== maxlen) throw new EvalOptionError(`--maxlen ${o.maxlen}: this CRF tagger (${head}) is unrolled over ${maxlen} tokens; leave --maxlen out`);
  } else if (o.maxlen !== undefined) [maxlen, from] = [o.maxlen, `--maxlen ${o.maxlen}`];
  else if (record) [maxlen, from] = [record.maxlen, `maxlen ${record.maxlen} (recorded in config.json)`];
  else {
    maxlen = Math.min(128, positions ?? 128);
    from = `maxlen ${maxlen} (the default)`;
    notes.push(`${where}: config.json records no fine-tuning settings (no finetuning_task: saved before bert4ts recorded them, or fine-tuned elsewhere); using maxlen ${maxlen}${maxlen === 128 ? ", bert4ts finetune's default" : ", the model's positions"}: give --maxlen if it was fine-tuned with another`);
  }
  if (!Number.isInteger(maxlen) || maxlen < 4) throw new EvalOptionError(`${from}: maxlen must be an integer >= 4 ([CLS], [SEP] and some text)`);
  if (positions !== undefined && maxlen > positions) throw new EvalOptionError(`${from}: this model has ${positions} positions; give --maxlen ${positions} or less`);
  const settings: TaskSettings = { task: ROWS[kind], maxlen };
  const labels = model.labels;
  let task: Task<any>;
  if (kind === 'seq2seq') {
    settings.maxTarget = o.maxTarget ?? record?.maxTarget ?? 32;
    settings.beam = o.beam ?? record?.beam ?? 1;
    const noRepeatNgram = o.noRepeatNgram ?? record?.noRepeatNgram;
    if (noRepeatNgram !== undefined) settings.noRepeatNgram = noRepeatNgram;
    if (model.application === 'unilm' && settings.maxTarget + 3 >= maxlen) throw new EvalOptionError(`max target length ${settings.maxTarget} leaves no room for the source in ${from} ([CLS] source [SEP] target [SEP])`);
    task = seq2seqTaskFor(model.family, tokenizer, { maxlen, maxTarget: settings.maxTarget, beam: settings.beam, noRepeatNgram });
  } else {
    if (!labels) throw new TaskError(`${where}: the saved ${DESCRIBE[kind]} records no labels (config.json id2label)`);
    if (kind === 'classify') task = classifyTask(tokenizer, labels, maxlen);
    else if (kind === 'spans') task = spanTask(tokenizer, labels, { maxlen, headSize: Number(/x(\d+)$/.exec(head!)![1]) });
    else {
      settings.outside = record?.outside ?? 'O';
      task = tagTask(tokenizer, labels, { maxlen, crf: kind === 'tag-crf', outside: settings.outside });
    }
  }
  return { kind, task, settings, recorded: record !== undefined, notes };
}

/** Test rows for a model's task from a TSV/JSONL file, their labels checked against the model's. */
export function readRowsFor(model: Model, kind: ModelTaskKind, file: string, columns: Columns = {}, limit?: number): unknown[] {
  const rows = readTaskRows(ROWS[kind], file, columns, limit);
  if (!rows.length) throw new TaskError(`${file}: no rows to score`);
  if (kind !== 'seq2seq') {
    const of = (r: unknown) => (kind === 'classify' ? (r as { label: string }).label : kind === 'spans' ? (r as SpanRow).spans.map((s) => s.label) : (r as TagRow).tags);
    labelSet([{ file, labels: rows.map(of) }], model.labels);
  }
  return rows;
}
