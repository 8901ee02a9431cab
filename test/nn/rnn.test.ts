// Recurrent layers: parity with PyTorch (outputs, final states, gradients w.r.t. input, initial
// state and every weight; fixtures from test/fixtures/rnn/make_fixtures.py, loaded through
// openCheckpoint from .bin and .safetensors), the Keras weight layout, gradients against central
// differences, masking, bidirectional and state in/out semantics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { add, constant, input, mul, reduceSum } from '../../src/graph/ops.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { openCheckpoint } from '../../src/checkpoint/index.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { GATES, bidirectional, loadPyTorchRnn, rnn, rnnWeightsFromKeras, rnnWeightsFromPyTorch, setRnnWeights, type RnnCell } from '../../src/nn/rnn.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import type { Tensor } from '../../src/graph/tensor.ts';
import { gradientError, randomHost } from './helpers.ts';

const FIX = join(import.meta.dirname, '../fixtures/rnn');
interface Case {
  name: string; cell: RnnCell; activation: 'tanh' | 'relu'; bidirectional: boolean; weights: string;
  B: number; T: number; I: number; H: number; lengths: number[] | null; initState: boolean;
  x: number[]; h0: number[]; c0: number[]; mask: number[]; rOut: number[]; rH: number[]; rC: number[];
  out: number[]; hn: number[]; cn: number[] | null; loss: number; grads: Record<string, number[]>;
}
const fixtures = JSON.parse(readFileSync(join(FIX, 'rnn.json'), 'utf8')) as { cases: Case[] };
const f64 = (shape: number[], v: ArrayLike<number>) => hostTensor('float64', shape, v);

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>, keep?: (k: number) => boolean): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let k = 0; k < a.length; k++) if (!keep || keep(k)) m = Math.max(m, Math.abs(Number(a[k]) - Number(b[k])));
  return m;
}

/** The fixture's layer and loss, built with our layers; weights already in `store`. */
function build(c: Case, store: ParamStore) {
  const D = c.bidirectional ? 2 : 1, n = c.cell === 'lstm' ? 2 : 1;
  const x = input('x', 'float64', [c.B, c.T, c.I]);
  const mask = c.lengths ? input('mask', 'float64', [c.B, c.T]) : null;
  const init: Tensor[] = [];
  for (let d = 0; d < D; d++) { init.push(input(`h0_${d}`, 'float64', [c.B, c.H])); if (n === 2) init.push(input(`c0_${d}`, 'float64', [c.B, c.H])); }
  const scope = new Scope(store, 'rnn', { dtype: 'float64' });
  const options = { cell: c.cell, units: c.H, activation: c.activation, mask, initialState: init };
  const { sequence, state } = c.bidirectional ? bidirectional(scope, x, options) : rnn(scope, x, options);
  const m = constant(f64([c.B, c.T, 1], c.mask));
  let loss = reduceSum(mul(mul(sequence, constant(f64([c.B, c.T, D * c.H], c.rOut))), m));
  for (let d = 0; d < D; d++) {
    loss = add(loss, reduceSum(mul(state[d * n]!, constant(f64([c.B, c.H], c.rH.slice(d * c.B * c.H, (d + 1) * c.B * c.H))))));
    if (n === 2) loss = add(loss, reduceSum(mul(state[d * n + 1]!, constant(f64([c.B, c.H], c.rC.slice(d * c.B * c.H, (d + 1) * c.B * c.H))))));
  }
  const feeds: Record<string, HostTensor> = { x: f64([c.B, c.T, c.I], c.x) };
  if (mask) feeds.mask = f64([c.B, c.T], c.mask);
  for (let d = 0; d < D; d++) {
    feeds[`h0_${d}`] = f64([c.B, c.H], c.h0.slice(d * c.B * c.H, (d + 1) * c.B * c.H));
    if (n === 2) feeds[`c0_${d}`] = f64([c.B, c.H], c.c0.slice(d * c.B * c.H, (d + 1) * c.B * c.H));
  }
  for (const name of store.names()) feeds[name] = store.get(name)!;
  return { x, init, sequence, state, loss, feeds, D, n, scope };
}

