// A tiny causal LM trained from scratch learns to copy a sequence (≥ 99% token accuracy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crossEntropy } from '../../src/graph/composite.ts';
import { input } from '../../src/graph/ops.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { gpt2, type GPT2Config } from '../../src/models/gpt2.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adamW } from '../../src/training/optimizers.ts';
import { warmupCosine } from '../../src/training/schedules.ts';
import { compile } from '../../src/runtime/session.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';

const N = 6; // digits to copy
const SEP = 10;
const config: GPT2Config = { vocabSize: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, maxPosition: 2 * N + 1, intermediateSize: 128 };

function batch(r: Random, size: number): { ids: HostTensor; labels: HostTensor } {
  const T = 2 * N;
  const ids = new BigInt64Array(size * T);
  const labels = new BigInt64Array(size * T).fill(-100n);
  for (let b = 0; b < size; b++) {
    const digits = Array.from({ length: N }, () => r.int(10));
    const seq = [...digits, SEP, ...digits]; // length 2N+1; input = seq[:-1], target = seq[1:]
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = BigInt(seq[t]!);
      if (t >= N) labels[b * T + t] = BigInt(seq[t + 1]!); // only the copied half is scored
    }
  }
  return { ids: { dtype: 'int64', shape: [size, T], data: ids }, labels: { dtype: 'int64', shape: [size, T], data: labels } };
}

test('tiny GPT learns to copy a sequence to >= 99% token accuracy within 1500 steps', async () => {
  const store = new ParamStore(1);
  const trainer = await Trainer.create({
    store,
    loss: (scope) => crossEntropy(gpt2(scope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits, input('labels', 'int64', ['batch', 'seq'])),
    optimizer: adamW(warmupCosine({ peak: 3e-3, warmup: 50, total: 1500, min: 3e-4 }), { weightDecay: 0.01 }),
    clipNorm: 1,
  });
  const evalScope = new Scope(store);
  const evalLogits = gpt2(evalScope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits;
  const r = new Random(7);
  const heldOut = batch(new Random(12345), 256);
  let accuracy = 0;
  let firstLoss = NaN;
  let lastLoss = NaN;
  for (let step = 0; step < 1500; step++) {
    const b = batch(r, 32);
    const res = await trainer.trainStep({ ids: b.ids, labels: b.labels });
    if (step === 0) firstLoss = res.loss;
    lastLoss = res.loss;
    if (step % 100 === 99) {
      const exe = await compile({ logits: evalLogits }, { params: 'initializers', paramValue: (n) => store.get(n) });
      const logits = (await exe.run({ ids: heldOut.ids })).logits!.data as Float32Array;
      let correct = 0, total = 0;
      const V = config.vocabSize;
      for (let i = 0; i < heldOut.labels.data.length; i++) {
        const y = Number(heldOut.labels.data[i]);
        if (y < 0) continue;
        let best = 0;
        for (let v = 1; v < V; v++) if (logits[i * V + v]! > logits[i * V + best]!) best = v;
        correct += best === y ? 1 : 0;
        total++;
      }
      accuracy = correct / total;
      await exe.release();
      if (accuracy >= 0.99) break;
    }
  }
  assert.ok(lastLoss < firstLoss / 5, `loss fell from ${firstLoss} to ${lastLoss}`);
  assert.ok(accuracy >= 0.99, `held-out token accuracy ${accuracy}`);
});
