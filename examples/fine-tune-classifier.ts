// Train a small BERT sentence classifier with the bert4keras-style training loop: number[][]
// batches (attention_mask and token_type_ids filled in), a dev evaluation every 25 steps shown on the
// progress line, the best weights kept, early stopping, EMA weights, layer-wise learning-rate decay,
// a piecewise-linear schedule, and a saved state that a new Trainer resumes from.
//   npx tsx examples/fine-tune-classifier.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/models/index.ts';
import { Random } from '../src/util/random.ts';
import { Trainer, adamW, layerwiseDecay, piecewiseLinear } from '../src/training/index.ts';

// Task: does the sentence contain token 7? (Label 1 or 0; [CLS] = 1 starts each sentence.)
function batch(r: Random, size = 32, T = 10): { input_ids: number[][]; labels: number[] } {
  const input_ids = Array.from({ length: size }, () => [1, ...Array.from({ length: T - 1 }, () => 8 + r.int(24))]);
  const labels = input_ids.map((row, i) => (i % 2 === 0 ? ((row[1 + r.int(T - 1)] = 7), 1) : 0));
  return { input_ids, labels };
}
const dev = Array.from({ length: 4 }, (_, i) => batch(new Random(100 + i)));

const model = buildModel({
  model_type: 'bert', vocab_size: 32, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 64, max_position_embeddings: 16,
}, { application: 'encoder', numClasses: 2, seed: 1 });

async function accuracy(): Promise<number> {
  let hits = 0, total = 0;
  for (const b of dev) {
    const logits = (await model.predict({ input_ids: b.input_ids }, { outputs: ['logits'] })).logits!.data as Float32Array;
    b.labels.forEach((y, i) => { hits += Number(logits[2 * i + 1]! > logits[2 * i]!) === y ? 1 : 0; total++; });
  }
  return hits / total;
}

const options = {
  store: model.store,
  loss: (scope: import('../src/nn/params.ts').Scope) => model.loss(scope),
  optimizer: adamW(piecewiseLinear(1e-3, { 20: 1, 150: 0.1 })), // warm up over 20 steps, then decay to 1e-4
  lrMultiplier: layerwiseDecay(0.8, 2),                          // lower layers learn more slowly
  ema: 0.95,                                                    // evaluation uses the averaged weights
  clipNorm: 1,
};
const trainer = await Trainer.create(options);
const dir = mkdtempSync(join(tmpdir(), 'bert4ts-example-'));
const rng = new Random(7);
const result = await trainer.fit({
  batches: (function* () { for (;;) yield batch(rng); })(),
  steps: 150,
  evalEvery: 25,
  dev,                                                          // adds dev_loss, the mean loss without dropout
  evaluate: async () => ({ accuracy: await accuracy() }),       // any metrics, computed from model.store
  monitor: 'dev_loss', restoreBest: true, patience: 3,          // mode 'min' for a loss; 'max' for accuracy
  saveTo: dir, checkpointEvery: 100,
});
console.log(`stopped (${result.stopped}) at step ${trainer.step}; best dev_loss ${result.best!.value.toFixed(4)} at step ${result.best!.step}`);
console.log(`restored best weights: dev accuracy ${await accuracy()}`);

// A new Trainer (in another process, after a crash, ...) continues the saved run exactly.
const resumed = await Trainer.create(options);
resumed.restore(dir);
console.log(`resumed at step ${resumed.step}, best so far ${resumed.best!.value.toFixed(4)} at step ${resumed.best!.step}`);
rmSync(dir, { recursive: true, force: true });
