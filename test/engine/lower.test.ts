import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as g from '../../src/graph/index.ts';
import { lower } from '../../src/runtime/lower.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { rnn } from '../../src/nn/rnn.ts';

const count = (nodes: readonly { opType: string }[], op: string) => nodes.filter((n) => n.opType === op).length;

test('lowering emits identical nodes once and folds constant pad vectors, with the same results', async () => {
  const x = g.input('x', 'float32', [2, 3]);
  const a = g.transpose(x, [1, 0]), b = g.transpose(x, [1, 0]); // two IR nodes, one value
  const outputs = { a, b, sum: g.add(a, b), padded: g.padAxis(x, 1, 2, 1) };
  const m = lower(outputs, { params: 'initializers' });
  assert.equal(count(m.nodes, 'Transpose'), 1);
  assert.equal(count(m.nodes, 'Concat'), 0, 'the pads of a static padAxis are one constant, not a Concat node');
  const exe = await compile(outputs, { params: 'initializers' });
  const out = await exe.run({ x: hostTensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]) });
  assert.deepEqual([...out.a!.data as Float32Array], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...out.b!.data as Float32Array], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...out.sum!.data as Float32Array], [2, 8, 4, 10, 6, 12]);
  assert.deepEqual([...out.padded!.data as Float32Array], [0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0]);
});

test('random draws are never merged, even with the same seed and input', () => {
  const x = g.input('x', 'float32', [4]);
  const m = lower({ r1: g.randomUniformLike(x, 7), r2: g.randomUniformLike(x, 7) }, { params: 'initializers' });
  assert.equal(count(m.nodes, 'RandomUniformLike'), 2);
});

test('lowered nodes are topologically ordered and an unrolled training graph keeps few nodes ready at once', () => {
  // ORT re-sorts the graph in every optimizer pass at a cost of nodes x ready nodes (see readyOrder in lower.ts).
  const T = 32, store = new ParamStore(1), scope = new Scope(store, 'rnn');
  const x = g.input('x', 'float32', [2, T, 4]);
  const { sequence } = rnn(scope, x, { cell: 'lstm', units: 8 });
  const loss = g.reduceSum(g.mul(sequence, g.input('w', 'float32', [2, T, 8])));
  const grads = grad(loss, [x, ...scope.declared.values()]);
  const m = lower(Object.fromEntries([['loss', loss], ...grads.map((t, k) => [`g${k}`, t] as const)]), { params: 'inputs' });
  const producedAt = new Map<string, number>();
  m.nodes.forEach((n, i) => n.outs.forEach((o) => producedAt.set(o, i)));
  const lastInput = m.nodes.map((n, i) => {
    const at = n.ins.map((v) => producedAt.get(v) ?? -1);
    for (const p of at) assert.ok(p < i, `node ${i} (${n.opType}) reads a value produced later, at ${p}`);
    return Math.max(-1, ...at);
  });
  // Ready set while the nodes are taken in order (what ORT's lowest-index-first Kahn sort holds).
  let sum = 0;
  for (let k = 0; k < m.nodes.length; k++) sum += lastInput.filter((p, j) => j > k && p <= k).length;
  const mean = sum / m.nodes.length;
  assert.ok(mean < 20, `mean ready set ${mean.toFixed(1)} over ${m.nodes.length} nodes (depth-first order: ~13% of the nodes)`);
  assert.ok(m.nodes.filter((_, i) => lastInput[i] === -1).length < 10, 'few nodes read only inputs and constants');
});

test('dim expressions: a term of a sum cancels in a difference; anything else stays symbolic', async () => {
  const { dimAdd, dimSub } = await import('../../src/graph/tensor.ts');
  assert.equal(dimSub(dimAdd('past', 'seq'), 'past'), 'seq');
  assert.equal(dimSub(dimAdd('seq', 'past'), 'seq'), 'past');
  assert.equal(dimSub(dimAdd(dimAdd('a', 'b'), 3), 3), 'a+b');
  assert.equal(dimSub(dimAdd('a', 'b'), 'c'), 'a+b-c');
  assert.equal(dimSub('a*b', 'a'), 'a*b-a');
  // Symbolic slices of a concatenation keep the parts' dims, so matmuls after them type-check.
  const x = g.input('x', 'float32', [2, 'past']), y = g.input('y', 'float32', [2, 'seq']);
  const both = g.concat([x, y], 1);
  assert.deepEqual(g.slice(both, 1, 'past').shape, [2, 'seq']);
  const exe = await compile({ tail: g.slice(both, 1, 'past') }, { params: 'inputs' });
  const out = await exe.run({ x: hostTensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]), y: hostTensor('float32', [2, 1], [7, 8]) });
  assert.deepEqual([...(out.tail!.data as Float32Array)], [7, 8]);
});
