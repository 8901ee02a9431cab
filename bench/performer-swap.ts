/**
 * Post 7921's question: can a trained Transformer switch to Performer without retraining? Takes the
 * pretrained MLM (models/chinese-small, written by `bert4ts pretrain` + export: config.json,
 * pretraining.json, tokenizer) and measures held-out MLM accuracy (the run's own held-out rows and
 * fixed masks):
 *   softmax (as trained) | swapped to performer m (no training) | after 100 / 500 / 2,000 fine-tuning
 *   steps with performer (features redrawn every --redraw steps) | the same for linear attention
 *   (elu + 1) | the same fine-tuning with softmax kept (the control: whether more MLM steps alone move
 *   this briefly trained model) | optionally (--scratch N) linear attention and softmax
 *   trained from random weights for N steps each on the same stream (the post's "why not train a
 *   linear attention instead", at equal budget).
 *
 *   npm run bench -- performer-swap [--model models/chinese-small] [--features 256] [--estimator favor+|favor++] [--steps 100,500,2000]
 *     [--lr 5e-5] [--batch 16] [--redraw 100] [--eval-rows 512] [--kinds performer,linear,softmax | none] [--scratch N] [--scratch-kinds linear,softmax] [--seed 1] [--out FILE.jsonl] [--quick]
 *
 * --seed: the training stream's order and masks, the performer features and the from-scratch weights
 * (default 1, the documented runs; other seeds are named in the figures).
 * --estimator: the performer arm's (default favor+, the post's and the documented runs'; the library's
 * default for bidirectional attention is favor++).
 * Fine-tuning continues the MLM objective on the run's training stream (dense labels, AdamW, linear
 * warm-up over 10% of the steps). --out appends each figure as a JSON line when it is measured, so a
 * stopped run keeps what it reached. --quick: 20 steps, 64 eval rows (a smoke test of the script).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../src/graph/dtype.ts';
import { buildModel, type Model } from '../src/models/build.ts';
import type { AttentionSpec } from '../src/nn/attention.ts';
import { featureRedraw } from '../src/nn/performer.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { Trainer } from '../src/training/trainer.ts';
import { adamW } from '../src/training/optimizers.ts';
import { warmupLinear } from '../src/training/schedules.ts';
import { Progress } from '../src/util/progress.ts';
import { heldOutBatches, prepareData, type PretrainSettings } from '../src/training/pretrain/run.ts';
import { PretrainStream, specialIds } from '../src/training/pretrain/data.ts';

const args = process.argv.slice(2);
const value = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const quick = args.includes('--quick');
const dir = value('--model', 'models/chinese-small');
const features = Number(value('--features', '256'));
const estimator = value('--estimator', 'favor+');
if (estimator !== 'favor+' && estimator !== 'favor++') throw new Error(`--estimator: favor+ or favor++, got ${estimator}`);
const checkpoints = value('--steps', quick ? '10,20' : '100,500,2000').split(',').map(Number);
const lr = Number(value('--lr', '5e-5'));
const batchSize = Number(value('--batch', '16'));
const redrawEvery = Number(value('--redraw', '100'));
const evalRows = Number(value('--eval-rows', quick ? '64' : '512'));
const scratch = args.includes('--scratch') ? Number(value('--scratch', '0')) : 0;
// --scratch-kinds: which from-scratch arms (one per process lets two cores run them side by side).
const scratchKinds = value('--scratch-kinds', 'linear,softmax').split(',');
if (scratchKinds.some((k) => k !== 'linear' && k !== 'softmax')) throw new Error(`--scratch-kinds: linear and/or softmax, got ${scratchKinds.join(',')}`);
// --kinds none: no swapped arm (e.g. only --scratch).
const kinds = value('--kinds', 'performer,linear,softmax').split(',').filter((k) => k !== 'none');
if (kinds.some((k) => k !== 'performer' && k !== 'linear' && k !== 'softmax')) throw new Error(`--kinds: performer, linear and/or softmax, or none, got ${kinds.join(',')}`);
const out = args.includes('--out') ? value('--out', '') : undefined;
const seed = Number(value('--seed', '1'));
if (!Number.isInteger(seed)) throw new Error(`--seed: an integer, got ${value('--seed', '')}`);
const seedTag = seed === 1 ? '' : ` (seed ${seed})`;

if (!existsSync(join(dir, 'pretraining.json'))) {
  console.error(`${dir}: no pretraining.json (a model directory exported by bert4ts pretrain is needed; the pretrained Chinese model may not have landed yet)`);
  process.exit(2);
}
const { settings } = JSON.parse(readFileSync(join(dir, 'pretraining.json'), 'utf8')) as { settings: PretrainSettings };
const tokenizer = await loadTokenizer(dir);
const data = await prepareData({ ...settings, evalRows }, tokenizer);
const heldOut = heldOutBatches(data, { ...settings, evalRows });
const stream = new PretrainStream(data.train, specialIds(data.tokenizer), { ...data.maskOptions, maxlen: settings.maxlen, batchSize, seed: settings.seed + 6 + seed });
const figures: Record<string, number> = {};

/** Held-out MLM accuracy: argmax of the logits at the masked positions (mlm_positions, flat b * T + t). */
async function accuracy(model: Model): Promise<number> {
  let right = 0, total = 0;
  for (const b of heldOut) {
    const { logits } = await model.predict({ input_ids: b.input_ids!, attention_mask: b.attention_mask!, token_type_ids: b.token_type_ids! }, { outputs: ['logits'] });
    const V = logits!.shape[2]!, data = logits!.data as Float32Array;
    const pos = b.mlm_positions!.data as BigInt64Array, lab = b.mlm_labels!.data as BigInt64Array;
    for (let i = 0; i < pos.length; i++) {
      if (lab[i]! < 0n) continue;
      const row = data.subarray(Number(pos[i]!) * V, (Number(pos[i]!) + 1) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
      right += best === Number(lab[i]!) ? 1 : 0;
      total++;
    }
  }
  return right / total;
}

function report(name: string, acc: number, rate = lr): void {
  figures[name] = +acc.toFixed(4);
  if (out) appendFileSync(out, JSON.stringify({ model: dir, features, estimator, lr: rate, batch: batchSize, name, accuracy: figures[name], time: new Date().toISOString() }) + '\n');
  console.log(`${name.padEnd(36)} held-out MLM accuracy ${(100 * acc).toFixed(2)}%`);
}

/** Fine-tune `model` with the MLM loss, reporting accuracy at each checkpoint step. */
async function fineTune(model: Model, spec: AttentionSpec, label: string, steps: number[], rate = lr): Promise<void> {
  const total = Math.max(...steps);
  const trainer = await Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer: adamW(warmupLinear({ peak: rate, warmup: Math.ceil(total / 10), total }), { weightDecay: 0.01 }) });
  const redraw = spec.kind === 'performer' ? featureRedraw((s) => model.loss(s), spec) : () => ({});
  const progress = new Progress({ label, total, unit: 'step' });
  for (let step = 0; step < total; step++) {
    const { input_ids, attention_mask, token_type_ids, labels } = stream.batchAt(step, { dense: true });
    const { loss } = await trainer.trainStep({ input_ids: input_ids!, attention_mask: attention_mask!, token_type_ids: token_type_ids!, labels: labels!, ...redraw(step) } as Record<string, HostTensor>);
    progress.tick(1, { loss: +loss.toFixed(3) });
    if (steps.includes(step + 1)) report(`${label} +${step + 1} steps`, await accuracy(model), rate);
  }
  progress.finish();
  await trainer.dispose(); // the next arm's sessions need the memory
}

