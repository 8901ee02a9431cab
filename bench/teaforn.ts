/**
 * TeaForN vs teacher forcing on CSL title generation (UniLM on BERT, as examples/task-csl-title.ts):
 * fine-tune the same base model with teacher forcing (N = 1) and with TeaForN (N = 2, 3; shared
 * weights; src/training/teaforn.ts) at the same number of steps and at the same wall-clock budget
 * (N = 1's steps times its median time per step, divided by each N's median time per step), then
 * score test titles decoded greedily and with beam search (2, 4, 8) by bert4keras's
 * character-level ROUGE-1/2/L and BLEU (src/metrics, as the fine-tuning task scores them). Seeds
 * change the batch order and the dropout masks; every figure is the mean ± sample standard
 * deviation over the seeds, beside the training time per step and its overhead over N = 1.
 *
 * `--base` is a saved model directory (UniLM for BERT-shaped models, encoder-decoder for T5 / mT5);
 * `--config FILE --vocab FILE` start from random weights instead (e.g. a T5 config with the mT5
 * Chinese SentencePiece model, trimmed to the training pairs' tokens).
 *
 *   npm run bench -- teaforn [--base models/chinese-small | --config t5.json --vocab spm.model] [--steps 440] [--seeds 1,2,3] [--ns 1,2,3]
 *     [--feed hidden|topk|gumbel] [--k 8] [--tau 1] [--unshared] [--beams 1,2,4,8] [--batch 32] [--lr 1e-4] [--maxlen 128]
 *     [--train-limit N] [--test-limit N] [--out runs.jsonl] [--checkpoint-minutes 10] [--overhead-reps 8] [--tf-multiples 2,3]
 *
 * `--tf-multiples 2,3` also trains teacher forcing for 2 and 3 times --steps (each with its own
 * schedule): the compute that N = 2 and 3 spend at the same steps, to tell TeaForN's same-steps gain
 * from the effect of more compute.
 *
 * The time per step of the runs drifts with whatever else the machine does, so the overhead is also
 * measured apart: one trainer per N on the same batch, their steps interleaved round-robin
 * (--overhead-reps rounds after a warm-up round), median ms per step and its ratio to N = 1.
 *
 * `--overhead` measures only that, for any set of variants side by side in one run (no fine-tuning
 * runs, no decoding): each variant is `N[:feed][:unshared]` (feed hidden, topk with --k, gumbel
 * with --tau; `unshared` = `shared: false`), e.g.
 *
 *   nice -n 10 node --import tsx bench/teaforn.ts --overhead --overhead-reps 3 --batch 32 \
 *     --variants 1,2,3,2:topk,3:topk,2:gumbel,3:gumbel,2:hidden:unshared,3:hidden:unshared
 *
 * Every finished run is appended to --out as one JSON line; a rerun with the same settings skips the
 * runs already there, so a long run can be resumed, and the tables are made from the file. A run in
 * progress is checkpointed too (with --out): its trainer state, step times and losses every
 * --checkpoint-minutes (default 10) and at the end of training, and each beam's scores as it is
 * decoded, under OUT.ckpt/ (--checkpoint-minutes 0: none); a rerun continues it from there, and the
 * checkpoint is deleted once the run is in OUT. The batch order and the schedule continue exactly
 * (they depend on the step only); the dropout masks (and the Gumbel feed's noise) restart from the
 * seed, as ONNX Runtime keeps the generator inside the session, so a resumed run is not bit for bit
 * the one that never stopped, and its ms/step mixes two processes (the median keeps the resumed
 * process's slow first step out).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { batchIndices } from '../src/data/batching.ts';
import { generationScores } from '../src/metrics/index.ts';
import { prepareModel, readTaskRows, seq2seqTaskFor, type Seq2SeqRow } from '../src/tasks/finetune.ts';
import { Trainer, adamW, piecewiseLinear, teaForN, type TeaForNFeed, type TeaForNOptions, type TrainingBatch } from '../src/training/index.ts';
import { writeFileAtomic } from '../src/util/files.ts';
import { createHasher } from '../src/util/hash.ts';
import { Progress } from '../src/util/progress.ts';

const { values: a } = parseArgs({
  options: {
    base: { type: 'string', default: 'models/chinese-small' }, config: { type: 'string' }, vocab: { type: 'string' }, steps: { type: 'string', default: '440' }, seeds: { type: 'string', default: '1,2,3' },
    ns: { type: 'string', default: '1,2,3' }, feed: { type: 'string', default: 'hidden' }, k: { type: 'string' }, beams: { type: 'string', default: '1,2,4,8' },
    batch: { type: 'string', default: '32' }, lr: { type: 'string', default: '1e-4' }, maxlen: { type: 'string', default: '128' },
    'max-target': { type: 'string', default: '32' }, 'overhead-reps': { type: 'string', default: '8' }, 'train-limit': { type: 'string' }, 'test-limit': { type: 'string' }, out: { type: 'string' },
    tau: { type: 'string' }, 'tf-multiples': { type: 'string', default: '' }, 'checkpoint-minutes': { type: 'string', default: '10' }, unshared: { type: 'boolean', default: false }, overhead: { type: 'boolean', default: false }, variants: { type: 'string', default: '1,2,3' },
  },
});
const list = (s: string) => s.split(',').map(Number);
const o = {
  base: a.config ? undefined : a.base!, config: a.config, vocab: a.vocab, steps: Number(a.steps), seeds: list(a.seeds!), ns: list(a.ns!), feed: a.feed as TeaForNFeed, k: a.k ? Number(a.k) : a.feed === 'topk' ? 8 : undefined,
  beams: list(a.beams!), batch: Number(a.batch), lr: Number(a.lr), maxlen: Number(a.maxlen), maxTarget: Number(a['max-target']),
  trainLimit: a['train-limit'] ? Number(a['train-limit']) : Infinity, testLimit: a['test-limit'] ? Number(a['test-limit']) : Infinity, out: a.out,
  overheadReps: Number(a['overhead-reps']), tfMultiples: a['tf-multiples'] ? list(a['tf-multiples']) : [], checkpointMinutes: Number(a['checkpoint-minutes']), overhead: a.overhead!, tau: a.tau ? Number(a.tau) : undefined, shared: !a.unshared,
};
/** teaForN's options for N passes with this feed (k for topk, τ for gumbel from the flags). */
const teaOptions = (n: number, feed: TeaForNFeed, shared: boolean): TeaForNOptions => ({
  n, feed, ...(feed === 'topk' ? { k: o.k ?? 8 } : {}), ...(feed === 'gumbel' && o.tau !== undefined ? { tau: o.tau } : {}), ...(shared ? {} : { shared: false }),
});
interface Variant { label: string; n: number; feed: TeaForNFeed; shared: boolean }
/** `N[:feed][:unshared]`, e.g. `3:gumbel:unshared`; N = 1 is teacher forcing whatever the feed. */
function parseVariant(spec: string): Variant {
  const [ns, ...rest] = spec.split(':');
  const n = Number(ns), shared = !rest.includes('unshared');
  const feed = (rest.find((x) => x !== 'unshared') ?? 'hidden') as TeaForNFeed;
  if (!Number.isInteger(n) || n < 1 || !['hidden', 'topk', 'gumbel'].includes(feed) || rest.filter((x) => x !== 'unshared').length > 1) {
    throw new Error(`--variants: '${spec}' is not N[:hidden|topk|gumbel][:unshared]`);
  }
  const label = n === 1 ? 'N = 1 (teacher forcing)' : `N = ${n} ${feed}${feed === 'topk' ? ` k ${o.k ?? 8}` : feed === 'gumbel' ? ` τ ${o.tau ?? 1}` : ''}${shared ? '' : ', unshared'}`;
  return { label, n, feed, shared };
}
for (const [name, xs] of [['steps', [o.steps]], ['seeds', o.seeds], ['ns', o.ns], ['beams', o.beams], ['batch', [o.batch]], ['maxlen', [o.maxlen]]] as const) {
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < (name === 'seeds' ? 0 : 1))) throw new Error(`--${name} must be ${name === 'seeds' ? 'non-negative' : 'positive'} integers, got ${xs.join(',')}`);
}
if (o.tfMultiples.some((m) => !Number.isInteger(m) || m < 2)) throw new Error(`--tf-multiples must be integers >= 2, got ${a['tf-multiples']}`);
if (!(o.checkpointMinutes >= 0)) throw new Error(`--checkpoint-minutes must be a non-negative number (0: no checkpoints), got ${a['checkpoint-minutes']}`);
if (!(o.lr > 0)) throw new Error(`--lr must be a positive number, got ${a.lr}`);
if (!o.ns.includes(1)) throw new Error('--ns must include 1: teacher forcing is the baseline (and sets the wall-clock budget)');
const csl = new URL('../../shared/data/corpora/csl/', import.meta.url).pathname;
const split = (name: string, limit: number) => readTaskRows('seq2seq', join(csl, `${name}.tsv`), { source: '1', target: '0' }, limit);
const train = split('train', o.trainLimit), test = split('test', o.testLimit);
if (o.config && !o.vocab) throw new Error('--config (random weights) needs --vocab, the tokenizer file');
/** The model every run starts from: the base directory, or --config's random weights with --vocab trimmed to the training pairs' tokens. */
const source = o.config ? { config: o.config, vocab: o.vocab, corpus: train.flatMap((r) => [r.source, r.target]) } : { base: o.base };

