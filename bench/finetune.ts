/**
 * Fine-tuning step benchmark: BERT with 4 layers, hidden 256, a 21,128-token vocabulary (Chinese
 * BERT's), batch 32 x 64, one Trainer step (forward, backward, clipping, AdamW: one ORT run) for a
 * sentence classifier and for UniLM (MLM head over every position), with the full vocabulary and
 * trimmed by keepTokens to 13,168 tokens (what models/chinese-small keeps of Chinese BERT's vocabulary
 * by corpus counts; --keep N for another size); beside the same steps in PyTorch when /usr/bin/python3
 * has torch (run with OMP_WAIT_POLICY=PASSIVE, 2 threads).
 *   npm run bench -- finetune [--quick] [--keep N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { buildModel } from '../src/models/index.ts';
import { Random } from '../src/util/random.ts';
import { Trainer, adamW, type TrainingBatch } from '../src/training/index.ts';

const quick = process.argv.includes('--quick');
const reps = quick ? 2 : 5;
const VOCAB = 21128, B = 32, T = 64;
const KEEP = process.argv.includes('--keep') ? Number(process.argv[process.argv.indexOf('--keep') + 1]) : 13168;
if (!(Number.isInteger(KEEP) && KEEP > 1 && KEEP < VOCAB)) throw new Error(`--keep must be an integer in (1, ${VOCAB}), got ${KEEP}`);
const config = {
  model_type: 'bert', vocab_size: VOCAB, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4,
  intermediate_size: 1024, max_position_embeddings: 512, type_vocab_size: 2,
};

async function stepMs(task: 'classify' | 'unilm', keep: boolean): Promise<number> {
  const keepTokens = keep ? Array.from({ length: KEEP }, (_, i) => i) : undefined;
  const model = buildModel(config, task === 'classify' ? { application: 'encoder', numClasses: 2, keepTokens, seed: 1 } : { application: 'unilm', keepTokens, seed: 1 });
  const trainer = await Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer: adamW(1e-4), clipNorm: 1 });
  const r = new Random(2), V = keep ? KEEP : VOCAB;
  const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => r.int(V)));
  const segments = ids.map((row) => row.map((_, t) => (task === 'unilm' && t >= T / 2 ? 1 : 0)));
  const batch: TrainingBatch = task === 'classify'
    ? { input_ids: ids, labels: ids.map((row) => row[0]! % 2) }
    : { input_ids: ids, token_type_ids: segments, labels: ids.map((row, b) => row.map((id, t) => (segments[b]![t] ? id : -100))) };
  await trainer.trainStep(batch); // compile
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await trainer.trainStep(batch);
    ts.push(performance.now() - t);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

/** The same step in PyTorch, in its own process right after ours (so that both see the same load). */
function torchStepMs(task: 'classify' | 'unilm', vocab: number): number {
  const r = spawnSync('/usr/bin/python3', [new URL('./_finetune_torch.py', import.meta.url).pathname, String(reps), task, String(vocab)], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '2' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench/_finetune_torch.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)[`${task}_${vocab}_ms`];
}

const figures: Record<string, number> = {};
const torch = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!torch) console.log('PyTorch not available (/usr/bin/python3 with torch): skipping the PyTorch column');
console.log(`BERT 4 layers, hidden 256, batch ${B} x ${T}, one AdamW step (median of ${reps}); 2 threads; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`${'step'.padEnd(44)}${'bert4ts ms'.padStart(12)}${torch ? 'PyTorch ms'.padStart(12) + 'ratio'.padStart(8) : ''}`);
for (const task of ['classify', 'unilm'] as const) {
  for (const keep of [false, true]) {
    const vocab = keep ? KEEP : VOCAB;
    const ms = await stepMs(task, keep);
    figures[`${task}_${vocab}_ms`] = Math.round(ms);
    const theirs = torch ? torchStepMs(task, vocab) : undefined;
    if (theirs !== undefined) figures[`torch_${task}_${vocab}_ms`] = Math.round(theirs);
    const label = `${task === 'classify' ? 'classifier' : 'UniLM (MLM head)'}, vocab ${vocab}${keep ? ' (keepTokens)' : ''}`;
    console.log(`${label.padEnd(44)}${ms.toFixed(0).padStart(12)}${theirs !== undefined ? theirs.toFixed(0).padStart(12) + (ms / theirs).toFixed(2).padStart(8) : ''}`);
  }
}
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(JSON.stringify(figures));
