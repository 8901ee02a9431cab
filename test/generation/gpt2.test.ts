import { test } from 'node:test';
import assert from 'node:assert/strict';
import { input } from '../../src/graph/ops.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { gpt2, type GPT2Config } from '../../src/models/gpt2.ts';
import { compile, type Executable } from '../../src/runtime/session.ts';
import { appendToCache, GPT2Decoder, reorderRows, type IncrementalLM } from '../../src/generation/causalLM.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { beamSearch, greedy, sample, stream } from '../../src/generation/decode.ts';

const config: GPT2Config = { vocabSize: 23, hiddenSize: 32, numLayers: 2, numHeads: 4, maxPosition: 32 };
const store = new ParamStore(11);
// Larger weights than the default init, so the distributions are far from uniform.
const fullGraph = (() => {
  const ids = input('input_ids', 'int64', ['batch', 'seq']);
  return gpt2(new Scope(store), config, { ids }).logits;
})();
for (const v of store.values.values()) if (v.shape.length === 2) for (let i = 0; i < v.data.length; i++) (v.data as Float32Array)[i]! *= 10;
let full: Executable;
async function fullLogits(seq: number[]): Promise<Float32Array> {
  full ??= await compile({ logits: fullGraph }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const out = await full.run({ input_ids: { dtype: 'int64', shape: [1, seq.length], data: BigInt64Array.from(seq.map(BigInt)) } });
  const V = config.vocabSize;
  return (out.logits!.data as Float32Array).slice((seq.length - 1) * V, seq.length * V);
}
const lm = new GPT2Decoder(store, config);

test('cached decoding gives the full-recompute logits at every step, with left-padded batches', async () => {
  const prompts = [[3, 1, 4, 1, 5], [9, 2]];
  const rows = prompts.map((p) => [...p]);
  // Drive the step function by hand with greedy choices, comparing every step's logits.
  const V = config.vocabSize;
  let state = lm.initialState(2);
  let r = await lm.step({ ids: [prompts[0]!, [0, 0, 0, 9, 2]], positions: [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1]], attentionMask: [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]], cacheIndex: [0, 1] }, state);
  let mask = [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]];
  for (let step = 0; step < 8; step++) {
    const next: number[] = [];
    for (let b = 0; b < 2; b++) {
      const expected = await fullLogits(rows[b]!);
      const got = r.logits.slice(b * V, (b + 1) * V);
      let maxDiff = 0;
      for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(expected[v]! - got[v]!));
      assert.ok(maxDiff <= 1e-4, `step ${step} row ${b}: max |diff| ${maxDiff}`);
      let best = 0;
      for (let v = 1; v < V; v++) if (got[v]! > got[best]!) best = v;
      next.push(best);
      rows[b]!.push(best);
    }
    mask = mask.map((m) => [...m, 1]);
    state = r.state;
    r = await lm.step({ ids: next.map((x) => [x]), positions: [[rows[0]!.length - 1], [rows[1]!.length - 1]], attentionMask: mask, cacheIndex: [0, 1] }, state);
  }
});

test('a step with a reordering cacheIndex continues the chosen rows (left-padded), copying their cache exactly', async () => {
  const prompts = [[3, 1, 4, 1, 5], [9, 2]];
  const mask = [[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]];
  const first = await lm.step({ ids: [prompts[0]!, [0, 0, 0, 9, 2]], positions: [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1]], attentionMask: mask, cacheIndex: [0, 1] }, lm.initialState(2));
  assert.equal(reorderRows(first.state, [0, 1]), first.state, 'the identity leaves the state as it is');
  const source = [1, 0, 1], next = [7, 8, 11];
  const r = await lm.step({ ids: next.map((x) => [x]), positions: source.map((s) => [prompts[s]!.length]), attentionMask: source.map((s) => [...mask[s]!, 1]), cacheIndex: source }, first.state);
  const V = config.vocabSize, H = config.numHeads, D = config.hiddenSize / config.numHeads;
  for (const [row, s] of source.entries()) {
    const expected = await fullLogits([...prompts[s]!, next[row]!]);
    let maxDiff = 0;
    for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(expected[v]! - r.logits[row * V + v]!));
    assert.ok(maxDiff <= 1e-4, `row ${row} (continues ${s}): max |diff| ${maxDiff}`);
    // The past positions of the new cache are the source row's, bit for bit (buffers [rows, H, capacity, D]).
    for (const [i, layer] of r.state.cache.entries()) for (const p of ['k', 'v']) {
      const past = first.state.cache[i]![p]!, now = layer[p]!;
      const was = past.shape[2]!, cap = now.shape[2]!;
      for (let h = 0; h < H; h++) for (let t = 0; t < 5; t++) for (let d = 0; d < D; d++) {
        assert.equal((now.data as Float32Array)[((row * H + h) * cap + t) * D + d], (past.data as Float32Array)[((s * H + h) * was + t) * D + d]);
      }
    }
  }
  assert.throws(() => reorderRows(first.state, [0, 2]), /cacheIndex\[1\] is 2; values must be in 0\.\.1/);
});