const original = buildModel(dir, { application: 'mlm' });
report('softmax (as trained)', await accuracy(original));
const performer: AttentionSpec = { kind: 'performer', features, seed, redraw: redrawEvery, estimator };
const arms: AttentionSpec[] = [performer, { kind: 'linear' }, { kind: 'softmax' }];
for (const spec of arms.filter((k) => kinds.includes(k.kind))) {
  const label = (spec.kind === 'performer' ? `performer${estimator === 'favor++' ? ' (favor++)' : ''} m=${features}` : spec.kind === 'linear' ? 'linear' : 'softmax (control)') + seedTag;
  const model = buildModel(dir, { application: 'mlm', attention: spec });
  if (spec.kind !== 'softmax') report(`${label} swapped, no training`, await accuracy(model));
  if (Math.max(...checkpoints) > 0) await fineTune(model, spec, label, checkpoints); // --steps 0: the swap alone
}
if (scratch > 0) {
  // Same architecture, random weights, each attention from the first step at the original run's rate.
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const { bert4ts: _saved, ...config } = raw;
  for (const spec of ([{ kind: 'linear' }, { kind: 'softmax' }] as AttentionSpec[]).filter((k) => scratchKinds.includes(k.kind))) {
    const fresh = buildModel(config, { application: 'mlm', attention: spec, keepTokens: undefined, seed });
    await fineTune(fresh, spec, `${spec.kind} from scratch${seedTag}`, [...new Set([Math.ceil(scratch / 4), scratch])], settings.learningRate);
  }
}
console.log(JSON.stringify(figures));
