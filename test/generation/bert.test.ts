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

test('BERT decoding refuses applications without a causal or prefix mask', () => {
  const dir = 'test/fixtures/reference/bert-mlm';
  assert.throws(() => decoderFor(buildModel(dir, { checkpoint: dir, application: 'mlm' })), /application 'lm' or 'unilm', not 'mlm'/);
});
