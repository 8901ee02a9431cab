/**
 * Post 7846's ELECTRA claims at equal size and equal compute: is an ELECTRA discriminator a better
 * base for fine-tuning than an MLM model pretrained for the same compute, and how does the
 * generator's size change that?
 *
 *   npm run bench -- electra [--minutes 30] [--ratios 0.25,0.5,1] [--seeds 1] [--out FILE.jsonl]
 *       [--layers 4 --hidden 256 --heads H/64] [--ft-epochs 3] [--ft-limit N] [--ft-lr 2e-4] [--parallel 1] [--scratch]
 *       [--lr 2e-4] [--warmup-share 0.2] [--control-model models/chinese-small] [--only mlm,electra,scratch,control] [--ft-seeds 1,2,3]
 *
 * Arms: MLM, and ELECTRA with each generator width ratio; per seed. Each arm pretrains from scratch
 * with models/chinese-small's settings (its pretraining.json: corpus, vocabulary trimming, batch 32 x
 * 128, lr, dropout, masking) at the given size, for the same compute: `--minutes` of training-step
 * time (RunControl.trainSeconds; data preparation and evaluation do not count, ELECTRA's host-side
 * sampling does), with the schedule refit to decay to 0 at the budget. Recorded: steps, tokens seen,
 * ms/step, an analytic training FLOP estimate, the last held-out MLM accuracy (the generator's, for
 * ELECTRA). The last weights are exported (ELECTRA: the discriminator) and fine-tuned on the
 * sentiment set as examples/task-sentiment.ts --base does (batch 32, maxlen 128, lr 2e-4 — its default
 * for a base; results before 2026-12-06 used 5e-5, too low for a small pretrained model —, dev-best
 * epoch), every arm at the same rate, with the arm's seed; dev and test accuracy are recorded. `--scratch` adds a control
 * arm per seed: the same model with seeded random weights, no pretraining, fine-tuned the same way (what
 * any pretraining must beat). `--control-model DIR` adds another: a model directory already pretrained
 * (e.g. models/chinese-small, 5,000 steps), fine-tuned the same way (what full pretraining buys).
 * `--only` runs (and tables) only the named kinds of arm, e.g. `--only scratch` for the control alone.
 * `--ft-seeds` fine-tunes every arm once per given seed, reusing its pretraining: the fine-tuning
 * seed sets the batch order, dropout and the weights fine-tuning initialises (the classifier; all of
 * the scratch control's). With 1,000 labelled rows, test accuracy moves by ~3 points between seeds, so
 * one fine-tuning per arm cannot rank arms; the table's means are over every row of an arm.
 * `--lr` and `--warmup-share` replace the settings' peak rate and warm-up share for every pretraining
 * arm (and name their runs and result keys): ELECTRA's discriminator collapses at chinese-small's MLM
 * rate. ELECTRA arms log the discriminator's held-out replaced-token detection (AUC, accuracy, loss)
 * with every evaluation; the last is recorded (AUC ≈ 0.5: a collapsed discriminator).
 *
 * Resumable: each arm appends one JSON line to --out and arms already there (same size, budget and
 * fine-tuning settings) are skipped; run directories live in --work (default: beside --out), so an
 * interrupted arm resumes its pretraining and a finished pretraining is reused when only the
 * fine-tuning settings change. Each arm runs in its own child process (its sessions freed with it).
 * `--parallel N` runs N arms at a time, each with one ORT thread per core it gets (BERT4TS_THREADS =
 * cores / N unless set), their output lines prefixed with the arm: on 2 cores, two 1-thread arms
 * side by side use the machine better than one 2-thread arm, and each arm's budget is still its own
 * training-step time on an equal share of the machine.
 * Prints one row per arm (and per-arm means over seeds), then one JSON line.
 */
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SafetensorsReader } from '../src/checkpoint/safetensors.ts';
import { classifyTask, finetune, labelSet, prepareModel, readTaskRows } from '../src/tasks/finetune.ts';
import { pretrain, type PretrainSettings } from '../src/training/pretrain/run.ts';
import { exportRun } from '../src/training/pretrain/export.ts';
import { electraConfigs } from '../src/training/pretrain/electra.ts';
import { bertConfigJson } from '../src/training/pretrain/model.ts';
import { buildModel, type Model } from '../src/models/build.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import type { Tokenizer } from '../src/tokenizers/types.ts';
import { formatDuration } from '../src/util/progress.ts';
import { writeFileAtomic } from '../src/util/files.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = resolve(root, '../shared/data');
const { values: o } = parseArgs({
  args: process.argv.slice(2),
  options: {
    minutes: { type: 'string', default: '30' }, ratios: { type: 'string', default: '0.25,0.5,1' }, seeds: { type: 'string', default: '1' },
    out: { type: 'string', default: join(tmpdir(), 'bert4ts-bench-electra', 'results.jsonl') }, work: { type: 'string' },
    layers: { type: 'string' }, hidden: { type: 'string' }, heads: { type: 'string' }, intermediate: { type: 'string' },
    'ft-epochs': { type: 'string', default: '3' }, 'ft-limit': { type: 'string' }, 'ft-lr': { type: 'string', default: '2e-4' },
    'eval-every': { type: 'string', default: '250' }, settings: { type: 'string', default: join(root, 'models/chinese-small/pretraining.json') },
    arm: { type: 'string' }, parallel: { type: 'string', default: '1' }, scratch: { type: 'boolean' }, 'ft-seeds': { type: 'string' },
    lr: { type: 'string' }, 'warmup-share': { type: 'string' }, 'control-model': { type: 'string' }, only: { type: 'string' },
  },
});