test('appendToCache writes new positions after the filled ones, grows with spare room, and never lets two continuations share slots', () => {
  const H = 2, D = 3;
  // fresh [rows, H, seq, D] whose values encode (row, head, position, d).
  const fresh = (rows: number, from: number, seq: number): HostTensor => {
    const data = new Float32Array(rows * H * seq * D);
    for (let r = 0; r < rows; r++) for (let h = 0; h < H; h++) for (let t = 0; t < seq; t++) for (let d = 0; d < D; d++) data[((r * H + h) * seq + t) * D + d] = r * 1e4 + h * 1e3 + (from + t) * 10 + d;
    return { dtype: 'float32', shape: [rows, H, seq, D], data };
  };
  const check = (t: HostTensor, rows: number, filled: number, offset = 0) => {
    const cap = t.shape[2]!;
    assert.ok(cap >= filled);
    for (let r = 0; r < rows; r++) for (let h = 0; h < H; h++) for (let p = 0; p < filled; p++) for (let d = 0; d < D; d++) {
      assert.equal((t.data as Float32Array)[((r * H + h) * cap + p) * D + d], r * 1e4 + h * 1e3 + p * 10 + d + (p >= filled - 1 ? offset : 0));
    }
  };
  let buffer: HostTensor = { dtype: 'float32', shape: [2, H, 0, D], data: new Float32Array(0) };
  buffer = appendToCache(buffer, fresh(2, 0, 5), 0);
  assert.equal(buffer.shape[2], 64, 'spare capacity in multiples of 64');
  check(buffer, 2, 5);
  let past = 5;
  for (; past < 70; past++) buffer = appendToCache(buffer, fresh(2, past, 1), past);
  assert.ok(buffer.shape[2]! >= 70 && buffer.shape[2]! % 64 === 0, `grown to ${buffer.shape[2]}`);
  check(buffer, 2, 70);
  // Two continuations of one state: the second must not overwrite the first's new position.
  const a = appendToCache(buffer, fresh(2, 70, 1), 70);
  const bFresh = fresh(2, 70, 1);
  (bFresh.data as Float32Array).forEach((v, i, x) => (x[i] = v + 0.5));
  const b = appendToCache(buffer, bFresh, 70);
  check(a, 2, 71);
  check(b, 2, 71, 0.5);
});

test('a host-appended cache without an attention mask is refused (spare slots would be visible)', () => {
  const ids = input('input_ids', 'int64', ['batch', 'seq']);
  const cache = Array.from({ length: config.numLayers }, (_, i) => ({ k: input(`k${i}`, 'float32', ['batch', 4, 'past', 8]), v: input(`v${i}`, 'float32', ['batch', 4, 'past', 8]), append: 'host' as const }));
  assert.throws(() => gpt2(new Scope(new ParamStore(1)), config, { ids, cache, past: 'past' }), /needs attentionMask, 0 at the spare slots/);
});

