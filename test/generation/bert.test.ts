import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/models/build.ts';
import { decoderFor } from '../../src/generation/forModel.ts';
import { beamSearch, greedy } from '../../src/generation/decode.ts';

// Cached BERT decoding against the full graph: the prompt (UniLM: the source, segment 0) plus the
// generated tokens (segment 1) run from scratch, logits at the last position.
for (const application of ['unilm', 'lm'] as const) {
  test(`BERT ${application}: cached decoding equals the full recompute at every step (batched, left-padded)`, async () => {
    const dir = `test/fixtures/reference/bert-${application}`;
    const model = buildModel(dir, { checkpoint: dir, application });
    const lm = decoderFor(model);
    const prompts = [[2, 11, 12, 13, 3], [2, 21, 3]];
    const out = await greedy(lm, prompts, { maxNewTokens: 5 });
    const V = lm.vocabSize;
    let state = lm.initialState(2);
    let ids = [prompts[0]!, [0, 0, ...prompts[1]!]];
    let positions = [[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]];
    let mask = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]];
    for (let t = 0; t < 5; t++) {
      const r = await lm.step({ ids, positions, attentionMask: mask, cacheIndex: [0, 1] }, state);
      for (let b = 0; b < 2; b++) {
        const seq = [...prompts[b]!, ...out[b]!.slice(0, t)];
        const segments = seq.map((_, i) => (application === 'unilm' && i >= prompts[b]!.length ? 1 : 0));
        const full = (await model.predict({ input_ids: [seq], token_type_ids: [segments] }, { outputs: ['logits'] })).logits!.data as Float32Array;
        let maxDiff = 0;
        for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(r.logits[b * V + v]! - full[(seq.length - 1) * V + v]!));
        assert.ok(maxDiff <= 1e-4, `${application} row ${b} step ${t}: max |diff| ${maxDiff}`);
      }
      state = r.state;
      ids = [[out[0]![t]!], [out[1]![t]!]];
      positions = positions.map((p, b) => [prompts[b]!.length + t]);
      mask = mask.map((m) => [...m, 1]);
    }
    const beams = await beamSearch(lm, prompts, { maxNewTokens: 5, beamSize: 1 });
    assert.deepEqual(beams.map((h) => h[0]!.ids), out);
  });
}

test('BERT UniLM: a step that reorders rows (beam search) continues the chosen rows; continuing the earlier state again leaves them intact', async () => {
  const dir = 'test/fixtures/reference/bert-unilm';
  const model = buildModel(dir, { checkpoint: dir, application: 'unilm' });
  const lm = decoderFor(model);
  const V = lm.vocabSize;
  const prompts = [[2, 11, 12, 13, 3], [2, 21, 3]];
  const first = await lm.step({ ids: [prompts[0]!, [0, 0, ...prompts[1]!]], positions: [[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]], attentionMask: [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]], cacheIndex: [0, 1] }, lm.initialState(2));
  const full = async (source: number[], target: number[]) => {
    const seq = [...source, ...target];
    const out = (await model.predict({ input_ids: [seq], token_type_ids: [seq.map((_, i) => (i >= source.length ? 1 : 0))] }, { outputs: ['logits'] })).logits!.data as Float32Array;
    return out.subarray((seq.length - 1) * V, seq.length * V);
  };
  const near = (a: Float32Array, b: Float32Array, what: string) => { let m = 0; for (let v = 0; v < V; v++) m = Math.max(m, Math.abs(a[v]! - b[v]!)); assert.ok(m <= 1e-4, `${what}: max |diff| ${m}`); };
  // Three rows from two: row 0 and row 2 continue prompt 1, row 1 continues prompt 0.
  const source = [1, 0, 1], next = [7, 8, 9];
  const r = await lm.step({ ids: next.map((x) => [x]), positions: source.map((s) => [prompts[s]!.length]), attentionMask: source.map((s) => [...(s === 0 ? [1, 1, 1, 1, 1] : [0, 0, 1, 1, 1]), 1]), cacheIndex: source }, first.state);
  for (const [row, s] of source.entries()) near(r.logits.subarray(row * V, (row + 1) * V), await full(prompts[s]!, [next[row]!]), `row ${row}`);
  // Continuing the first state again (another token) must not disturb r's cache: one more step from r.
  await lm.step({ ids: [[5], [6]], positions: [[5], [3]], attentionMask: [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], cacheIndex: [0, 1] }, first.state);
  const r2 = await lm.step({ ids: [[4], [4], [4]], positions: source.map((s) => [prompts[s]!.length + 1]), attentionMask: source.map((s) => [...(s === 0 ? [1, 1, 1, 1, 1] : [0, 0, 1, 1, 1]), 1, 1]), cacheIndex: [0, 1, 2] }, r.state);
  for (const [row, s] of source.entries()) near(r2.logits.subarray(row * V, (row + 1) * V), await full(prompts[s]!, [next[row]!, 4]), `row ${row}, second step`);
});

test('BERT decoding refuses applications without a causal or prefix mask', () => {
  const dir = 'test/fixtures/reference/bert-mlm';
  assert.throws(() => decoderFor(buildModel(dir, { checkpoint: dir, application: 'mlm' })), /application 'lm' or 'unilm', not 'mlm'/);
});