function num(name: string, value: string | undefined, rule: { integer?: boolean; above?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || (rule.above !== undefined && n <= rule.above) || (rule.max !== undefined && n > rule.max)) {
    throw new Error(`--${name} must be ${rule.integer ? 'an integer' : 'a number'}${rule.above !== undefined ? ` > ${rule.above}` : ''}${rule.max !== undefined ? ` and <= ${rule.max}` : ''}, got '${value}'`);
  }
  return n;
}
const list = (name: string, value: string, rule: Parameters<typeof num>[2]) => value.split(',').filter(Boolean).map((v) => num(name, v.trim(), rule)!);

/** One arm: what a child process pretrains and fine-tunes. */
interface Arm {
  /** 'none': the scratch control, no pretraining; 'model': the control that fine-tunes `model`, pretrained elsewhere. */
  objective: 'mlm' | 'electra' | 'none' | 'model';
  ratio?: number;
  model?: string;
  /** Replaces the settings' peak learning rate and warm-up share (absent: the settings'). */
  schedule?: { lr?: number; warmupShare?: number };
  seed: number;
  minutes: number;
  size: { layers: number; hidden: number; heads: number; intermediate: number; maxPosition: number };
  /** Fine-tuning; `seed` absent: the arm's own seed. */
  ft: { epochs: number; limit: number | null; lr: number; seed?: number };
  evalEvery: number;
  settingsFile: string;
  work: string;
  out: string;
}
/** A child's exit code when its pretraining was stopped by a signal: the parent stops too. */
const INTERRUPTED = 3;
const scheduleName = (a: Arm) => `${a.schedule?.lr !== undefined ? `-lr${a.schedule.lr}` : ''}${a.schedule?.warmupShare !== undefined ? `-w${a.schedule.warmupShare}` : ''}`;
const runName = (a: Arm) => (a.objective === 'none' ? `scratch-s${a.seed}-${a.size.layers}x${a.size.hidden}`
  : a.objective === 'model' ? `model-${basename(a.model!)}-s${a.seed}`
  : `${a.objective}${a.objective === 'electra' ? `-g${a.ratio}` : ''}-s${a.seed}-${a.size.layers}x${a.size.hidden}-${a.minutes}min${scheduleName(a)}`);
/** The seed of fine-tuning (and of the weights it starts from without pretraining). */
const ftSeed = (a: Arm) => a.ft.seed ?? a.seed;
const armKey = (a: Arm) => `${runName(a)}-ft${a.ft.epochs}e${a.ft.limit ?? 'all'}lr${a.ft.lr}${ftSeed(a) !== a.seed ? `s${ftSeed(a)}` : ''}`;
const label = (r: Record<string, any>) => {
  const schedule = `${r.schedule_override?.lr !== undefined ? ` lr${r.schedule_override.lr}` : ''}${r.schedule_override?.warmupShare !== undefined ? ` w${r.schedule_override.warmupShare}` : ''}`;
  return (r.objective === 'mlm' ? 'mlm' : r.objective === 'none' ? 'scratch' : r.objective === 'model' ? basename(r.model) : `electra g=${r.generator_ratio}`) + schedule;
};

