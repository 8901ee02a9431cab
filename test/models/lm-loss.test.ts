// The `lm` / `unilm` / `mlm` training loss runs the MLM head only at labelled positions (nonZeroIndices +
// gather). It must equal the plain form — the head at every position, cross-entropy ignoring -100 —
// in value and in every gradient, with padding, a UniLM source segment and a row with no target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as g from '../../src/graph/index.ts';
import type { HostTensor, Tensor } from '../../src/graph/index.ts';
import { crossEntropy } from '../../src/graph/composite.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { buildModel, type Model } from '../../src/models/index.ts';
import { Scope } from '../../src/nn/params.ts';

const int64 = (rows: number[][]): HostTensor => hostTensor('int64', [rows.length, rows[0]!.length], rows.flat());
const BATCH = {
  input_ids: [[2, 5, 6, 3, 9, 10, 3, 0], [2, 7, 3, 11, 12, 13, 14, 3], [2, 8, 8, 8, 3, 0, 0, 0]],
  token_type_ids: [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0]],
  attention_mask: [[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0]],
  // Row 3 has no target at all: it adds nothing to the loss.
  labels: [[-100, -100, -100, -100, 9, 10, 3, -100], [-100, -100, -100, 11, 12, 13, 14, 3], [-100, -100, -100, -100, -100, -100, -100, -100]],
};

function model(application: 'unilm' | 'lm' | 'mlm'): Model {
  return buildModel({
    model_type: 'bert', vocab_size: 23, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16,
    max_position_embeddings: 16, type_vocab_size: 2,
  }, { application, seed: 11, dropoutRate: 0, attentionDropoutRate: 0 });
}

async function lossAndGrads(m: Model, build: (scope: Scope) => Tensor): Promise<Record<string, HostTensor>> {
  const scope = new Scope(m.store, '', { training: false });
  const loss = build(scope);
  const names = [...scope.declared.keys()].sort();
  const grads = grad(loss, names.map((n) => scope.declared.get(n)!));
  const outputs: Record<string, Tensor> = { loss };
  names.forEach((n, i) => (outputs[`grad/${n}`] = grads[i]!));
  const exe = await compile(outputs, { params: 'inputs' });
  const feeds: Record<string, HostTensor> = Object.fromEntries(Object.entries(BATCH).map(([k, v]) => [k, int64(v)]));
  for (const n of names) feeds[n] = m.store.get(n)!;
  const wanted = new Set(exe.inputs.map((i) => i.name));
  return exe.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => wanted.has(k))));
}

for (const application of ['unilm', 'lm', 'mlm'] as const) {
  test(`${application}: the loss with the head at labelled positions only equals the head everywhere (value and gradients)`, async () => {
    const m = model(application);
    const gathered = await lossAndGrads(m, (s) => m.loss(s));
    const plain = await lossAndGrads(m, (s) => {
      const logits = m.build(s).outputs.logits!; // the same weights, full (B, T, V) logits
      const labels = g.input('labels', 'int64', ['batch', 'seq']);
      const seq = logits.shape[1]!;
      if (application === 'mlm') return crossEntropy(logits, labels);
      return crossEntropy(g.slice(logits, 1, 0, g.dimSub(seq, 1)), g.slice(labels, 1, 1, seq));
    });
    assert.deepEqual(Object.keys(gathered).sort(), Object.keys(plain).sort());
    for (const k of Object.keys(plain)) {
      const x = gathered[k]!.data as Float32Array, y = plain[k]!.data as Float32Array;
      for (let i = 0; i < y.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-5 * Math.max(1, Math.abs(y[i]!)), `${k}[${i}]: ${x[i]} vs ${y[i]}`);
    }
    const loss = gathered.loss!.data[0] as number;
    assert.ok(Number.isFinite(loss) && loss > 2, `a real loss over 8 targets of a 23-token vocabulary: ${loss}`);
  });
}

test('nonZeroIndices: indices of the true entries, a run-time length usable by later shapes; bad masks refused', async () => {
  const mask = g.input('mask', 'bool', ['n']);
  const values = g.input('values', 'float32', ['n', 2]);
  const at = g.nonZeroIndices(mask);
  const picked = g.gather(values, at);
  const count = g.reduceSum(g.mul(g.reshape(picked, [-1]), 0)); // a shape built from the fresh dim
  const exe = await compile({ at, picked, grown: g.expand(g.reshape(count, [1]), [at.shape[0]!]) }, { params: 'inputs' });
  const out = await exe.run({
    mask: { dtype: 'bool', shape: [5], data: new Uint8Array([0, 1, 1, 0, 1]) },
    values: hostTensor('float32', [5, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
  });
  assert.deepEqual([...(out.at!.data as BigInt64Array)].map(Number), [1, 2, 4]);
  assert.deepEqual([...(out.picked!.data as Float32Array)], [2, 3, 4, 5, 8, 9]);
  assert.deepEqual(out.grown!.shape, [3]);
  assert.throws(() => g.nonZeroIndices(g.input('m2', 'bool', [2, 3])), /1-D bool mask/);
  assert.throws(() => g.nonZeroIndices(g.input('m3', 'int64', [4])), /1-D bool mask/);
});