for (const c of fixtures.cases) {
  test(`${c.name}: outputs, final state and gradients (input, initial state, weights) match PyTorch`, async () => {
    const store = new ParamStore();
    const reader = openCheckpoint(join(FIX, c.weights));
    loadPyTorchRnn(store, 'rnn', reader, { cell: c.cell, bidirectional: c.bidirectional, dtype: 'float64' });
    reader.close();
    const { x, init, sequence, state, loss, feeds, D, n, scope } = build(c, store);
    const paramNames = store.names();
    const params = paramNames.map((p) => scope.declared.get(p)!);
    const grads = grad(loss, [x, ...init, ...params]);
    const outputs: Record<string, Tensor> = { sequence, loss };
    state.forEach((s, k) => (outputs[`state${k}`] = s));
    grads.forEach((g, k) => (outputs[`g${k}`] = g));
    const out = await (await compile(outputs, { params: 'inputs' })).run(feeds);
    const tol = 1e-10;
    // Unidirectional: outputs at tokens only (PyTorch's packed output is zero at padding, ours repeats
    // the state, as Keras's); bidirectional: everywhere (both zero at padding, as Keras's Bidirectional).
    assert.ok(maxDiff(out.sequence!.data as Float64Array, c.out, (k) => c.bidirectional || c.mask[Math.floor(k / (D * c.H))]! > 0) < tol, 'sequence');
    for (let d = 0; d < D; d++) {
      const part = (v: number[]) => v.slice(d * c.B * c.H, (d + 1) * c.B * c.H);
      assert.ok(maxDiff(out[`state${d * n}`]!.data as Float64Array, part(c.hn)) < tol, `h_n direction ${d}`);
      if (n === 2) assert.ok(maxDiff(out[`state${d * n + 1}`]!.data as Float64Array, part(c.cn!)) < tol, `c_n direction ${d}`);
      assert.ok(maxDiff(out[`g${1 + d * n}`]!.data as Float64Array, part(c.grads.h0!)) < tol, `dL/dh0 direction ${d}`);
      if (n === 2) assert.ok(maxDiff(out[`g${2 + d * n}`]!.data as Float64Array, part(c.grads.c0!)) < tol, `dL/dc0 direction ${d}`);
    }
    assert.ok(Math.abs((out.loss!.data[0] as number) - c.loss) < tol, 'loss');
    assert.ok(maxDiff(out.g0!.data as Float64Array, c.grads.x!) < tol, 'dL/dx');
    // Weight gradients: map PyTorch's through the same layout transform. The cell sees b_ih + b_hh
    // (simple, LSTM), so their gradients are equal and ours is either one: zero b_hh before summing.
    const G = GATES[c.cell] * c.H, shapes: Record<string, number[]> = { weight_ih: [G, c.I], weight_hh: [G, c.H], bias_ih: [G], bias_hh: [G] };
    for (let d = 0; d < D; d++) {
      const get = (name: string) => {
        const v = c.grads[name]!, base = name.replace(/_l0(_reverse)?$/, '');
        if (c.cell !== 'gru' && base === 'bias_hh') { assert.ok(maxDiff(v, c.grads[name.replace('hh', 'ih')]!) < 1e-12); return f64(shapes[base]!, v.map(() => 0)); }
        return f64(shapes[base]!, v);
      };
      const want = rnnWeightsFromPyTorch(c.cell, get, { reverse: d === 1, dtype: 'float64' });
      const scopeName = c.bidirectional ? `rnn/${d ? 'backward' : 'forward'}` : 'rnn';
      for (const [w, t] of Object.entries(want)) {
        const k = paramNames.indexOf(`${scopeName}/${w}`);
        assert.ok(k >= 0, `${scopeName}/${w} loaded`);
        assert.ok(maxDiff(out[`g${1 + init.length + k}`]!.data as Float64Array, t.data as Float64Array) < tol, `dL/d${scopeName}/${w}`);
      }
    }
  });
}