/**
 * Training FLOPs per step, estimated from the shapes (2 per multiply-add; backward = 2x forward):
 * trunk matmuls and attention at every token, the MLM heads at the predicted positions, the
 * discriminator head at every token; ELECTRA adds the generator's forward that draws the samples.
 */
function stepFlops(a: Arm, vocab: number, batch: number, T: number, predicted: number): number {
  const trunk = (L: number, H: number, I: number) => L * (2 * 4 * H * H + 2 * 2 * H * I + 2 * 2 * T * H); // per token
  const mlmHead = (H: number, E: number) => 2 * (H * E + E * vocab); // per predicted token
  const { layers: L, hidden: H, intermediate: I } = a.size;
  if (a.objective === 'none' || a.objective === 'model') return 0;
  if (a.objective === 'mlm') return 3 * (batch * T * trunk(L, H, I) + predicted * mlmHead(H, H));
  const g = electraConfigs(a.size, vocab, { generatorRatio: a.ratio }).generator as { hidden_size: number; intermediate_size: number };
  const gen = batch * T * (trunk(L, g.hidden_size, g.intermediate_size) + 2 * H * g.hidden_size) + predicted * mlmHead(g.hidden_size, H);
  const disc = batch * T * (trunk(L, H, I) + 2 * (H * H + H));
  return 3 * (gen + disc) + gen; // + the sampling forward
}

/** Sentiment rows as examples/task-sentiment.ts reads them (the zip unpacked once, outside the repo). */
function sentiment(limit: number | null) {
  const data = join(tmpdir(), 'bert4ts-data');
  if (!existsSync(join(data, 'sentiment/sentiment.test.data'))) {
    // Unzipped beside, then renamed into place: an arm running in parallel never reads a half-written file.
    const unpacking = join(data, `.unzip-${process.pid}`);
    mkdirSync(unpacking, { recursive: true });
    execFileSync('unzip', ['-o', '-q', join(shared, 'corpora/sentiment/sentiment.zip'), '-d', unpacking]);
    try { renameSync(join(unpacking, 'sentiment'), join(data, 'sentiment')); } catch { /* another arm was first */ }
    rmSync(unpacking, { recursive: true, force: true });
  }
  const split = (name: string, most = Infinity) => readTaskRows('classify', join(data, `sentiment/sentiment.${name}.data`), {}, most);
  // The limit is on the training rows only: dev and test stay whole (2,111 rows each), so arms with any limit are scored alike.
  return { train: split('train', limit ?? Infinity), dev: split('valid'), test: split('test') };
}
/** The label set of the splits (every split's labels must be the training split's). */
const sentimentLabels = (rows: ReturnType<typeof sentiment>) => labelSet(Object.entries(rows).map(([file, r]) => ({ file, labels: r.map((x) => x.label) }))).sort();

/**
 * How spread out the model's token representations are: the mean pairwise cosine similarity of the
 * last hidden states of the tokens of the first 16 sentiment test rows (64 characters each). Random
 * weights give ≈ 0.35, a working encoder ≈ 0.5; near 1, every token maps to the same vector (a
 * collapsed encoder, from which fine-tuning starts badly).
 */
async function tokenCosine(model: Model, tokenizer: Tokenizer): Promise<number> {
  const texts = sentiment(null).test.slice(0, 16).map((r) => r.text.slice(0, 64)); // the first 16 test rows, whatever the fine-tuning limit
  const enc = texts.map((t) => tokenizer.encode(t).ids);
  const T = Math.max(...enc.map((e) => e.length));
  const out = await model.predict({ input_ids: enc.map((e) => [...e, ...Array(T - e.length).fill(0)]), attention_mask: enc.map((e) => [...Array(e.length).fill(1), ...Array(T - e.length).fill(0)]) }, { outputs: ['last_hidden_state'] });
  const h = out.last_hidden_state!, H = h.shape[2]!, d = h.data as Float32Array;
  const unit: Float32Array[] = [];
  enc.forEach((e, b) => {
    for (let t = 1; t < e.length - 1; t++) {
      const v = d.slice((b * T + t) * H, (b * T + t + 1) * H);
      const norm = Math.hypot(...v);
      unit.push(v.map((x) => x / norm));
    }
  });
  let sum = 0, pairs = 0;
  for (let i = 0; i < unit.length; i++) for (let j = i + 1; j < unit.length; j++, pairs++) for (let k = 0; k < H; k++) sum += unit[i]![k]! * unit[j]![k]!;
  return +(sum / pairs).toFixed(3);
}

