import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/models/build.ts';
import type { T5Config } from '../../src/models/t5.ts';
import { T5Seq2Seq } from '../../src/generation/seq2seq.ts';
import { beamSearch, greedy, sample } from '../../src/generation/decode.ts';

for (const name of ['t5-1.0', 'mt5']) {
  test(`${name}: cached encoder-decoder decoding equals the full seq2seq graph at every step`, async () => {
    const dir = `test/fixtures/reference/${name}`;
    const model = buildModel(dir, { checkpoint: dir, application: 'seq2seq' });
    const c = model.config as T5Config;
    const inputs = [[5, 9, 13, 2, 7], [4, 3]];
    const gen = new T5Seq2Seq(model.store, c);
    const lm = await gen.encode(inputs);
    const out = await greedy(lm, inputs.map(() => [c.decoderStartTokenId]), { maxNewTokens: 6 });
    // Drive the cached steps by hand and compare every step's logits with the uncached graph's.
    const V = c.vocabSize;
    const full = await Promise.all(inputs.map(async (inp, b) => {
      const dec = [c.decoderStartTokenId, ...out[b]!].slice(0, -1);
      return (await model.predict({ input_ids: [inp], decoder_input_ids: [dec] }, { outputs: ['logits'] })).logits!.data as Float32Array;
    }));
    let state = lm.initialState(2);
    let ids = [[c.decoderStartTokenId], [c.decoderStartTokenId]];
    let mask = [[1], [1]];
    for (let t = 0; t < 6; t++) {
      const r = await lm.step({ ids, positions: [[t], [t]], attentionMask: mask, cacheIndex: [0, 1] }, state);
      for (let b = 0; b < 2; b++) {
        let maxDiff = 0;
        for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(r.logits[b * V + v]! - full[b]![t * V + v]!));
        assert.ok(maxDiff <= 1e-4, `${name} input ${b} step ${t}: max |diff| ${maxDiff}`);
      }
      state = r.state;
      ids = [[out[0]![t]!], [out[1]![t]!]];
      mask = mask.map((m) => [...m, 1]);
    }
  });
}

test('t5: beam 1 equals greedy; n samples per input stay with their input', async () => {
  const dir = 'test/fixtures/reference/t5.1.1';
  const model = buildModel(dir, { checkpoint: dir, application: 'seq2seq' });
  const c = model.config as T5Config;
  const gen = new T5Seq2Seq(model.store, c);
  const inputs = [[5, 9, 13], [4, 3, 8, 8]];
  const lm = await gen.encode(inputs);
  const start = inputs.map(() => [c.decoderStartTokenId]);
  const g = await greedy(lm, start, { maxNewTokens: 5 });
  const b = await beamSearch(lm, start, { maxNewTokens: 5, beamSize: 1 });
  assert.deepEqual(b.map((h) => h[0]!.ids), g);
  const s = await sample(lm, start, { maxNewTokens: 5, topK: 1, n: 2 });
  assert.deepEqual(s, [g[0], g[0], g[1], g[1]]);
});

test('t5: 70 cached steps (past the cache\'s first 64 slots and max_distance) and a row-swapping step equal the full graph', async () => {
  const dir = 'test/fixtures/reference/t5-1.0';
  const model = buildModel(dir, { checkpoint: dir, application: 'seq2seq' });
  const c = model.config as T5Config;
  const V = c.vocabSize;
  const inputs = [[5, 9, 13, 2, 7], [4, 3]];
  const lm = await new T5Seq2Seq(model.store, c).encode(inputs);
  const forced = Array.from({ length: 70 }, (_, i) => 2 + ((i * 7) % (V - 2)));
  let state = lm.initialState(2);
  let r = await lm.step({ ids: [[c.decoderStartTokenId], [c.decoderStartTokenId]], positions: [[0], [0]], attentionMask: [[1], [1]], cacheIndex: [0, 1] }, state);
  for (let t = 0; t < forced.length; t++) {
    state = r.state;
    // The last step swaps the rows: row 0 continues input 1's sequence, row 1 input 0's.
    const swap = t === forced.length - 1;
    r = await lm.step({ ids: [[forced[t]!], [forced[t]!]], positions: [[t + 1], [t + 1]], attentionMask: [Array(t + 2).fill(1), Array(t + 2).fill(1)], cacheIndex: swap ? [1, 0] : [0, 1] }, state);
  }
  assert.ok(r.state.cache[0]!.k!.shape[2]! > 64, 'the cache grew');
  const decoder = [c.decoderStartTokenId, ...forced];
  for (const [row, input] of [[0, 1], [1, 0]] as const) {
    const full = (await model.predict({ input_ids: [inputs[input]!], decoder_input_ids: [decoder] }, { outputs: ['logits'] })).logits!.data as Float32Array;
    const last = full.subarray((decoder.length - 1) * V, decoder.length * V);
    let maxDiff = 0;
    for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(r.logits[row * V + v]! - last[v]!));
    assert.ok(maxDiff <= 1e-4, `row ${row} (input ${input}): max |diff| ${maxDiff}`);
  }
});
