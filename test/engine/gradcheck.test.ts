// Every VJP against central finite differences, float64 where ORT has float64 kernels, at 2 threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as g from '../../src/graph/index.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import type { DType, HostTensor, Tensor } from '../../src/graph/index.ts';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

interface Case {
  name: string;
  shapes: number[][];
  f: (...xs: Tensor[]) => Tensor;
  dtype?: DType;
  /** Map a uniform [0,1) sample to an input value (e.g. keep log/sqrt inputs positive). */
  init?: (u: number, input: number) => number;
  tol?: number;
}

const cases: Case[] = [
  { name: 'matmul', shapes: [[2, 3, 4], [4, 5]], f: (a, b) => g.matmul(a!, b!) },
  { name: 'matmul batched', shapes: [[2, 3, 4], [2, 4, 2]], f: (a, b) => g.matmul(a!, b!) },
  { name: 'add broadcast', shapes: [[2, 3], [3]], f: (a, b) => g.add(a!, b!) },
  { name: 'sub broadcast', shapes: [[2, 1], [1, 3]], f: (a, b) => g.sub(a!, b!) },
  { name: 'mul', shapes: [[2, 3], [2, 3]], f: (a, b) => g.mul(a!, b!) },
  { name: 'div', shapes: [[2, 3], [3]], f: (a, b) => g.div(a!, b!), init: (u, i) => (i === 1 ? 1 + u : u - 0.5) },
  { name: 'pow', shapes: [[2, 3], [2, 3]], f: (a, b) => g.pow(a!, b!), init: (u, i) => (i === 0 ? 0.5 + u : u * 2) },
  { name: 'maximum', shapes: [[2, 3], [2, 3]], f: (a, b) => g.maximum(a!, b!) },
  { name: 'neg', shapes: [[3, 2]], f: (a) => g.neg(a!) },
  { name: 'exp', shapes: [[3, 2]], f: (a) => g.exp(a!) },
  { name: 'log', shapes: [[3, 2]], f: (a) => g.log(a!), init: (u) => 0.5 + u },
  { name: 'sqrt', shapes: [[3, 2]], f: (a) => g.sqrt(a!), init: (u) => 0.5 + u },
  { name: 'tanh', shapes: [[3, 2]], f: (a) => g.tanh(a!) },
  { name: 'erf', shapes: [[3, 2]], f: (a) => g.erf(a!), dtype: 'float32', tol: 5e-3 },
  { name: 'sigmoid', shapes: [[3, 2]], f: (a) => g.sigmoid(a!) },
  { name: 'relu', shapes: [[3, 2]], f: (a) => g.relu(a!) },
  { name: 'gelu erf', shapes: [[3, 4]], f: (a) => g.gelu(a!), dtype: 'float32', tol: 5e-3 },
  { name: 'gelu tanh', shapes: [[3, 4]], f: (a) => g.gelu(a!, 'tanh'), dtype: 'float32', tol: 5e-3 },
  { name: 'softmax axis -1', shapes: [[2, 4]], f: (a) => g.softmax(a!, -1) },
  { name: 'softmax axis 0', shapes: [[3, 2]], f: (a) => g.softmax(a!, 0) },
  { name: 'logSoftmax', shapes: [[2, 5]], f: (a) => g.logSoftmax(a!, -1) },
  { name: 'reduceSum axes', shapes: [[2, 3, 4]], f: (a) => g.reduceSum(a!, [0, 2]) },
  { name: 'reduceMean keepdims', shapes: [[2, 3, 4]], f: (a) => g.reduceMean(a!, -1, true) },
  { name: 'reduceMax', shapes: [[3, 4]], f: (a) => g.reduceMax(a!, 1) },
  { name: 'reshape', shapes: [[2, 6]], f: (a) => g.mul(g.reshape(a!, [3, 4]), g.reshape(a!, [3, -1])) },
  { name: 'transpose', shapes: [[2, 3, 4]], f: (a) => g.transpose(a!, [2, 0, 1]) },
  { name: 'concat', shapes: [[2, 3], [2, 2]], f: (a, b) => g.concat([a!, b!, a!], 1) },
  { name: 'slice', shapes: [[4, 5]], f: (a) => g.slice(a!, 1, 1, 4) },
  { name: 'split', shapes: [[4, 6]], f: (a) => { const [p, q] = g.split(a!, 1, [2, 4]); return g.mul(p!, g.slice(q!, 1, 1, 3)); } },
  { name: 'expand', shapes: [[1, 3]], f: (a) => g.expand(a!, [4, 3]) },
  { name: 'squeeze/unsqueeze', shapes: [[3, 1]], f: (a) => g.unsqueeze(g.squeeze(a!, 1), 0) },
  { name: 'gather (embedding, repeated ids)', shapes: [[5, 3]], f: (t) => g.gather(t!, g.constant({ dtype: 'int64', shape: [2, 4], data: BigInt64Array.from([1n, 3n, 1n, 0n, 4n, 1n, 1n, 3n]) })) },
  { name: 'where', shapes: [[2, 3], [2, 3]], f: (a, b) => g.where(g.greater(a!, 0.5), a!, b!) },
  { name: 'cast', shapes: [[2, 3]], f: (a) => g.mul(g.cast(g.cast(a!, 'float64'), 'float32'), a!), dtype: 'float32', tol: 5e-3 },
  { name: 'trilu', shapes: [[3, 3]], f: (a) => g.trilu(a!, false) },
  { name: 'cumsum', shapes: [[2, 4]], f: (a) => g.cumsum(a!, 1) },
  { name: 'cumsum exclusive reverse', shapes: [[2, 4]], f: (a) => g.cumsum(a!, 1, { exclusive: true, reverse: true }) },
  { name: 'chunkAxis (ragged last chunk)', shapes: [[2, 7, 3]], f: (a) => g.chunkAxis(a!, 1, 3) },
  { name: 'unchunkAxis', shapes: [[2, 3, 3, 2]], f: (a) => g.unchunkAxis(a!, 1, 7, 3) },
  { name: 'layerNorm', shapes: [[2, 3, 5], [5], [5]], f: (x, ga, be) => g.layerNorm(x!, ga!, be!, 1e-5), dtype: 'float32', tol: 5e-3 },
  { name: 'rmsNorm', shapes: [[2, 5], [5]], f: (x, ga) => g.rmsNorm(x!, ga!, 1e-6) },
  { name: 'logSumExp', shapes: [[3, 4]], f: (a) => g.logSumExp(a!, 1) },
  { name: 'logSumExp axis 0 keepdims, values past exp overflow', shapes: [[3, 2]], f: (a) => g.logSumExp(g.mul(a!, 1000), 0, true) },
  { name: 'multilabelCrossEntropy', shapes: [[3, 4]], f: (s) => g.multilabelCrossEntropy(g.constant({ dtype: 'float64', shape: [3, 4], data: Float64Array.from([1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1]) }), s!) },
  { name: 'softmaxCrossEntropy with ignore', shapes: [[4, 5]], f: (l) => g.crossEntropy(l!, g.constant({ dtype: 'int64', shape: [4], data: BigInt64Array.from([2n, -100n, 0n, 4n]) })), dtype: 'float32', tol: 5e-3 },
  { name: 'dropout (fixed mask via seed, identity off)', shapes: [[3, 4]], f: (a) => g.dropout(a!, 0.5, 1, false) },
];

