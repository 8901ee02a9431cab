// SLOW (about 2 s and 2.3 GB of attention scores): a BERT with 512 learned positions, extended
// hierarchically, at 8,192 tokens. Runs only with BERT4TS_SLOW_TESTS=1, so the default suite stays
// light on memory; the 2,048-token case in options.test.ts always runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel } from '../../src/models/index.ts';

const slow = process.env.BERT4TS_SLOW_TESTS === '1';

test('hierarchicalPosition: a BERT with 512 positions runs at 8,192 tokens', { skip: slow ? false : 'slow: set BERT4TS_SLOW_TESTS=1' }, async () => {
  const T = 8192;
  const model = buildModel({
    model_type: 'bert', vocab_size: 100, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
    intermediate_size: 64, max_position_embeddings: 512,
  }, { hierarchicalPosition: true, seed: 2 });
  const ids = Array.from({ length: T }, (_, t) => 5 + (t % 90));
  const out = (await model.predict({ input_ids: [ids] })).last_hidden_state!;
  assert.deepEqual(out.shape, [1, T, 32]);
  const data = out.data as Float32Array;
  assert.ok(data.every(Number.isFinite));
  // Positions 90 apart share a token; beyond the learned 512 they must still get distinct states.
  const row = (t: number) => Array.from(data.subarray(t * 32, (t + 1) * 32));
  assert.notDeepEqual(row(8100), row(8100 - 90 * 50));
});