/** The child: pretrain (or resume) the arm, export its last weights, fine-tune, append the result line. */
async function runArm(a: Arm): Promise<void> {
  if (a.objective === 'none' || a.objective === 'model') return runControl(a);
  const started = Date.now();
  const base = JSON.parse(readFileSync(a.settingsFile, 'utf8')) as { settings: PretrainSettings };
  const dir = join(a.work, runName(a));
  const budget = a.minutes * 60;
  const ckpt = join(dir, 'checkpoint.safetensors');
  // The schedule's length is a guess here (2 s/step, chinese-small's speed); the budget refits it after a few steps.
  const guess = Math.max(20, Math.round(budget / 2));
  const share = a.schedule?.warmupShare ?? base.settings.warmup / base.settings.steps;
  const settings: PretrainSettings = {
    ...base.settings, size: a.size, seed: a.seed, steps: guess, warmup: Math.max(1, Math.round(share * guess)), learningRate: a.schedule?.lr ?? base.settings.learningRate,
    ...(a.objective === 'electra' ? { objective: 'electra', generatorRatio: a.ratio } : { objective: 'mlm' }),
  };
  const ctl = { out: dir, resume: existsSync(ckpt), trainSeconds: budget, checkpointMinutes: 10, evalEvery: a.evalEvery, logEvery: 25 };
  console.log(`\n== ${armKey(a)}: pretraining ${a.minutes} min of steps in ${dir}${ctl.resume ? ' (resuming)' : ''}`);
  const r = await pretrain(ctl.resume ? null : settings, ctl);
  if (r.stopped !== 'budget') {
    // SIGINT/SIGTERM: the checkpoint is saved, the budget not spent; no result line for a partial arm.
    console.error(`== ${armKey(a)}: pretraining stopped (${r.stopped}) at step ${r.step} before its budget; rerun to continue it`);
    process.exit(INTERRUPTED);
  }
  const reader = new SafetensorsReader(ckpt);
  const meta = { ...reader.metadata };
  reader.close();
  const trainSeconds = Number(meta.trainSeconds), tokensSeen = Number(meta.tokensSeen);
  const pretrainWall = (Date.now() - started) / 1000;
  const model = join(dir, 'model');
  // The last weights: both arms stop at the same compute (MLM's 'best' would pick by its own held-out score).
  await exportRun(dir, model, { which: 'last', dtype: 'float32' });

  const encoder = buildModel(model, { application: 'encoder' });
  const cosine = await tokenCosine(encoder, await loadTokenizer(model));
  console.log(`== ${armKey(a)}: token representations' mean pairwise cosine ${cosine}`);
  const rows = sentiment(a.ft.limit);
  const prepared = await prepareModel({ base: model, seed: ftSeed(a), task: (t) => classifyTask(t, sentimentLabels(rows), 128) });
  console.log(`== ${armKey(a)}: fine-tuning on ${rows.train.length} train, ${rows.dev.length} dev, ${rows.test.length} test rows, ${a.ft.epochs} epochs`);
  const ft = await finetune({ model: prepared.model, task: prepared.task, train: rows.train, dev: rows.dev, test: rows.test, epochs: a.ft.epochs, batchSize: 32, lr: a.ft.lr, seed: ftSeed(a), log: console.log });

  const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8')) as { tokens: number };
  const vocab = prepared.tokenizer.vocabSize;
  const s = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as PretrainSettings;
  const flops = stepFlops(a, vocab, s.batchSize, s.maxlen, s.batchSize * Math.ceil(s.maxlen * s.maskRate)) * r.step;
  const acc = r.heldOut.accuracy;
  const row = {
    bench: 'electra', key: armKey(a), objective: a.objective, ...(a.objective === 'electra' ? { generator_ratio: a.ratio } : {}), seed: a.seed, minutes: a.minutes, size: a.size,
    steps: r.step, train_seconds: +trainSeconds.toFixed(1), ms_per_step: +((1000 * trainSeconds) / Math.max(1, r.step)).toFixed(1), tokens_seen: tokensSeen,
    epochs_of_corpus: +(tokensSeen / data.tokens).toFixed(3), train_gflops_est: Math.round(flops / 1e9), schedule: { steps: s.steps, warmup: s.warmup },
    lr: s.learningRate, ...(a.schedule ? { schedule_override: a.schedule } : {}),
    [a.objective === 'mlm' ? 'heldout_mlm_acc' : 'generator_heldout_mlm_acc']: acc === undefined ? null : +acc.toFixed(4), token_cosine: cosine,
    ...(a.objective === 'electra' ? { heldout_rtd_auc: finite(r.heldOut.rtdAuc), heldout_rtd_acc: finite(r.heldOut.rtdAccuracy), heldout_replaced: finite(r.heldOut.replaced) } : {}),
    ft: a.ft, dev_acc: +ft.dev.accuracy!.toFixed(4), test_acc: +ft.test!.accuracy!.toFixed(4), best_epoch: ft.best?.epoch ?? null,
    ft_seconds: +ft.seconds.toFixed(1), pretrain_wall_seconds: +pretrainWall.toFixed(1), load: +loadavg()[0]!.toFixed(2), time: new Date().toISOString(),
  };
  appendFileSync(a.out, JSON.stringify(row) + '\n');
  console.log(`== ${armKey(a)}: test accuracy ${row.test_acc} after ${r.step} steps (${row.ms_per_step} ms/step)`);
}

