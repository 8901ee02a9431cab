/**
 * Generation benchmark: ms per token, KV-cached vs full recompute of the prefix at every step (the
 * bert4keras way), batch 1 and 8, 64 and 256 new tokens, for a GPT-2-small-shaped model (12 layers,
 * hidden 768, vocab 50,257; 16-token prompt) and a T5-base-shaped encoder-decoder (12+12 layers,
 * d_model 768, d_ff 3072, vocab 32,128; 32-token input), random weights; and the time to stream the
 * GPT-2 weights from memory once (a GEMV over the same number of bytes), the floor per token.
 *   npm run bench -- generation [--quick] [--all] [--only gpt2|t5]   (--all: also recompute at batch 8 x 256)
 */
import { input, matmul, param, reshape } from '../src/graph/ops.ts';
import { ParamStore, Scope } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { gpt2, type GPT2Config } from '../src/models/gpt2.ts';
import { compile } from '../src/runtime/session.ts';
import { GPT2Decoder, type DecoderState, type IncrementalLM, type StepInput } from '../src/generation/causalLM.ts';
import { greedy } from '../src/generation/decode.ts';
import { T5Seq2Seq } from '../src/generation/seq2seq.ts';
import { t5Decoder, t5Encoder, type T5Config } from '../src/models/t5.ts';

const quick = process.argv.includes('--quick');
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const config: GPT2Config = { vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, maxPosition: 1024 };

/** The bert4keras way: no cache; every step runs the whole sequence so far. */
class RecomputeLM implements IncrementalLM {
  readonly vocabSize = config.vocabSize;
  readonly maxPosition = config.maxPosition;
  private history: number[][] = [];
  private exe;
  constructor(store: ParamStore) {
    const ids = input('input_ids', 'int64', ['batch', 'seq']);
    const { logits } = gpt2(new Scope(store), config, { ids, lastPositionOnly: true });
    this.exe = compile({ logits: reshape(logits, ['batch', config.vocabSize]) }, { params: 'initializers', paramValue: (n) => store.get(n) });
  }
  initialState(): DecoderState {
    this.history = [];
    return { cache: [], past: 0 };
  }
  async step(inp: StepInput, state: DecoderState) {
    if (this.history.length === 0) this.history = inp.ids.map((r) => [...r]);
    else this.history = inp.cacheIndex.map((src, i) => [...this.history[src]!, inp.ids[i]![0]!]);
    const n = this.history[0]!.length;
    const data = BigInt64Array.from(this.history.flat().map(BigInt));
    const out = await (await this.exe).run({ input_ids: { dtype: 'int64', shape: [this.history.length, n], data } });
    return { logits: out.logits!.data as Float32Array, state: { cache: [], past: state.past + inp.ids[0]!.length } };
  }
}

function randomStore(): ParamStore {
  const store = new ParamStore(1);
  gpt2(new Scope(store), config, { ids: input('input_ids', 'int64', ['batch', 'seq']) }); // creates seeded weights
  return store;
}

async function msPerToken(lm: IncrementalLM, batch: number, newTokens: number, prompts?: number[][]): Promise<number> {
  const r = new Random(batch);
  prompts ??= Array.from({ length: batch }, () => Array.from({ length: 16 }, () => r.int(config.vocabSize)));
  await greedy(lm, prompts, { maxNewTokens: 2 }); // warm-up (session creation)
  const t = performance.now();
  const out = await greedy(lm, prompts, { maxNewTokens: newTokens });
  if (out[0]!.length !== newTokens) throw new Error('generation stopped early');
  return (performance.now() - t) / newTokens;
}

