/**
 * Post 7846's first claim, measured: an ALBERT of the same width and depth as a BERT is no faster at
 * inference and only a little faster to train (the post: ≈10–20%), because sharing the layers saves
 * parameters, not computation. Also ALBERT vs ALBERT-unshared (the same graph with one block per
 * layer: the difference is the optimizer's work on 1/L as many weights).
 *
 *   npm run bench -- albert [--sizes 4x256,12x768] [--vocab 13168] [--batch 16] [--seq 128] [--rounds 12]
 *
 * Per size, one training step (MLM with the gathered head, AdamW, clip 1; the pretraining graph) and
 * one inference forward (encoder, the same batch) of each model, round-robin: each round times every
 * model once, so a change in the machine's load touches all of them alike. Medians over the rounds.
 * ALBERT factorises the embeddings (E = 128) as released; `bert-e128` is a BERT with the same
 * factorised embeddings, separating the embedding saving from the layer sharing.
 * Prints rows, then one JSON line with the ratios.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { HostTensor } from '../src/graph/dtype.ts';
import { buildBert, parseBertConfig, type BertConfig } from '../src/models/bert.ts';
import { ParamStore, Scope } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { compile } from '../src/runtime/session.ts';
import { Trainer } from '../src/training/trainer.ts';
import { adamW } from '../src/training/optimizers.ts';
import { constant } from '../src/training/schedules.ts';
import { gatheredMlm } from '../src/training/pretrain/model.ts';
import { maskedBatch, type PackedRows } from '../src/training/pretrain/data.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { sizes: { type: 'string', default: '4x256' }, vocab: { type: 'string', default: '13168' }, batch: { type: 'string', default: '16' }, seq: { type: 'string', default: '128' }, rounds: { type: 'string', default: '12' } },
});
const V = Number(values.vocab), B = Number(values.batch), T = Number(values.seq), rounds = Number(values.rounds);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function config(family: 'bert' | 'albert' | 'albert_unshared', layers: number, hidden: number, embedding: number): BertConfig {
  return parseBertConfig({
    vocab_size: V, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: hidden / 64, intermediate_size: 4 * hidden,
    max_position_embeddings: T, type_vocab_size: 2, embedding_size: embedding, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
  }, family === 'bert' && embedding !== hidden ? 'electra' : family); // ELECTRA's graph = BERT with a projected embedding
}

function batch(): Record<string, HostTensor> {
  const r = new Random(7);
  const packed: PackedRows = { maxlen: T, rows: B, ids: new Int32Array(B * T), wordStart: new Uint8Array(B * T).fill(1), maskable: new Uint8Array(B * T).fill(1), lengths: new Int32Array(B).fill(T) };
  for (let i = 0; i < B * T; i++) packed.ids[i] = 5 + r.int(V - 5);
  for (let b = 0; b < B; b++) packed.maskable[b * T] = 0;
  return maskedBatch(packed, Array.from({ length: B }, (_, i) => i), Array.from({ length: B }, (_, i) => i + 1), { rate: 0.15, maxPredictions: Math.ceil(T * 0.15), maskId: 4, randomIds: Int32Array.from({ length: V - 5 }, (_, i) => i + 5) });
}

interface Contender { name: string; params: number; train: () => Promise<void>; infer: () => Promise<void>; release: () => Promise<void>; trainMs: number[]; inferMs: number[] }

async function contender(name: string, c: BertConfig, feeds: Record<string, HostTensor>): Promise<Contender> {
  const store = new ParamStore(1);
  const trainer = await Trainer.create({ store, loss: (s) => gatheredMlm(s, c).loss, optimizer: adamW(constant(1e-4)), clipNorm: 1 });
  const h = buildBert(new Scope(store), c, 'encoder', {}).outputs.last_hidden_state!;
  const exe = await compile({ h }, { params: 'initializers', paramValue: (n) => store.get(n), name: `albert-bench-${name}` });
  const inferFeeds = Object.fromEntries(Object.entries(feeds).filter(([n]) => exe.inputs.some((i) => i.name === n)));
  const params = trainer.trainable.reduce((n, w) => n + store.get(w)!.data.length, 0);
  await trainer.trainStep(feeds);
  await exe.run(inferFeeds);
  return {
    name, params, trainMs: [], inferMs: [],
    train: async () => { await trainer.trainStep(feeds); },
    infer: async () => { await exe.run(inferFeeds); },
    release: () => exe.release(),
  };
}

const summary: Record<string, number> = {};
console.log(`batch ${B} x ${T}, vocab ${V}, ${rounds} rounds, load ${loadavg()[0]!.toFixed(2)}`);
for (const size of values.sizes!.split(',')) {
  const [layers, hidden] = size.split('x').map(Number) as [number, number];
  const feeds = batch();
  const models = [
    await contender('bert', config('bert', layers, hidden, hidden), feeds),
    await contender('bert-e128', config('bert', layers, hidden, 128), feeds),
    await contender('albert', config('albert', layers, hidden, 128), feeds),
    await contender('albert-unshared', config('albert_unshared', layers, hidden, 128), feeds),
  ];
  for (let r = 0; r < rounds; r++) {
    for (const m of models) {
      let t = performance.now();
      await m.train();
      m.trainMs.push(performance.now() - t);
      t = performance.now();
      await m.infer();
      m.inferMs.push(performance.now() - t);
    }
  }
  const base = models[0]!;
  console.log(`\n${layers} layers x ${hidden}`);
  console.log('model              params      train ms/step   vs bert   inference ms   vs bert');
  for (const m of models) {
    const train = median(m.trainMs), infer = median(m.inferMs);
    console.log(`${m.name.padEnd(17)} ${(m.params / 1e6).toFixed(2).padStart(7)}M ${train.toFixed(1).padStart(14)} ${(train / median(base.trainMs)).toFixed(3).padStart(9)} ${infer.toFixed(1).padStart(14)} ${(infer / median(base.inferMs)).toFixed(3).padStart(9)}`);
    summary[`${size}_${m.name}_train_vs_bert`] = +(train / median(base.trainMs)).toFixed(3);
    summary[`${size}_${m.name}_infer_vs_bert`] = +(infer / median(base.inferMs)).toFixed(3);
    summary[`${size}_${m.name}_params_m`] = +(m.params / 1e6).toFixed(2);
  }
  for (const m of models) await m.release();
}
console.log(JSON.stringify({ bench: 'albert', batch: B, seq: T, vocab: V, load: +loadavg()[0]!.toFixed(2), ...summary }));
