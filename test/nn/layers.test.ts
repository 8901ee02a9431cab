// nn/layers.ts `activate`: every Activation against its host formula, swish's gradient against its
// derivative, and a name outside the union refused with the valid ones listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as g from '../../src/graph/index.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { activate, type Activation } from '../../src/nn/layers.ts';

const xs = [-3, -1.5, -0.25, 0, 0.5, 2, 4];
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): enough to tell erf GELU from the tanh form (up to 5e-4 apart here). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x);
  return x < 0 ? -y : y;
}
const formulas: Record<Activation, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(0, x),
  tanh: Math.tanh,
  swish: (x) => x * sigmoid(x),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
};

test('activate: every activation equals its formula; swish has the derivative sigmoid(x)(1 + x(1 - sigmoid(x)))', async () => {
  const x = g.input('x', 'float32', [xs.length]); // float32: ORT has no float64 Erf
  const names = Object.keys(formulas) as Activation[];
  const outputs: Record<string, g.Tensor> = Object.fromEntries(names.map((a) => [a, activate(x, a)]));
  outputs.dswish = grad(g.reduceSum(activate(x, 'swish')), [x])[0]!;
  const out = await (await compile(outputs, { params: 'initializers' })).run({ x: hostTensor('float32', [xs.length], xs) });
  for (const a of names) {
    const got = [...(out[a]!.data as Float32Array)];
    xs.forEach((v, i) => {
      const want = formulas[a](v);
      assert.ok(Math.abs(got[i]! - want) < 1e-6, `${a}(${v}) = ${got[i]}, expected ${want}`);
    });
  }
  const d = [...(out.dswish!.data as Float32Array)];
  xs.forEach((v, i) => assert.ok(Math.abs(d[i]! - sigmoid(v) * (1 + v * (1 - sigmoid(v)))) < 1e-6, `swish'(${v}) = ${d[i]}`));
});

test('activate refuses a name outside the Activation union, listing the valid ones', () => {
  const x = g.input('x', 'float32', [2]);
  assert.throws(() => activate(x, 'silu' as Activation), /unknown activation 'silu' \(valid: linear, gelu, gelu_tanh, relu, tanh, swish\)/);
});