/** 'steps': --steps; 'time': N = 1's wall clock; `x${m}`: teacher forcing for m × --steps (N = m's compute at the same steps). */
type Budget = 'steps' | 'time' | `x${number}`;
/** Test scores at one beam, and the mean length of the titles written (characters; absent in runs before 2026-12-05 12:00). */
type Metrics = Record<'rouge-1' | 'rouge-2' | 'rouge-l' | 'bleu', number> & { chars?: number };
interface Run {
  key: string; seed: number; n: number; budget: Budget; steps: number;
  trainSeconds: number; msPerStep: number; firstLoss: number; lastLoss: number; evalSeconds: number;
  scores: Record<string, Metrics>;
}
/** Settings that make runs comparable (a resumed file must match them). */
const settings = { base: o.base, ...(o.config ? { config: o.config, vocab: o.vocab } : {}), feed: o.feed, k: o.k, ...(o.tau !== undefined ? { tau: o.tau } : {}), ...(o.shared ? {} : { shared: false }), batch: o.batch, lr: o.lr, maxlen: o.maxlen, maxTarget: o.maxTarget, train: train.length, test: test.length, steps: o.steps };
const keyOf = (seed: number, n: number, budget: string) => JSON.stringify({ ...settings, seed, n, budget });
const done = new Map<string, Run>();
if (o.out) mkdirSync(dirname(o.out), { recursive: true });
if (o.out && existsSync(o.out)) for (const line of readFileSync(o.out, 'utf8').split('\n').filter(Boolean)) { const r = JSON.parse(line) as Run; done.set(r.key, r); }

