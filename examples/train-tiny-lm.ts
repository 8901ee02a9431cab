// Train a tiny GPT from scratch to copy a sequence of digits: the engine end to end (graph,
// autodiff, one ORT run per training step, AdamW with a warmup-cosine schedule).
//   npx tsx examples/train-tiny-lm.ts
import { crossEntropy, input, type HostTensor } from '../src/graph/index.ts';
import { ParamStore } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { gpt2 } from '../src/models/gpt2.ts';
import { Trainer, adamW, warmupCosine } from '../src/training/index.ts';
import { GPT2Decoder, greedy } from '../src/generation/index.ts';

const N = 6, SEP = 10;
const config = { vocabSize: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, maxPosition: 2 * N + 1, intermediateSize: 128 };
const rng = new Random(7);
function* batches(): Generator<Record<string, HostTensor>> {
  for (;;) {
    const ids = new BigInt64Array(32 * 2 * N), labels = new BigInt64Array(32 * 2 * N).fill(-100n);
    for (let b = 0; b < 32; b++) {
      const digits = Array.from({ length: N }, () => rng.int(10));
      const seq = [...digits, SEP, ...digits];
      for (let t = 0; t < 2 * N; t++) {
        ids[b * 2 * N + t] = BigInt(seq[t]!);
        if (t >= N) labels[b * 2 * N + t] = BigInt(seq[t + 1]!);
      }
    }
    yield { ids: { dtype: 'int64', shape: [32, 2 * N], data: ids }, labels: { dtype: 'int64', shape: [32, 2 * N], data: labels } };
  }
}

const store = new ParamStore(1);
const trainer = await Trainer.create({
  store,
  loss: (scope) => crossEntropy(gpt2(scope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits, input('labels', 'int64', ['batch', 'seq'])),
  optimizer: adamW(warmupCosine({ peak: 3e-3, warmup: 50, total: 600, min: 3e-4 })),
  clipNorm: 1,
});
await trainer.fit({ batches: batches(), steps: 600 });

// Decode with the KV cache: the model should copy the digits after the separator.
const prompt = [3, 1, 4, 1, 5, 9, SEP];
const [copy] = await greedy(new GPT2Decoder(store, config), [prompt], { maxNewTokens: N });
console.log(`prompt ${prompt.slice(0, N).join('')} -> ${copy!.join('')}`);