/** A model directory's size, as the result line records it. */
function modelSize(dir: string) {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  return { layers: c.num_hidden_layers, hidden: c.hidden_size, heads: c.num_attention_heads, intermediate: c.intermediate_size, maxPosition: c.max_position_embeddings };
}

/** The scratch arm's encoder (seeded random weights) and the arms' vocabulary: the settings' model directory's, trimmed from the same corpus with the same settings. */
async function scratchEncoder(a: Arm): Promise<[Model, Tokenizer]> {
  const tokenizer = await loadTokenizer(dirname(a.settingsFile));
  if (!tokenizer.keepTokens) throw new Error(`${dirname(a.settingsFile)}: not a pretrained model directory with a trimmed vocabulary`);
  return [buildModel(bertConfigJson(a.size, tokenizer.vocabSize), { application: 'encoder', seed: ftSeed(a), tokenizer }), tokenizer];
}

/** A figure for a JSON line: 4 decimals, or null when absent or not finite (JSON has no NaN). */
const finite = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : +x.toFixed(4));

/**
 * The controls, fine-tuned as the arms are: 'none', the arms' model (size, trimmed vocabulary) with
 * seeded random weights; 'model', a model directory pretrained elsewhere (its own size and vocabulary).
 */
async function runControl(a: Arm): Promise<void> {
  const [encoder, tokenizer] = a.objective === 'model' ? [buildModel(a.model!, { application: 'encoder' }), await loadTokenizer(a.model!)] : await scratchEncoder(a);
  const cosine = await tokenCosine(encoder, tokenizer);
  const rows = sentiment(a.ft.limit);
  let model: Model, task: ReturnType<typeof classifyTask>;
  if (a.objective === 'model') ({ model, task } = await prepareModel({ base: a.model!, seed: ftSeed(a), task: (t) => classifyTask(t, sentimentLabels(rows), 128) }));
  else {
    task = classifyTask(tokenizer, sentimentLabels(rows), 128);
    model = buildModel(bertConfigJson(a.size, tokenizer.vocabSize), { ...task.build, seed: ftSeed(a), tokenizer });
  }
  console.log(`\n== ${armKey(a)}: ${a.objective === 'model' ? `pretrained ${a.model}` : 'no pretraining'}; fine-tuning on ${rows.train.length} train, ${rows.dev.length} dev, ${rows.test.length} test rows, ${a.ft.epochs} epochs`);
  const ft = await finetune({ model, task, train: rows.train, dev: rows.dev, test: rows.test, epochs: a.ft.epochs, batchSize: 32, lr: a.ft.lr, seed: ftSeed(a), log: console.log });
  const row = {
    bench: 'electra', key: armKey(a), objective: a.objective, ...(a.model ? { model: relative(root, a.model) || '.' } : {}), seed: a.seed, minutes: 0, size: a.objective === 'model' ? modelSize(a.model!) : a.size, steps: 0, train_seconds: 0, ms_per_step: 0, tokens_seen: 0, epochs_of_corpus: 0, train_gflops_est: 0, token_cosine: cosine,
    ft: a.ft, dev_acc: +ft.dev.accuracy!.toFixed(4), test_acc: +ft.test!.accuracy!.toFixed(4), best_epoch: ft.best?.epoch ?? null,
    ft_seconds: +ft.seconds.toFixed(1), load: +loadavg()[0]!.toFixed(2), time: new Date().toISOString(),
  };
  appendFileSync(a.out, JSON.stringify(row) + '\n');
  console.log(`== ${armKey(a)}: test accuracy ${row.test_acc} ${a.objective === 'model' ? `from ${a.model}` : 'without pretraining'}`);
}