/** A run's progress beside its trainer state in the checkpoint directory: what `Run` needs that the trainer does not hold. */
interface RunProgress { key: string; steps: number; times: number[]; losses: number[]; scores: Record<string, Metrics>; decodeSeconds: number }

/**
 * Where a run in progress is checkpointed (with --out), and what an earlier process left there for
 * exactly this run (its key and its number of steps: a same-time run's steps follow other runs'
 * times), if anything usable.
 */
function checkpointOf(key: string, steps: number): { dir: string; saved?: RunProgress } | undefined {
  if (!o.out || !(o.checkpointMinutes > 0)) return undefined;
  const dir = join(`${o.out}.ckpt`, createHasher().update(`${key}|${steps}`).digest().slice(0, 16));
  let saved: RunProgress, step: number;
  try {
    saved = JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8')) as RunProgress;
    step = (JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8')) as { step: number }).step;
  } catch (e) {
    // No checkpoint yet, or an unreadable one: start the run over (saying so for the latter).
    if (existsSync(join(dir, 'progress.json'))) console.error(`${dir}: unreadable checkpoint (${(e as Error).message}); starting the run over`);
    return { dir };
  }
  // progress.json is written before the trainer state, so it may hold steps the trainer lost (a
  // process stopped in between): those are cut off and redone. Scores exist only after the last step.
  const scored = Object.keys(saved.scores ?? {}).length > 0;
  if (saved.key !== key || saved.steps !== steps || !Number.isInteger(step) || saved.times.length < step || (scored && step !== steps)) {
    console.error(`${dir}: the checkpoint does not fit this run (trainer at step ${step}, progress at ${saved.times?.length}); starting the run over`);
    return { dir };
  }
  saved.times.length = saved.losses.length = step;
  return { dir, saved };
}

/** Fine-tune a fresh copy of the base for `steps` steps with N passes; score the test titles at every beam. */
async function run(seed: number, n: number, budget: Budget, steps: number): Promise<Run> {
  const key = keyOf(seed, n, budget);
  const saved = done.get(key);
  if (saved) return saved;
  const { model, task } = await prepareModel({ ...source, seed, task: (t, family) => seq2seqTaskFor(family, t, { maxlen: o.maxlen, maxTarget: o.maxTarget }) });
  const warmup = Math.max(1, Math.round(steps / 10));
  const trainer = await Trainer.create({
    store: model.store, loss: teaForN(model, teaOptions(n, o.feed, o.shared)), clipNorm: 1, seed,
    optimizer: adamW(piecewiseLinear(o.lr, { [warmup]: 1, [steps]: 0.1 })), // as finetune(): warm up, then down to lr/10
  });
  const checkpoint = checkpointOf(key, steps);
  let progressSoFar: RunProgress = { key, steps, times: [], losses: [], scores: {}, decodeSeconds: 0 };
  if (checkpoint?.saved) {
    try {
      trainer.restore(checkpoint.dir);
      progressSoFar = checkpoint.saved;
    } catch (e) {
      // A failed restore may have written some weights: drop the checkpoint and this model, start over.
      console.error(`${checkpoint.dir}: cannot restore (${(e as Error).message}); starting the run over`);
      await trainer.dispose();
      rmSync(checkpoint.dir, { recursive: true, force: true });
      return run(seed, n, budget, steps);
    }
  }
  const { times, losses, scores } = progressSoFar;
  const saveProgress = () => {
    if (!checkpoint) return;
    mkdirSync(checkpoint.dir, { recursive: true });
    writeFileAtomic(join(checkpoint.dir, 'progress.json'), JSON.stringify(progressSoFar));
  };
  // Progress first: a stop between the two leaves progress ahead of the trainer, which checkpointOf cuts back.
  const saveCheckpoint = () => { if (checkpoint) { saveProgress(); trainer.save(checkpoint.dir); } };
  const perEpoch = Math.ceil(train.length / o.batch);
  const resumedAt = times.length;
  const progress = new Progress({ label: `seed ${seed} N=${n} ${budget}${resumedAt ? ` (resumed at step ${resumedAt})` : ''}`, total: steps - resumedAt, unit: 'step' });
  let lastSave = performance.now();
  for (let step = resumedAt; step < steps; step++) {
    const idx = batchIndices(train.length, { batchSize: o.batch, seed, epoch: Math.floor(step / perEpoch) })[step % perEpoch]!;
    const batch = task.collate(idx.map((i) => train[i]!));
    const t = performance.now();
    losses.push((await trainer.trainStep(batch)).loss);
    times.push(performance.now() - t);
    progress.tick(1, { loss: +losses.at(-1)!.toFixed(3) });
    if (step + 1 === steps || performance.now() - lastSave > o.checkpointMinutes * 60_000) {
      saveCheckpoint();
      lastSave = performance.now();
    }
  }
  progress.finish();
  await trainer.dispose(); // 5 runs per seed in one process
  const decoding = new Progress({ label: `seed ${seed} N=${n} ${budget}: test titles`, total: o.beams.length, unit: 'beam' });
  for (const beam of o.beams) {
    if (!scores[`beam${beam}`]) {
      const started = performance.now();
      const titles = await task.generate(model, test.map((r: Seq2SeqRow) => r.source), beam);
      scores[`beam${beam}`] = { ...generationScores(titles, test.map((r) => r.target)), chars: titles.reduce((n, t) => n + [...t].length, 0) / titles.length };
      progressSoFar.decodeSeconds += (performance.now() - started) / 1000;
      saveProgress();
    }
    decoding.tick(1, { beam, 'rouge-l': +scores[`beam${beam}`]!['rouge-l'].toFixed(4) });
  }
  decoding.finish();
  const sorted = times.slice(1).sort((x, y) => x - y);
  const result: Run = {
    key, seed, n, budget, steps, trainSeconds: times.reduce((s, x) => s + x, 0) / 1000, msPerStep: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : times[0]!,
    firstLoss: losses[0]!, lastLoss: losses.at(-1)!, evalSeconds: progressSoFar.decodeSeconds, scores,
  };
  if (o.out) appendFileSync(o.out, `${JSON.stringify(result)}\n`);
  if (checkpoint) rmSync(checkpoint.dir, { recursive: true, force: true });
  console.error(`seed ${seed} N=${n} ${budget}: ${steps} steps, ${result.trainSeconds.toFixed(0)} s (${result.msPerStep.toFixed(0)} ms/step), loss ${result.firstLoss.toFixed(3)} -> ${result.lastLoss.toFixed(3)}, beam 1 ROUGE-L ${scores.beam1?.['rouge-l'].toFixed(4) ?? '-'}`);
  return result;
}

/** Median ms per step of each variant, its steps interleaved with the others' on one batch of the training rows. */
async function interleavedOverhead(variants: Variant[]): Promise<{ ms: Map<Variant, number>; ratio: Map<Variant, number>; shape: string }> {
  const trainers: [Variant, Trainer, TrainingBatch][] = [];
  for (const v of variants) {
    const { model, task } = await prepareModel({ ...source, seed: 0, task: (t, family) => seq2seqTaskFor(family, t, { maxlen: o.maxlen, maxTarget: o.maxTarget }) });
    const trainer = await Trainer.create({ store: model.store, loss: teaForN(model, teaOptions(v.n, v.feed, v.shared)), clipNorm: 1, optimizer: adamW(o.lr) });
    trainers.push([v, trainer, task.collate(train.slice(0, o.batch))]);
  }
  const first = trainers[0]![2] as Record<string, { length: number; [i: number]: unknown }>;
  const ids = first.input_ids ?? first.decoder_input_ids;
  const shape = ids ? `${ids.length} × ${(ids[0] as unknown[] | undefined)?.length ?? '?'} tokens` : '?';
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (let round = 0; round <= o.overheadReps; round++) {
    const took: string[] = [];
    for (const [v, trainer, batch] of trainers) {
      const t = performance.now();
      await trainer.trainStep(batch);
      const ms = performance.now() - t;
      if (round > 0) times.get(v)!.push(ms); // round 0 warms up
      took.push(`${v.label} ${ms.toFixed(0)}`);
    }
    if (o.overhead) console.error(`round ${round}${round ? '' : ' (warm-up)'}: ${took.join(', ')} ms`);
  }
  const median = (xs: number[]) => xs.slice().sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  // Each round's time over N = 1's in the same round: the load drifts less within a round than across rounds.
  const base = times.get(variants[0]!)!;
  const ratio = new Map([...times].map(([v, ts]) => [v, median(ts.map((t, r) => t / base[r]!))]));
  return { ms: new Map([...times].map(([v, ts]) => [v, median(ts)])), ratio, shape };
}

if (o.overhead) {
  // Overhead only: the variants side by side, no fine-tuning runs and no decoding.
  if (!(o.overheadReps > 0)) throw new Error('--overhead needs --overhead-reps >= 1');
  const variants = a.variants!.split(',').map(parseVariant);
  if (variants[0]?.n !== 1) throw new Error('--variants must start with 1: the ratios are to teacher forcing');
  const { ms, ratio, shape } = await interleavedOverhead(variants);
  const base = ms.get(variants[0]!)!;
  console.log(`TeaForN training time per step, ${o.config ? `random weights (${o.config})` : o.base} on CSL, batch of ${shape}, ${o.overheadReps} interleaved rounds after a warm-up round\n`);
  console.log('| variant | median ms/step | its ratio to N = 1\'s | median of the per-round ratios to N = 1 |\n|---|---:|---:|---:|');
  for (const v of variants) console.log(`| ${v.label} | ${ms.get(v)!.toFixed(0)} | ${(ms.get(v)! / base).toFixed(2)} | ${ratio.get(v)!.toFixed(2)} |`);
  console.log(JSON.stringify({ bench: 'teaforn-overhead', settings: { base: o.base, config: o.config, batch: o.batch, maxlen: o.maxlen, reps: o.overheadReps, k: o.k ?? 8, tau: o.tau ?? 1 }, shape, ms: Object.fromEntries([...ms].map(([v, x]) => [v.label, Math.round(x)])), ratio: Object.fromEntries([...ratio].map(([v, x]) => [v.label, Number(x.toFixed(3))])) }));
  process.exit(0);
}

const runs: Run[] = [];
for (const seed of o.seeds) {
  const base = await run(seed, 1, 'steps', o.steps);
  runs.push(base);
  for (const n of o.ns.filter((x) => x !== 1)) {
    const same = await run(seed, n, 'steps', o.steps);
    runs.push(same);
    // The same wall clock: N = 1's steps at its median time per step, spent at this N's median time per step.
    runs.push(await run(seed, n, 'time', Math.max(1, Math.round((o.steps * base.msPerStep) / same.msPerStep))));
  }
  for (const m of o.tfMultiples) runs.push(await run(seed, 1, `x${m}`, o.steps * m));
}

const overhead = o.overheadReps > 0
  ? new Map([...(await interleavedOverhead(o.ns.map((n) => ({ label: `N = ${n}`, n, feed: o.feed, shared: o.shared })))).ms].map(([v, ms]) => [v.n, ms]))
  : undefined;

const stats = (xs: number[]) => {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
};
const pm = (xs: number[], scale = 100, digits = 2) => { const s = stats(xs); return `${(s.mean * scale).toFixed(digits)} ± ${(s.sd * scale).toFixed(digits)}`; };
// N = 1's run at --steps is the baseline of both the same-steps and the same-time tables.
const group = (n: number, budget: Budget) => runs.filter((r) => r.n === n && r.budget === (n === 1 && budget === 'time' ? 'steps' : budget));
const baseMs = stats(group(1, 'steps').map((r) => r.msPerStep)).mean;

console.log(`CSL title generation, ${o.config ? `random weights (${o.config}, ${o.vocab})` : o.base}: ${train.length} train rows, ${test.length} test rows, batch ${o.batch}, lr ${o.lr}, maxlen ${o.maxlen}, feed ${o.feed}${o.feed === 'topk' ? ` (k ${o.k})` : o.feed === 'gumbel' ? ` (τ ${o.tau ?? 1})` : ''}${o.shared ? '' : ', unshared'}, seeds ${o.seeds.join(', ')} (mean ± sd)`);
console.log('\n| N | budget | steps | ms/step | overhead | first → last training loss (N > 1: Σ over the passes) |\n|---|---|---:|---:|---:|---|');
const trainingRows: [number, Budget, string][] = [
  ...o.ns.flatMap((n): [number, Budget, string][] => (n === 1 ? [[1, 'steps', 'both']] : [[n, 'steps', 'same steps'], [n, 'time', 'same time']])),
  ...o.tfMultiples.map((m): [number, Budget, string] => [1, `x${m}`, `${m} × the steps`]),
];
for (const [n, budget, label] of trainingRows) {
  const g = group(n, budget);
  console.log(`| ${n} | ${label} | ${pm(g.map((r) => r.steps), 1, 0)} | ${pm(g.map((r) => r.msPerStep), 1, 0)} | ${(stats(g.map((r) => r.msPerStep)).mean / baseMs).toFixed(2)}x | ${pm(g.map((r) => r.firstLoss), 1, 3)} → ${pm(g.map((r) => r.lastLoss), 1, 3)} |`);
}
if (overhead) {
  console.log(`\nTime per step measured apart (batch ${o.batch}, ${o.overheadReps} interleaved rounds, median): ${[...overhead].map(([n, ms]) => `N = ${n} ${ms.toFixed(0)} ms (${(ms / overhead.get(1)!).toFixed(2)}x)`).join(', ')}`);
}
const tables: [string, [number, Budget][]][] = [
  [`Same steps (${o.steps})`, o.ns.map((n) => [n, 'steps'])],
  ['Same wall clock (N = 1\'s training time)', o.ns.map((n) => [n, 'time'])],
  ...(o.tfMultiples.length ? [[`Teacher forcing for ${o.tfMultiples.map((m) => `${m}×`).join(' and ')} the steps (the compute of N = ${o.tfMultiples.join(' and ')} at the same steps), beside N = 1`, [[1, 'steps'], ...o.tfMultiples.map((m): [number, Budget] => [1, `x${m}`])]] as [string, [number, Budget][]]] : []),
];
for (const [title, rows] of tables) {
  console.log(`\n${title}: test scores x100; title length in characters (the references: ${(test.reduce((n, r) => n + [...r.target].length, 0) / test.length).toFixed(1)})\n\n| N | beam | ROUGE-1 | ROUGE-2 | ROUGE-L | BLEU | title length |\n|---|---:|---|---|---|---|---|`);
  for (const [n, budget] of rows) for (const beam of o.beams) {
    const g = group(n, budget).map((r) => r.scores[`beam${beam}`]!);
    const chars = g.flatMap((s) => (s.chars === undefined ? [] : [s.chars]));
    console.log(`| ${budget.startsWith('x') ? `1 (${budget.slice(1)}× steps)` : n} | ${beam} | ${pm(g.map((s) => s['rouge-1']))} | ${pm(g.map((s) => s['rouge-2']))} | ${pm(g.map((s) => s['rouge-l']))} | ${pm(g.map((s) => s.bleu))} | ${chars.length ? `${pm(chars, 1, 1)}${chars.length < g.length ? ` (${chars.length} runs)` : ''}` : '-'} |`);
  }
}
// Paired by seed (the same batch order and initial weights): the difference is less noisy than two means.
const paired = [...o.ns.filter((n) => n > 1).flatMap((n): [number, Budget, string][] => [[n, 'steps', `N = ${n}, same steps`], [n, 'time', `N = ${n}, same time`]]),
  ...o.tfMultiples.map((m): [number, Budget, string] => [1, `x${m}`, `N = 1, ${m} × the steps`])];
console.log(`\nROUGE-L x100 minus teacher forcing's (N = 1, ${o.steps} steps) with the same seed: mean ± sd over the seeds (seeds where it is higher)\n\n| run | ${o.beams.map((b) => `beam ${b}`).join(' | ')} |\n|---|${o.beams.map(() => '---').join('|')}|`);
for (const [n, budget, label] of paired) {
  const cells = o.beams.map((beam) => {
    const diffs = group(n, budget).flatMap((r) => {
      const base = runs.find((b) => b.n === 1 && b.budget === 'steps' && b.seed === r.seed);
      return base ? [r.scores[`beam${beam}`]!['rouge-l'] - base.scores[`beam${beam}`]!['rouge-l']] : [];
    });
    return diffs.length ? `${pm(diffs)} (${diffs.filter((d) => d > 0).length}/${diffs.length})` : '-';
  });
  console.log(`| ${label} | ${cells.join(' | ')} |`);
}
console.log(JSON.stringify({ bench: 'teaforn', settings: { ...settings, seeds: o.seeds, ns: o.ns, beams: o.beams }, overheadMs: overhead ? Object.fromEntries(overhead) : null, runs: runs.map(({ key: _key, ...r }) => r) }));