test('Keras weights (kernel [I, G·H], recurrent_kernel, bias; GRU bias [2, 3H]) give the PyTorch outputs', async () => {
  for (const name of ['lstm', 'gru_masked', 'rnn_tanh']) {
    const c = fixtures.cases.find((k) => k.name === name)!;
    const reader = openCheckpoint(join(FIX, c.weights));
    // Keras layout written out independently: transpose, GRU gates r,z,n -> z,r,h, biases as Keras keeps them.
    const G = GATES[c.cell], H = c.H;
    const order = c.cell === 'gru' ? [1, 0, 2] : [...Array(G).keys()]; // keras block k takes torch block order[k]
    const toKeras = (t: HostTensor) => {
      const cols = t.shape[1]!, out = new Float64Array(cols * G * H);
      for (let k = 0; k < G; k++) for (let u = 0; u < H; u++) for (let j = 0; j < cols; j++) out[j * G * H + k * H + u] = (t.data as Float64Array)[(order[k]! * H + u) * cols + j]!;
      return f64([cols, G * H], out);
    };
    const vec = (t: HostTensor) => Float64Array.from({ length: G * H }, (_, i) => (t.data as Float64Array)[order[Math.floor(i / H)]! * H + (i % H)]!);
    const bih = vec(reader.read('bias_ih_l0')), bhh = vec(reader.read('bias_hh_l0'));
    const bias = c.cell === 'gru' ? f64([2, G * H], [...bih, ...bhh]) : f64([G * H], bih.map((v, i) => v + bhh[i]!));
    const store = new ParamStore();
    setRnnWeights(store, 'rnn', rnnWeightsFromKeras(c.cell, toKeras(reader.read('weight_ih_l0')), toKeras(reader.read('weight_hh_l0')), bias, 'float64'));
    reader.close();
    const { sequence, feeds } = build(c, store);
    const out = await (await compile({ sequence }, { params: 'inputs' })).run(feeds);
    assert.ok(maxDiff(out.sequence!.data as Float64Array, c.out, (k) => c.mask[Math.floor(k / c.H)]! > 0) < 1e-10, name);
  }
});

test('rnn gradients match central differences (float64; mask, initial state, bidirectional, relu)', async () => {
  const B = 2, T = 4, I = 3, H = 3;
  for (const [cell, bidir, activation] of [['simple', false, 'relu'], ['lstm', true, 'tanh'], ['gru', false, 'tanh'], ['gru', true, 'relu']] as const) {
    const r = new Random(cell.length * 31 + (bidir ? 1 : 0));
    const store = new ParamStore(5);
    const x = input('x', 'float64', [B, T, I]);
    const n = cell === 'lstm' ? 2 : 1, D = bidir ? 2 : 1;
    const init = Array.from({ length: n * D }, (_, k) => input(`s${k}`, 'float64', [B, H]));
    const mask = input('mask', 'int64', [B, T]);
    const scope = new Scope(store, 'l', { dtype: 'float64' });
    const opts = { cell, units: H, activation, mask, initialState: init } as const;
    const { sequence, state } = bidir ? bidirectional(scope, x, opts) : rnn(scope, x, opts);
    let loss = reduceSum(mul(sequence, constant(randomHost(r, 'float64', [B, T, D * H]))));
    for (const s of state) loss = add(loss, reduceSum(mul(s, constant(randomHost(r, 'float64', [B, H])))));
    const feeds: Record<string, HostTensor> = { x: randomHost(r, 'float64', [B, T, I]), mask: hostTensor('int64', [B, T], [1, 1, 1, 1, 1, 1, 0, 0]) };
    const wrt: Record<string, Tensor> = { x };
    init.forEach((s, k) => { wrt[`s${k}`] = s; feeds[`s${k}`] = randomHost(r, 'float64', [B, H], 0.5); });
    for (const name of store.names()) { wrt[name] = scope.declared.get(name)!; feeds[name] = store.get(name)!; }
    const { maxErr, worst } = await gradientError(loss, wrt, feeds);
    assert.ok(maxErr < 1e-6, `${cell}${bidir ? ' bidirectional' : ''} ${activation}: ${maxErr} at ${worst}`);
  }
});

/** Run one layer on host feeds; returns sequence and state values. */
async function runLayer(cell: RnnCell, store: ParamStore, xv: HostTensor, o: { mask?: number[]; init?: HostTensor[]; reverse?: boolean; bidir?: boolean } = {}) {
  const [B, T, I] = xv.shape as [number, number, number], H = 3;
  const x = input('x', 'float64', [B, T, I]);
  const mask = o.mask ? input('mask', 'float64', [B, T]) : null;
  const init = o.init?.map((_, k) => input(`init${k}`, 'float64', [B, H]));
  const opts = { cell, units: H, mask, initialState: init, reverse: o.reverse };
  const scope = new Scope(store, 'l', { dtype: 'float64' });
  const res = o.bidir ? bidirectional(scope, x, opts) : rnn(scope, x, opts);
  const outputs: Record<string, Tensor> = { seq: res.sequence };
  res.state.forEach((s, k) => (outputs[`s${k}`] = s));
  const feeds: Record<string, HostTensor> = { x: xv };
  if (o.mask) feeds.mask = f64([B, T], o.mask);
  o.init?.forEach((v, k) => (feeds[`init${k}`] = v));
  const out = await (await compile(outputs, { params: 'initializers', paramValue: (p) => store.get(p) })).run(feeds);
  return { seq: out.seq!.data as Float64Array, state: res.state.map((_, k) => out[`s${k}`]!.data as Float64Array) };
}