if (o.arm) {
  await runArm(JSON.parse(o.arm) as Arm);
  process.exit(0);
}

// ---- the parent: the arms, skipping finished ones, then the table ---------------------------------
const minutes = num('minutes', o.minutes, { above: 0 })!;
const ratios = list('ratios', o.ratios!, { above: 0, max: 1 });
const seeds = list('seeds', o.seeds!, { integer: true });
const ftSeeds = o['ft-seeds'] === undefined ? undefined : list('ft-seeds', o['ft-seeds'], { integer: true });
if (!existsSync(o.settings!)) throw new Error(`--settings ${o.settings}: no such file (a pretraining.json written by bert4ts pretrain export)`);
const baseSize = (JSON.parse(readFileSync(o.settings!, 'utf8')) as { settings: PretrainSettings }).settings.size;
const layers = num('layers', o.layers, { integer: true, above: 0 }) ?? baseSize.layers;
const hidden = num('hidden', o.hidden, { integer: true, above: 0 }) ?? baseSize.hidden;
const heads = num('heads', o.heads, { integer: true, above: 0 }) ?? (o.hidden ? Math.max(1, Math.round(hidden / 64)) : baseSize.heads);
if (hidden % heads) throw new Error(`--hidden ${hidden} is not divisible by ${heads} heads (give --heads)`);
const size = { layers, hidden, heads, intermediate: num('intermediate', o.intermediate, { integer: true, above: 0 }) ?? 4 * hidden, maxPosition: baseSize.maxPosition };
const ftLimit = num('ft-limit', o['ft-limit'], { integer: true, above: 0 }) ?? null;
const ft = { epochs: num('ft-epochs', o['ft-epochs'], { integer: true, above: 0 })!, limit: ftLimit, lr: num('ft-lr', o['ft-lr'], { above: 0 })! };
const out = resolve(o.out!);
const work = resolve(o.work ?? join(dirname(out), 'runs'));
mkdirSync(dirname(out), { recursive: true });
const lrOverride = num('lr', o.lr, { above: 0 }), warmupShare = num('warmup-share', o['warmup-share'], { above: 0, max: 1 });
const schedule = lrOverride !== undefined || warmupShare !== undefined ? { ...(lrOverride !== undefined ? { lr: lrOverride } : {}), ...(warmupShare !== undefined ? { warmupShare } : {}) } : undefined;
const controlModel = o['control-model'] === undefined ? undefined : resolve(o['control-model']);
if (controlModel !== undefined && !existsSync(join(controlModel, 'config.json'))) throw new Error(`--control-model ${o['control-model']}: not a model directory (no config.json)`);
/** `--only`: which kinds of the arms above to run (the rest are neither run nor tabled). */
const ARM_KINDS = { mlm: 'mlm', electra: 'electra', none: 'scratch', model: 'control' } as const;
const only = o.only === undefined ? undefined : new Set(o.only.split(',').map((k) => {
  if (!Object.values(ARM_KINDS).includes(k as never)) throw new Error(`--only takes a comma-separated list of ${Object.values(ARM_KINDS).join(', ')}, got '${k}'`);
  return k;
}));
const common = { seed: 0, minutes, size, ft, ...(schedule ? { schedule } : {}), evalEvery: num('eval-every', o['eval-every'], { integer: true, above: 0 })!, settingsFile: resolve(o.settings!), work, out };
const arms: Arm[] = seeds.flatMap((seed) => [
  { ...common, objective: 'mlm' as const, seed }, ...ratios.map((ratio) => ({ ...common, objective: 'electra' as const, ratio, seed })),
  ...(o.scratch ? [{ ...common, objective: 'none' as const, seed }] : []),
  ...(controlModel ? [{ ...common, objective: 'model' as const, model: controlModel, seed }] : []),
]).filter((a) => only === undefined || only.has(ARM_KINDS[a.objective]))
  .flatMap((a) => (ftSeeds ? ftSeeds.map((seed) => ({ ...a, ft: { ...a.ft, seed } })) : [a]));

