// A tiny BERT-MLM and deterministic batches for the Trainer tests (also run in a child process by
// the resume test, so the two processes build exactly the same trainer).
import { buildModel, type Model } from '../../src/models/index.ts';
import { Random } from '../../src/util/random.ts';
import { Trainer, type TrainerOptions } from '../../src/training/trainer.ts';
import { adamW, layerwiseDecay } from '../../src/training/optimizers.ts';
import { piecewiseLinear } from '../../src/training/schedules.ts';

export const LAYERS = 2;

export function tinyBert(seed = 3): Model {
  return buildModel({
    model_type: 'bert', vocab_size: 40, hidden_size: 16, num_hidden_layers: LAYERS, num_attention_heads: 2,
    intermediate_size: 32, max_position_embeddings: 16,
  }, { application: 'mlm', seed, dropoutRate: 0, attentionDropoutRate: 0 });
}

/** Batch `i`: input_ids and MLM labels as plain number arrays (about a third of the positions scored). */
export function batchAt(i: number, rows = 4, T = 8): { input_ids: number[][]; labels: number[][] } {
  const r = new Random(1000 + i);
  const input_ids = Array.from({ length: rows }, () => Array.from({ length: T }, () => 1 + r.int(39)));
  const labels = input_ids.map((row) => row.map((id) => (r.next() < 0.35 ? id : -100)));
  return { input_ids, labels };
}

/** Every feature that a resumed run must carry over: AdamW, a schedule, accumulation, EMA, layer-wise rates. */
export function fullTrainer(model: Model, extra: Partial<TrainerOptions> = {}): Promise<Trainer> {
  return Trainer.create({
    store: model.store,
    loss: (scope) => model.loss(scope),
    optimizer: adamW(piecewiseLinear(3e-3, { 4: 1, 12: 0.2 })),
    accumulate: 2,
    clipNorm: 1,
    ema: 0.9,
    lrMultiplier: layerwiseDecay(0.7, LAYERS),
    ...extra,
  });
}

/** The bytes of every weight and EMA average, for bit-for-bit comparisons. */
export function fingerprint(trainer: Trainer): Map<string, Buffer> {
  const s = trainer.state();
  const out = new Map<string, Buffer>();
  for (const set of [s.weights, s.slots]) for (const n of set.names) { const d = set.get(n).data; out.set(n, Buffer.from(d.buffer, d.byteOffset, d.byteLength)); }
  return out;
}