function randomTensor(shape: number[], dtype: DType, r: () => number, init: (u: number) => number): HostTensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return hostTensor(dtype, shape, Array.from({ length: n }, () => init(r())));
}

for (const c of cases) {
  test(`VJP of ${c.name} matches central differences`, async () => {
    const dtype = c.dtype ?? 'float64';
    const r = rng(c.name.length * 7919 + 17);
    const xs = c.shapes.map((s, i) => g.input(`x${i}`, dtype, s));
    const y = c.f(...xs);
    // Weight the output by fixed random values so every output element contributes differently.
    const wValue = randomTensor(y.shape as number[], dtype, r, (u) => u * 2 - 1);
    const loss = g.reduceSum(g.mul(y, g.constant(wValue)));
    const grads = grad(loss, xs);
    const outputs: Record<string, Tensor> = { loss };
    grads.forEach((gr, i) => (outputs[`g${i}`] = gr));
    const exe = await compile(outputs, { params: 'initializers' }, { threads: 2 });
    const feeds: Record<string, HostTensor> = {};
    c.shapes.forEach((s, i) => (feeds[`x${i}`] = randomTensor(s, dtype, r, (u) => (c.init ? c.init(u, i) : u * 2 - 1))));
    const out = await exe.run(feeds);
    const eps = dtype === 'float64' ? 1e-6 : 1e-2;
    const tol = c.tol ?? 1e-6;
    let maxErr = 0;
    for (let i = 0; i < c.shapes.length; i++) {
      const x = feeds[`x${i}`]!.data as Float64Array;
      const analytic = out[`g${i}`]!.data as Float64Array;
      for (let k = 0; k < x.length; k++) {
        const orig = x[k]!;
        x[k] = orig + eps;
        const up = (await exe.run(feeds, { outputs: ['loss'] })).loss!.data[0] as number;
        x[k] = orig - eps;
        const down = (await exe.run(feeds, { outputs: ['loss'] })).loss!.data[0] as number;
        x[k] = orig;
        const numeric = (up - down) / (2 * eps);
        const err = Math.abs(numeric - analytic[k]!) / Math.max(1, Math.abs(numeric));
        maxErr = Math.max(maxErr, err);
      }
    }
    assert.ok(maxErr < tol, `${c.name}: max relative error ${maxErr} >= ${tol}`);
  });
}

test('gradient of a loss that does not depend on a tensor is zero', async () => {
  const a = g.input('a', 'float64', [2]);
  const b = g.input('b', 'float64', [2]);
  const [ga, gb] = grad(g.reduceSum(g.mul(a, a)), [a, b]);
  const exe = await compile({ ga: ga!, gb: gb! }, { params: 'initializers' });
  const out = await exe.run({ a: hostTensor('float64', [2], [1, 2]) });
  assert.deepEqual([...out.ga!.data as Float64Array], [2, 4]);
  assert.deepEqual([...out.gb!.data as Float64Array], [0, 0]);
});
