// Shared plumbing of the task examples (task-*.ts): options, the small random-init BERT, the test
// metric of the saved model re-measured in a fresh process. Not an example itself.
//   --limit N   rows per split (a quick run; test/examples.test.ts uses it)   --epochs E
//   --out DIR   where the model is saved (default: a temporary directory, removed at the end)
//   --lr X      peak learning rate (default: each example's)
//   --maxlen T  tokens per row   --layers L --hidden H  the random-init model's size
//   --base DIR  a pretrained model directory to start from instead of random weights
//   --t5        (CSL titles) a random mT5-shaped model (configs/mt5-csl-small.json, mT5 Chinese SentencePiece) instead of UniLM
//   --eval DIR  reload DIR in this process and print its test metric (the examples' last step); rows are
//               cut to --maxlen if given, else to the maxlen fine-tuning recorded in DIR/config.json
//   --quantize fp32,dynamic-int8,weight-only-int8 (or all)  with --eval: the test metric in each mode,
//               side by side, then one JSON line (bench/int8-tasks.ts reads it)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Model } from '../src/models/index.ts';
import type { Tokenizer } from '../src/tokenizers/index.ts';
import { finetune, formatMetrics, type FinetuneOptions, type Task } from '../src/tasks/finetune.ts';
import { evaluateModes, parseEvalModes, type EvalMode, type ModeScore } from '../src/tasks/evaluate.ts';

export const shared = new URL('../../shared/data/', import.meta.url).pathname;
export const vocab = join(shared, 'tokenizers/bert-chinese/vocab.txt');

export function options(defaults: { epochs: number; maxlen: number; limit?: number }) {
  const { values } = parseArgs({ options: { limit: { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string' }, base: { type: 'string' }, eval: { type: 'string' }, layers: { type: 'string' }, hidden: { type: 'string' }, maxlen: { type: 'string' }, crf: { type: 'boolean' }, lr: { type: 'string' }, quantize: { type: 'string' }, t5: { type: 'boolean' } } });
  if (values.quantize !== undefined && values.eval === undefined) throw new Error('--quantize applies to --eval DIR (a saved model)');
  const limit = values.limit ? Number(values.limit) : defaults.limit ?? Infinity;
  return {
    limit, quick: Number.isFinite(limit), epochs: Number(values.epochs ?? defaults.epochs), base: values.base, evalDir: values.eval, crf: Boolean(values.crf), lr: values.lr ? Number(values.lr) : undefined,
    modes: values.quantize === undefined ? undefined : parseEvalModes(values.quantize),
    t5: Boolean(values.t5), out: values.out, maxlen: Number(values.maxlen ?? defaults.maxlen), maxlenGiven: values.maxlen !== undefined,
    layers: Number(values.layers ?? 4), hidden: Number(values.hidden ?? 256),
  };
}

/** --eval's row length: --maxlen when given, else the one fine-tuning recorded in DIR/config.json, else the default. */
export function evalMaxlen(o: { maxlen: number; maxlenGiven: boolean }, dir: string): number {
  if (o.maxlenGiven) return o.maxlen;
  const file = join(dir, 'config.json');
  let c: { finetuning_task?: string; task_specific_params?: Record<string, { maxlen?: unknown }> };
  try { c = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { throw new Error(`--eval ${dir}: cannot read ${file}: ${(e as Error).message}`); }
  const recorded = c.finetuning_task ? c.task_specific_params?.[c.finetuning_task]?.maxlen : undefined;
  return Number.isInteger(recorded) ? (recorded as number) : o.maxlen;
}

/** A small BERT for random initialisation (the vocabulary is trimmed to the data's tokens). */
export function tinyConfig(dir: string, layers: number, hidden: number, maxPosition = 512): string {
  const file = join(dir, 'random-init-config.json');
  writeFileSync(file, JSON.stringify({
    model_type: 'bert', vocab_size: 21128, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: hidden / 64,
    intermediate_size: hidden * 4, max_position_embeddings: maxPosition, type_vocab_size: 2, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
  }));
  return file;
}

/** The output directory and a cleanup for it. */
export function outDir(out: string | undefined): { dir: string; done: () => void } {
  if (out) return { dir: out, done: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-task-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The --eval step: the saved model's test metric, as one `reloaded DIR: test ...` line; with
 * --quantize, one line per mode (`reloaded DIR (dynamic-int8): ...`) and a JSON line with them all.
 */
export async function printReloaded<R>(dir: string, model: Model, modes: EvalMode[] | undefined, task: Task<R>, rows: R[]): Promise<void> {
  const scores = await evaluateModes(model, modes ?? ['fp32'], task, rows);
  const agree = (a: ModeScore['agreement']) => (a ? `  (same prediction as fp32: ${(100 * a.rows).toFixed(2)}% of rows${a.items !== undefined ? `, ${(100 * a.items).toFixed(2)}% of characters` : ''})` : '');
  for (const s of scores) console.log(`reloaded ${dir}${modes ? ` (${s.mode}, ${s.seconds.toFixed(1)} s)` : ''}: test ${formatMetrics(s.metrics)}${agree(s.agreement)}`);
  if (modes) console.log(JSON.stringify({ dir, scores }));
}

/** Re-run this example with --eval DIR (plus its other arguments) in a new process; returns its stdout. */
export function reloadInFreshProcess(file: string, dir: string): string {
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out');
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args, '--eval', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`reloading ${dir} failed (exit ${r.status})`);
  return r.stdout;
}

/**
 * The examples' common ending: fine-tune, print the dev and test metrics, save the model with its
 * tokenizer, then print the test metric of the saved directory reloaded in a fresh process.
 */
export async function trainSaveReload<R>(file: string, run: FinetuneOptions<R>, tokenizer: Tokenizer, dir: string): Promise<void> {
  const r = await finetune(run);
  console.log(`dev ${formatMetrics(r.dev)}`);
  console.log(`test ${formatMetrics(r.test!)}`);
  console.log(`trained in ${r.seconds.toFixed(0)} s`);
  run.model.save(dir, { tokenizer });
  console.log(`saved ${dir}`);
  process.stdout.write(reloadInFreshProcess(fileURLToPath(file), dir));
}