const sliceT = (v: HostTensor, from: number, to: number) => {
  const [B, T, I] = v.shape as [number, number, number];
  return f64([B, to - from, I], Array.from({ length: B }, (_, b) => [...(v.data as Float64Array).subarray((b * T + from) * I, (b * T + to) * I)]).flat());
};

test('masking: a padded step keeps the state and repeats the output; padded rows end with the state of their last token', async () => {
  for (const cell of ['simple', 'lstm', 'gru'] as const) {
    const store = new ParamStore(1), r = new Random(2);
    const xv = randomHost(r, 'float64', [2, 5, 2]);
    const padded = await runLayer(cell, store, xv, { mask: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1] });
    const short = await runLayer(cell, store, sliceT(xv, 0, 3));
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(padded.state[0]![k]! - short.state[0]![k]!) < 1e-12, `${cell}: row 0 final h = h at its last token`);
    for (let s = 3; s < 5; s++) for (let u = 0; u < 3; u++) assert.equal(padded.seq[s * 3 + u], padded.seq[2 * 3 + u], `${cell}: padded output repeats`);
    // Reversed over a right-padded row: starts from the initial state at the last token, like the reversed short row.
    const rev = await runLayer(cell, store, xv, { mask: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1], reverse: true });
    const revShort = await runLayer(cell, store, sliceT(xv, 0, 3), { reverse: true });
    for (let k = 0; k < 9; k++) assert.ok(Math.abs(rev.seq[k]! - revShort.seq[k]!) < 1e-12, `${cell}: reverse pass skips the padding`);
  }
});

test('state in/out: running 0..2 then 3..5 from the returned state equals one run; bidirectional = forward ‖ reversed backward', async () => {
  for (const cell of ['simple', 'lstm', 'gru'] as const) {
    const store = new ParamStore(3), r = new Random(4);
    const xv = randomHost(r, 'float64', [2, 6, 2]);
    const full = await runLayer(cell, store, xv);
    const first = await runLayer(cell, store, sliceT(xv, 0, 3));
    const second = await runLayer(cell, store, sliceT(xv, 3, 6), { init: first.state.map((s) => f64([2, 3], s)) });
    for (let k = 0; k < 6; k++) assert.ok(Math.abs(full.state[0]![k]! - second.state[0]![k]!) < 1e-12, `${cell}: final h`);
    if (cell === 'lstm') for (let k = 0; k < 6; k++) assert.ok(Math.abs(full.state[1]![k]! - second.state[1]![k]!) < 1e-12, 'final c');
    // Bidirectional with weights copied: the two halves are the forward and the reversed layer.
    const bi = new ParamStore(9);
    await runLayer(cell, bi, xv, { bidir: true });
    const fwd = new ParamStore(), bwd = new ParamStore();
    for (const name of bi.names()) (name.startsWith('l/forward/') ? fwd : bwd).set(name.replace(/\/(forward|backward)/, ''), bi.get(name)!);
    const both = await runLayer(cell, bi, xv, { bidir: true }), f = await runLayer(cell, fwd, xv), b = await runLayer(cell, bwd, xv, { reverse: true });
    for (let p = 0; p < 12; p++) for (let u = 0; u < 3; u++) {
      assert.ok(Math.abs(both.seq[p * 6 + u]! - f.seq[p * 3 + u]!) < 1e-12);
      assert.ok(Math.abs(both.seq[p * 6 + 3 + u]! - b.seq[p * 3 + u]!) < 1e-12);
    }
  }
});

test('rnn errors name the op and the shapes', () => {
  const scope = new Scope(new ParamStore());
  assert.throws(() => rnn(scope, input('x', 'float32', ['batch', 'seq', 4]), { cell: 'lstm', units: 3 }), /rnn\(lstm\).*\[batch, seq, 4\]/);
  assert.throws(() => rnn(scope, input('x', 'float32', [2, 5, 4]), { cell: 'gru', units: 3, mask: input('m', 'int64', [2, 4]) }), /mask \[2, 4\].*\[B, 5\]/);
  assert.throws(() => rnn(scope, input('x', 'float32', [2, 5, 4]), { cell: 'lstm', units: 3, initialState: [input('h', 'float32', [2, 3])] }), /initialState must be 2 tensor/);
  assert.throws(() => rnnWeightsFromKeras('gru', f64([2, 9], new Float64Array(18)), f64([3, 9], new Float64Array(27)), f64([9], new Float64Array(9))), /bias \(GRU reset_after=True\) is \[9\], expected \[2, 9\]/);
});