async function weightStreamMs(bytes: number): Promise<number> {
  const K = 1024, N = Math.round(bytes / 4 / K);
  const store = new ParamStore(0);
  const w = new Float32Array(K * N).fill(0.001);
  store.set('w', { dtype: 'float32', shape: [K, N], data: w });
  const exe = await compile({ y: matmul(input('x', 'float32', [1, K]), param('w', 'float32', [K, N])) }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const feed = { x: { dtype: 'float32' as const, shape: [1, K], data: new Float32Array(K).fill(1) } };
  await exe.run(feed);
  const ts: number[] = [];
  for (let i = 0; i < 10; i++) { const t = performance.now(); await exe.run(feed); ts.push(performance.now() - t); }
  await exe.release();
  return ts.sort((a, b) => a - b)[5]!;
}

const store = randomStore();
let weightBytes = 0;
for (const v of store.values.values()) weightBytes += v.data.byteLength;
const figures: Record<string, number> = {};
const streamMs = await weightStreamMs(weightBytes);
figures.weights_mb = weightBytes / 1e6;
figures.weight_stream_ms = streamMs;
console.log(`GPT-2-small weights: ${(weightBytes / 1e6).toFixed(0)} MB; streaming them once (GEMV): ${streamMs.toFixed(1)} ms (${(weightBytes / streamMs / 1e6).toFixed(1)} GB/s)`);
const cached = new GPT2Decoder(store, config);
const recompute = new RecomputeLM(store);
for (const batch of only === 't5' ? [] : quick ? [1] : [1, 8]) {
  for (const n of quick ? [64] : [64, 256]) {
    const c = await msPerToken(cached, batch, n);
    figures[`cached_b${batch}_n${n}_ms_per_token`] = c;
    const skipRecompute = batch === 8 && n === 256 && !process.argv.includes('--all');
    const r = skipRecompute ? NaN : await msPerToken(recompute, batch, n);
    figures[`recompute_b${batch}_n${n}_ms_per_token`] = r;
    console.log(`batch ${batch}, ${n} new tokens: cached ${c.toFixed(1)} ms/token, recompute ${Number.isNaN(r) ? 'skipped (--all)' : r.toFixed(1) + ' ms/token'}${Number.isNaN(r) ? '' : `, speed-up ${(r / c).toFixed(1)}x`}`);
  }
}
// ---- T5-base-shaped encoder-decoder ----
const t5: T5Config = {
  version: 't5', vocabSize: 32128, dModel: 768, dKv: 64, dFf: 3072, numHeads: 12, numLayers: 12, numDecoderLayers: 12,
  relativeAttentionNumBuckets: 32, relativeAttentionMaxDistance: 128, layerNormEpsilon: 1e-6, activation: 'relu', gated: false,
  tieWordEmbeddings: true, dropoutRate: 0, padTokenId: 0, eosTokenId: 1, decoderStartTokenId: 0,
};
const t5Store = new ParamStore(2);
{
  const scope = new Scope(t5Store);
  const ids = input('input_ids', 'int64', ['batch', 'src']);
  t5Decoder(scope, t5, { decoderInputIds: input('decoder_input_ids', 'int64', ['batch', 'seq']), encoderHidden: t5Encoder(scope, t5, { inputIds: ids }) });
}
/** T5 the bert4keras way: the encoder output is kept, the decoder reruns over the whole prefix. */
function recomputeT5(lm: IncrementalLM): IncrementalLM {
  let history: number[][] = [];
  return {
    vocabSize: lm.vocabSize, maxPosition: lm.maxPosition,
    initialState: (rows) => { history = []; return lm.initialState(rows); },
    async step(inp, state) {
      history = history.length === 0 ? inp.ids.map((r) => [...r]) : inp.cacheIndex.map((src, i) => [...history[src]!, inp.ids[i]![0]!]);
      const rows = history.length, n = history[0]!.length;
      const fresh = lm.initialState(rows);
      (fresh as any).encoderRow = (state as any).encoderRow ?? (fresh as any).encoderRow;
      const r = await lm.step({ ids: history, positions: history.map((h) => h.map((_, i) => i)), attentionMask: history.map(() => Array(n).fill(1)), cacheIndex: history.map((_, i) => i) }, fresh);
      return { logits: r.logits, state: { ...r.state, past: n } };
    },
  };
}
const t5Gen = new T5Seq2Seq(t5Store, t5);
for (const batch of only === 'gpt2' ? [] : quick ? [1] : [1, 8]) {
  const r = new Random(100 + batch);
  const lm = await t5Gen.encode(Array.from({ length: batch }, () => Array.from({ length: 32 }, () => 2 + r.int(t5.vocabSize - 2))));
  const start = Array.from({ length: batch }, () => [t5.decoderStartTokenId]);
  for (const n of quick ? [64] : [64, 256]) {
    const c = await msPerToken(lm, batch, n, start);
    figures[`t5_cached_b${batch}_n${n}_ms_per_token`] = c;
    const skip = batch === 8 && n === 256 && !process.argv.includes('--all');
    const rc = skip ? NaN : await msPerToken(recomputeT5(lm), batch, n, start);
    figures[`t5_recompute_b${batch}_n${n}_ms_per_token`] = rc;
    console.log(`T5-base batch ${batch}, ${n} new tokens: cached ${c.toFixed(1)} ms/token, recompute ${Number.isNaN(rc) ? 'skipped (--all)' : rc.toFixed(1) + ' ms/token'}${Number.isNaN(rc) ? '' : `, speed-up ${(rc / c).toFixed(1)}x`}`);
  }
}

const b1 = figures.cached_b1_n64_ms_per_token;
if (b1) console.log(`batch-1 cached vs weight streaming floor: ${(b1 / streamMs).toFixed(2)}x (target <= 1.5x); vs transformers.js ~26 ms/token: ${(26 / b1).toFixed(2)}x`);
console.log(JSON.stringify(figures));
