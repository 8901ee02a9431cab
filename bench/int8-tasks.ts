/**
 * int8 on the fine-tuning examples: each saved example model's test metric fp32 vs dynamic-int8 vs
 * weight-only-int8, the same rows and model in one process (`examples/task-*.ts --eval DIR --quantize all`).
 *
 *   npm run bench -- int8-tasks [--runs DIR] [--only sentiment,punct-crf,punct-softmax,spans,csl] [--limit N]
 *
 * The models are the runs docs/EXAMPLES.md lists (random-init BERT, 2 layers, hidden 128), under
 * --runs (default /work/runs/examples); a missing directory is skipped with a message. Each example
 * is re-run with the arguments it was trained with (maxlen, --crf), as its own reload step does.
 * --limit N scores only the first N test rows (a quick run). Ends with one JSON line: per task and
 * mode the metric, the int8 - fp32 difference, and the share of test rows (for the taggers also of
 * characters) where int8 predicts exactly what fp32 does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? (i >= 0 ? process.argv[i + 1] : undefined);
};
const runs = arg('runs') ?? '/work/runs/examples';
const limit = arg('limit');

/** The saved runs of docs/EXAMPLES.md, with the arguments each was trained with; `metric` is the headline. */
const TASKS = [
  { name: 'sentiment', script: 'task-sentiment.ts', dir: 'sentiment-random', args: ['--maxlen', '64'], metric: 'accuracy' },
  { name: 'punct-crf', script: 'task-punctuation.ts', dir: 'punct-crf-random-e5', args: ['--maxlen', '128', '--crf'], metric: 'f1' },
  { name: 'punct-softmax', script: 'task-punctuation.ts', dir: 'punct-softmax-random-e5', args: ['--maxlen', '128'], metric: 'f1' },
  { name: 'spans', script: 'task-spans.ts', dir: 'spans-gp-random-e10', args: ['--maxlen', '128'], metric: 'f1' },
  { name: 'csl', script: 'task-csl-title.ts', dir: 'csl-unilm-random', args: ['--maxlen', '128'], metric: 'rouge-l' },
] as const;
const onlyArg = arg('only');
const only = new Set(onlyArg ? onlyArg.split(',') : TASKS.map((t) => t.name));
for (const s of only) if (!TASKS.some((t) => t.name === s)) { console.error(`--only: unknown task '${s}' (tasks: ${TASKS.map((t) => t.name).join(', ')})`); process.exit(2); }

const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`load average at start: ${load()}`);
const result: Record<string, number | string | null> = {};
for (const t of TASKS.filter((t) => only.has(t.name))) {
  const dir = join(runs, t.dir);
  if (!existsSync(join(dir, 'config.json'))) {
    console.log(`${t.name}: skipped, no saved model at ${dir} (train it with the command in docs/EXAMPLES.md)`);
    result[`${t.name}_${t.metric}_fp32`] = null;
    continue;
  }
  const script = new URL(`../examples/${t.script}`, import.meta.url).pathname;
  const args = ['--import', 'tsx', script, ...t.args, ...(limit ? ['--limit', limit] : []), '--eval', dir, '--quantize', 'all'];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${t.name}: examples/${t.script} --eval ${dir} failed (exit ${r.status})\n${r.stdout}`);
  const lines = r.stdout.trim().split('\n');
  const { scores } = JSON.parse(lines[lines.length - 1]!) as { scores: { mode: string; metrics: Record<string, number>; seconds: number; agreement?: { rows: number; items?: number } }[] };
  for (const l of lines.slice(0, -1)) console.log(`${t.name}: ${l}`);
  const fp32 = scores.find((s) => s.mode === 'fp32')!.metrics[t.metric]!;
  for (const s of scores) {
    result[`${t.name}_${t.metric}_${s.mode}`] = +s.metrics[t.metric]!.toFixed(4);
    if (s.mode !== 'fp32') result[`${t.name}_${t.metric}_${s.mode}_minus_fp32`] = +(s.metrics[t.metric]! - fp32).toFixed(4);
    if (s.agreement) result[`${t.name}_same_rows_${s.mode}`] = +s.agreement.rows.toFixed(4);
    if (s.agreement?.items !== undefined) result[`${t.name}_same_chars_${s.mode}`] = +s.agreement.items.toFixed(4);
  }
}
result.load_average = load();
console.log(`load average at end: ${result.load_average}`);
console.log(JSON.stringify(result));