type Row = Record<string, any>;
const readRows = (): Row[] => (existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l, i) => {
  let row: unknown;
  try { row = JSON.parse(l); } catch { throw new Error(`${out}:${i + 1}: not a JSON line; the results file is damaged (move it aside, or give another --out)`); }
  if (typeof row !== 'object' || row === null || typeof (row as Row).key !== 'string') throw new Error(`${out}:${i + 1}: not a result line (no "key")`);
  return row as Row;
}) : []);
const done = new Set(readRows().map((r) => r.key as string));
const todo = arms.filter((a) => !done.has(armKey(a)));
console.log(`bench electra: ${arms.length} arms (${arms.length - todo.length} already in ${out}), ${minutes} min of training steps each, ${layers}x${hidden} (${heads} heads), fine-tune ${ft.epochs} epochs${ftLimit ? ` on the first ${ftLimit} training rows` : ''}; runs in ${work}; load ${loadavg()[0]!.toFixed(2)}`);
let failed = 0, stopped = false;
const began = Date.now();
const parallel = num('parallel', o.parallel, { integer: true, above: 0 })!;
const childEnv = parallel > 1 && !process.env.BERT4TS_THREADS ? { ...process.env, BERT4TS_THREADS: String(Math.max(1, Math.floor(availableParallelism() / parallel))) } : process.env;
/** One arm in its own process; with --parallel its lines are prefixed with the arm's number. */
function runChild(i: number, a: Arm): Promise<{ status: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--arm', JSON.stringify(a)], { stdio: parallel > 1 ? ['ignore', 'pipe', 'pipe'] : 'inherit', cwd: root, env: childEnv });
  if (parallel > 1) {
    for (const [from, to] of [[child.stdout!, process.stdout], [child.stderr!, process.stderr]] as const) {
      let rest = '';
      from.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (rest + chunk).split(/\r?\n|\r/);
        rest = lines.pop()!;
        for (const line of lines) if (line) to.write(`[arm ${i + 1}] ${line}\n`);
      });
    }
  }
  return new Promise((done) => child.on('close', (status, signal) => done({ status, signal })));
}
let next = 0, finished = 0;
async function lane(): Promise<void> {
  while (!stopped && next < todo.length) {
    const i = next++, a = todo[i]!;
    const eta = finished ? ` ETA ${formatDuration(((Date.now() - began) / 1000 / finished) * (todo.length - finished) / parallel)}` : '';
    console.log(`\n[arm ${i + 1}/${todo.length}] ${armKey(a)}${eta}`);
    const r = await runChild(i, a);
    finished++;
    if (r.status === INTERRUPTED || r.signal) { failed++; stopped = true; console.error(`[arm ${i + 1}/${todo.length}] interrupted; rerun the same command to resume`); }
    else if (r.status !== 0) { failed++; console.error(`[arm ${i + 1}/${todo.length}] ${armKey(a)} failed (exit ${r.status}); rerun to retry it`); }
  }
}
await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, lane));