test('a state continued twice gives both continuations their own cache; decoding past the spare capacity stays exact', async () => {
  const prompt = [3, 1, 4];
  const first = await lm.step({ ids: [prompt], positions: [[0, 1, 2]], attentionMask: [[1, 1, 1]], cacheIndex: [0] }, lm.initialState(1));
  const x = await lm.step({ ids: [[5]], positions: [[3]], attentionMask: [[1, 1, 1, 1]], cacheIndex: [0] }, first.state);
  const y = await lm.step({ ids: [[9]], positions: [[3]], attentionMask: [[1, 1, 1, 1]], cacheIndex: [0] }, first.state);
  const x2 = await lm.step({ ids: [[2]], positions: [[4]], attentionMask: [[1, 1, 1, 1, 1]], cacheIndex: [0] }, x.state);
  const y2 = await lm.step({ ids: [[2]], positions: [[4]], attentionMask: [[1, 1, 1, 1, 1]], cacheIndex: [0] }, y.state);
  const near = (a: Float32Array, b: Float32Array, what: string) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); assert.ok(m <= 1e-4, `${what}: max |diff| ${m}`); };
  near(x2.logits, await fullLogits([...prompt, 5, 2]), 'first continuation');
  near(y2.logits, await fullLogits([...prompt, 9, 2]), 'second continuation');
  // 100 positions: the cache grows past its first 64 slots.
  const longConfig: GPT2Config = { ...config, maxPosition: 128 };
  const longStore = new ParamStore(5);
  const ids = input('input_ids', 'int64', ['batch', 'seq']);
  const longFull = await compile({ logits: gpt2(new Scope(longStore), longConfig, { ids }).logits }, { params: 'initializers', paramValue: (n) => longStore.get(n) });
  const longLm = new GPT2Decoder(longStore, longConfig);
  const tokens = Array.from({ length: 100 }, (_, i) => (i * 7) % longConfig.vocabSize);
  let r = await longLm.step({ ids: [tokens.slice(0, 10)], positions: [tokens.slice(0, 10).map((_, i) => i)], attentionMask: [Array(10).fill(1)], cacheIndex: [0] }, longLm.initialState(1));
  for (let t = 10; t < 100; t++) r = await longLm.step({ ids: [[tokens[t]!]], positions: [[t]], attentionMask: [Array(t + 1).fill(1)], cacheIndex: [0] }, r.state);
  assert.ok(r.state.cache[0]!.k!.shape[2]! > 64, 'the cache grew');
  const all = (await longFull.run({ input_ids: { dtype: 'int64', shape: [1, 100], data: BigInt64Array.from(tokens.map(BigInt)) } })).logits!.data as Float32Array;
  near(r.logits, all.slice(99 * longConfig.vocabSize), 'position 100');
});

test('greedy equals beam search with beam 1, and sampling with top-k 1', async () => {
  const prompts = [[1, 2, 3], [7]];
  const g = await greedy(lm, prompts, { maxNewTokens: 6 });
  const b = await beamSearch(lm, prompts, { maxNewTokens: 6, beamSize: 1 });
  assert.deepEqual(b.map((h) => h[0]!.ids), g);
  const s = await sample(lm, prompts, { maxNewTokens: 6, topK: 1, seed: 5 });
  assert.deepEqual(s, g);
  const streamed: number[] = [];
  for await (const t of stream(lm, prompts[0]!, { maxNewTokens: 6 })) streamed.push(t);
  assert.deepEqual(streamed, g[0]);
});

test('beam search with beam = vocab^length finds the exhaustive optimum', async () => {
  const small: GPT2Config = { vocabSize: 3, hiddenSize: 16, numLayers: 1, numHeads: 2, maxPosition: 8 };
  const st = new ParamStore(5);
  const ids = input('input_ids', 'int64', ['batch', 'seq']);
  const logits = gpt2(new Scope(st), small, { ids }).logits;
  for (const v of st.values.values()) for (let i = 0; i < v.data.length; i++) (v.data as Float32Array)[i]! *= 30;
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => st.get(n) });
  const prompt = [1, 0];
  let best = { seq: [] as number[], lp: -Infinity };
  for (let code = 0; code < 27; code++) {
    const cont = [Math.floor(code / 9), Math.floor(code / 3) % 3, code % 3];
    const seq = [...prompt, ...cont];
    const out = (await exe.run({ input_ids: { dtype: 'int64', shape: [1, seq.length], data: BigInt64Array.from(seq.map(BigInt)) } })).logits!.data as Float32Array;
    let lp = 0;
    for (let t = prompt.length; t < seq.length; t++) {
      const row = out.slice((t - 1) * 3, t * 3);
      const m = Math.max(...row);
      lp += row[seq[t]!]! - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    }
    if (lp > best.lp) best = { seq: cont, lp };
  }
  const hyps = await beamSearch(new GPT2Decoder(st, small), [prompt], { maxNewTokens: 3, beamSize: 27, nBest: 3 });
  assert.deepEqual(hyps[0]![0]!.ids, best.seq);
  assert.ok(Math.abs(hyps[0]![0]!.logProb - best.lp) < 1e-4);
  assert.ok(hyps[0]![1]!.score <= hyps[0]![0]!.score);
});