// Result lines written before token_cosine was recorded get it from their exported model, where it still exists.
const cosines = new Map<string, number>();
for (const r of readRows()) {
  const arm = arms.find((a) => armKey(a) === r.key);
  if (r.token_cosine !== undefined || !arm) continue;
  const dir = join(work, runName(arm), 'model');
  if (arm.objective === 'none') cosines.set(r.key, await tokenCosine(...(await scratchEncoder(arm))));
  else if (arm.objective === 'model') continue; // written with the line since it exists
  else if (existsSync(join(dir, 'model.safetensors'))) cosines.set(r.key, await tokenCosine(buildModel(dir, { application: 'encoder' }), await loadTokenizer(dir)));
}
// Read again just before rewriting: another bench process may have appended a line while the cosines ran.
const all = readRows();
for (const r of all) if (r.token_cosine === undefined && cosines.has(r.key)) r.token_cosine = cosines.get(r.key);
if (cosines.size) writeFileAtomic(out, all.map((r) => JSON.stringify(r) + '\n').join(''));
const want = new Set(arms.map(armKey));
const rows = all.filter((r) => want.has(r.key));
/** An arm's seed, and its fine-tuning seed where that differs (`--ft-seeds`): '1/2'. */
const rowFtSeed = (r: Row): number => r.ft?.seed ?? r.seed;
const seedLabel = (r: Row) => (rowFtSeed(r) === r.seed ? String(r.seed) : `${r.seed}/${rowFtSeed(r)}`);
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '      -' : `${(100 * x).toFixed(2).padStart(6)}%`);
console.log(`\n${layers}x${hidden}, ${minutes} min of training steps per arm, fine-tuned ${ft.epochs} epochs${ftLimit ? ` on the first ${ftLimit} training rows` : ''}`);
console.log('arm                          seed   steps  train s  ms/step  tokens M  GFLOP est  held-out MLM  RTD AUC  token cos  dev acc  test acc');
for (const r of rows) {
  console.log(`${label(r).padEnd(28)} ${seedLabel(r).padStart(4)} ${String(r.steps).padStart(7)} ${r.train_seconds.toFixed(0).padStart(8)} ${String(r.ms_per_step).padStart(8)} ${(r.tokens_seen / 1e6).toFixed(2).padStart(9)} ${String(r.train_gflops_est).padStart(10)} ${pct(r.heldout_mlm_acc ?? r.generator_heldout_mlm_acc).padStart(12)}${r.objective === 'electra' ? '*' : ' '} ${String(r.heldout_rtd_auc ?? '-').padStart(7)} ${String(r.token_cosine ?? '-').padStart(9)} ${pct(r.dev_acc)} ${pct(r.test_acc).padStart(9)}`);
}
const summary: Record<string, Record<string, number>> = {};
for (const name of [...new Set(rows.map((r) => label(r)))]) {
  const rs = rows.filter((r) => label(r) === name);
  const mean = (k: string) => rs.reduce((s, r) => s + r[k], 0) / rs.length;
  const sd = (k: string) => (rs.length > 1 ? Math.sqrt(rs.reduce((s, r) => s + (r[k] - mean(k)) ** 2, 0) / (rs.length - 1)) : 0);
  summary[name] = { seeds: rs.length, test_acc_mean: +mean('test_acc').toFixed(4), test_acc_sd: +sd('test_acc').toFixed(4), dev_acc_mean: +mean('dev_acc').toFixed(4), steps_mean: Math.round(mean('steps')), train_seconds_mean: +mean('train_seconds').toFixed(1), gflops_mean: Math.round(mean('train_gflops_est')) };
}
if (Object.values(summary).some((s) => s.seeds! > 1)) for (const [name, s] of Object.entries(summary)) console.log(`${name.padEnd(28)} mean over ${s.seeds} seeds: test ${pct(s.test_acc_mean)} ± ${(100 * s.test_acc_sd!).toFixed(2)}, ${s.steps_mean} steps`);
console.log(`* ELECTRA: the generator's held-out MLM accuracy (the discriminator has no MLM head)${o.scratch ? '; scratch: no pretraining, random weights fine-tuned the same way' : ''}`);
const brief = rows.map((r) => ({ arm: label(r), seed: r.seed, ft_seed: rowFtSeed(r), steps: r.steps, train_seconds: r.train_seconds, heldout_mlm_acc: r.heldout_mlm_acc ?? r.generator_heldout_mlm_acc, heldout_rtd_auc: r.heldout_rtd_auc ?? null, token_cosine: r.token_cosine ?? null, test_acc: r.test_acc }));
console.log(JSON.stringify({ bench: 'electra', minutes, size, ft, out, arms: rows.length, missing: arms.length - rows.length, load: +loadavg()[0]!.toFixed(2), summary, rows: brief }));
if (failed) process.exit(1);