test('seeded sampling is reproducible and n samples per prompt differ', async () => {
  const o = { maxNewTokens: 8, n: 3, seed: 42, temperature: 1.5, topP: 0.95 };
  const a = await sample(lm, [[1, 2]], o);
  const b = await sample(lm, [[1, 2]], o);
  assert.deepEqual(a, b);
  assert.equal(a.length, 3);
  assert.ok(new Set(a.map((x) => x.join())).size > 1, 'three samples should not all be equal');
  const c = await sample(lm, [[1, 2]], { ...o, seed: 43 });
  assert.notDeepEqual(a, c);
  for (const [bad, message] of [[{ topP: 5 }, /topP must be in \(0, 1\], got 5/], [{ n: 0 }, /n must be a positive integer, got 0/], [{ temperature: 0 }, /temperature must be a finite number > 0/], [{ topK: -1 }, /topK must be a non-negative integer/]] as const) {
    await assert.rejects(() => sample(lm, [[1, 2]], { maxNewTokens: 2, ...bad }), message);
  }
});

test('end ids stop a row; min length suppresses them; bad input is refused clearly', async () => {
  const g = await greedy(lm, [[1, 2, 3]], { maxNewTokens: 10 });
  const end = g[0]![2]!;
  const stopped = await greedy(lm, [[1, 2, 3]], { maxNewTokens: 10, endIds: [end] });
  assert.equal(stopped[0]![stopped[0]!.length - 1], end);
  assert.ok(stopped[0]!.length <= 3);
  const longer = await greedy(lm, [[1, 2, 3]], { maxNewTokens: 10, endIds: [end], minNewTokens: 5 });
  assert.ok(longer[0]!.slice(0, 5).every((t) => t !== end));
  await assert.rejects(greedy(lm, [[1, 99]], { maxNewTokens: 2 }), /id 99 outside the vocabulary \[0, 23\)/);
  await assert.rejects(greedy(lm, [Array(30).fill(1)], { maxNewTokens: 5 }), /exceeds the model's 32 positions/);
  await assert.rejects(greedy(lm, [[1]], { maxNewTokens: 3, minNewTokens: 4 }), /minNewTokens 4 > maxNewTokens 3/);
});

test('noRepeatNgramSize: no n-gram of the generated tokens twice, in greedy, sampling and beam search; the prompt does not count', async () => {
  // A model that wants to cycle 0 1 2 0 1 2 …: the token after t scores 10, token 3 scores 5, the rest 0.
  const cycling: IncrementalLM = {
    vocabSize: 5, maxPosition: 64,
    initialState: () => ({ cache: [], past: 0 }),
    async step(input, state) {
      const logits = new Float32Array(input.ids.length * 5);
      input.ids.forEach((ids, r) => { const last = ids.at(-1)!; logits[r * 5 + ((last + 1) % 3)] = 10; logits[r * 5 + 3] = 5; });
      return { logits, state };
    },
  };
  const plain = await greedy(cycling, [[2]], { maxNewTokens: 7 });
  assert.deepEqual(plain, [[0, 1, 2, 0, 1, 2, 0]]);
  const trigrams = (ids: number[]) => ids.slice(2).map((_, i) => ids.slice(i, i + 3).join());
  for (const [name, ids] of [
    ['greedy', (await greedy(cycling, [[2]], { maxNewTokens: 7, noRepeatNgramSize: 3 }))[0]!],
    ['sampling', (await sample(cycling, [[2]], { maxNewTokens: 7, noRepeatNgramSize: 3, temperature: 0.1, seed: 1 }))[0]!],
    ['beam', (await beamSearch(cycling, [[2]], { maxNewTokens: 7, noRepeatNgramSize: 3, beamSize: 2 }))[0]![0]!.ids],
  ] as const) {
    assert.equal(new Set(trigrams(ids)).size, trigrams(ids).length, `${name}: ${ids} repeats a trigram`);
  }
  // Greedy takes the second-best token exactly where the cycle would repeat "0 1 2".
  assert.deepEqual((await greedy(cycling, [[2]], { maxNewTokens: 7, noRepeatNgramSize: 3 }))[0], [0, 1, 2, 0, 1, 3, 1]);
  // The prompt's own "0 1 2" does not ban generating it once.
  assert.deepEqual((await greedy(cycling, [[0, 1, 2]], { maxNewTokens: 3, noRepeatNgramSize: 3 }))[0], [0, 1, 2]);
  await assert.rejects(greedy(cycling, [[1]], { maxNewTokens: 3, noRepeatNgramSize: 0 }), /noRepeatNgramSize must be a positive integer, got 0/);
});
