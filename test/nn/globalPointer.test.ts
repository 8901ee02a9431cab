// GlobalPointer and EfficientGlobalPointer against a plain-TS reimplementation of bert4keras's
// formulas (RoPE, padding and lower-triangle masks), their gradients and the multilabel loss's
// against central differences, and a trained toy example whose decoded spans are the planted ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concat, constant, input, mul, padAxis, reduceSum, slice } from '../../src/graph/ops.ts';
import { globalPointerCrossEntropy, multilabelCrossEntropy } from '../../src/graph/composite.ts';
import { dense, embedding } from '../../src/nn/layers.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { decodeSpans, efficientGlobalPointer, globalPointer, type GlobalPointerOptions } from '../../src/nn/globalPointer.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam } from '../../src/training/optimizers.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import type { Tensor } from '../../src/graph/tensor.ts';
import { gradientError, logSumExpHost, randomHost } from './helpers.ts';

const B = 2, T = 5, C = 6;
const opts: GlobalPointerOptions = { heads: 2, headSize: 4 };
const lengths = [5, 3];
const maskValues = lengths.flatMap((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0)));
type Head = typeof globalPointer;
const heads: [string, Head][] = [['GlobalPointer', globalPointer], ['EfficientGlobalPointer', efficientGlobalPointer]];

/** x W + b on the host for rows of x [N, I] with W [I, O] (row-major), b [O]. */
function denseHost(x: ArrayLike<number>, w: HostTensor, b: HostTensor): number[][] {
  const [i, o] = w.shape as [number, number];
  return Array.from({ length: x.length / i }, (_, r) => Array.from({ length: o }, (_, j) => {
    let s = b.data[j] as number;
    for (let k = 0; k < i; k++) s += x[r * i + k]! * (w.data[k * o + j] as number);
    return s;
  }));
}

/** RoPE as the rotation of each pair (v[2i], v[2i+1]) by the angle t · 10000^(−2i/D). */
function rotate(v: number[], t: number): number[] {
  const d = v.length, out = [...v];
  for (let i = 0; i < d / 2; i++) {
    const a = t * Math.pow(10000, (-2 * i) / d);
    out[2 * i] = v[2 * i]! * Math.cos(a) - v[2 * i + 1]! * Math.sin(a);
    out[2 * i + 1] = v[2 * i + 1]! * Math.cos(a) + v[2 * i]! * Math.sin(a);
  }
  return out;
}
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** bert4keras's GlobalPointer / EfficientGlobalPointer call(), written out per span. */
function referenceScores(kind: string, store: ParamStore, x: ArrayLike<number>, mask: number[]): number[] {
  const { heads: H, headSize: D } = opts;
  const out: number[] = [];
  const masked = (b: number, m: number, n: number, s: number) => {
    if (!mask[b * T + m] || !mask[b * T + n]) s = -1e12;
    return n < m ? s - 1e12 : s;
  };
  if (kind === 'GlobalPointer') {
    const h = denseHost(x, store.get('gp/dense/kernel')!, store.get('gp/dense/bias')!); // rows b*T+t, [H*2D]
    for (let b = 0; b < B; b++) for (let hh = 0; hh < H; hh++) for (let m = 0; m < T; m++) for (let n = 0; n < T; n++) {
      const q = rotate(h[b * T + m]!.slice(hh * 2 * D, hh * 2 * D + D), m);
      const k = rotate(h[b * T + n]!.slice(hh * 2 * D + D, (hh + 1) * 2 * D), n);
      out.push(masked(b, m, n, dot(q, k)) / Math.sqrt(D));
    }
  } else {
    const p = denseHost(x, store.get('gp/p_dense/kernel')!, store.get('gp/p_dense/bias')!); // [2D], q = even, k = odd
    const g = denseHost(p.flat(), store.get('gp/q_dense/kernel')!, store.get('gp/q_dense/bias')!); // [2H]
    const qOf = (r: number[]) => r.filter((_, i) => i % 2 === 0), kOf = (r: number[]) => r.filter((_, i) => i % 2 === 1);
    for (let b = 0; b < B; b++) for (let hh = 0; hh < H; hh++) for (let m = 0; m < T; m++) for (let n = 0; n < T; n++) {
      const shared = dot(rotate(qOf(p[b * T + m]!), m), rotate(kOf(p[b * T + n]!), n)) / Math.sqrt(D);
      out.push(masked(b, m, n, shared + g[b * T + n]![2 * hh]! / 2 + g[b * T + m]![2 * hh + 1]! / 2));
    }
  }
  return out;
}

function build(kind: string, head: Head, store: ParamStore) {
  const x = input('x', 'float64', [B, T, C]);
  const mask = input('mask', 'int64', [B, T]);
  const scope = new Scope(store, '', { dtype: 'float64' });
  const scores = head(scope.child('gp'), x, mask, opts);
  assert.deepEqual(scores.shape, [B, opts.heads, T, T], kind);
  return { x, mask, scores, params: Object.fromEntries(scope.declared) };
}

for (const [kind, head] of heads) {
  test(`${kind} equals a plain-TS reimplementation of the formula (RoPE, padding and lower-triangle masks)`, async () => {
    const store = new ParamStore(4);
    const { scores } = build(kind, head, store);
    // Biases start at zero; make them nonzero so they are checked too.
    const r = new Random(8);
    for (const name of store.names()) if (name.endsWith('bias')) store.set(name, randomHost(r, 'float64', store.get(name)!.shape));
    const x = randomHost(r, 'float64', [B, T, C]);
    const exe = await compile({ scores }, { params: 'initializers', paramValue: (n) => store.get(n) });
    const got = (await exe.run({ x, mask: hostTensor('int64', [B, T], maskValues) })).scores!.data as Float64Array;
    const want = referenceScores(kind, store, x.data as Float64Array, maskValues);
    assert.equal(got.length, want.length);
    let unmasked = 0;
    want.forEach((w, i) => {
      assert.ok(Math.abs(got[i]! - w) <= 1e-9 * Math.max(1, Math.abs(w)), `${kind} score ${i}: ${got[i]} vs ${w}`);
      if (w > -1e6) unmasked++;
    });
    // Row 0: 15 spans with n >= m; row 1 (length 3): 6; per head.
    assert.equal(unmasked, opts.heads * (15 + 6));
    // Dynamic batch and length: the RoPE tables are sliced to the run-time length.
    const dyn = head(new Scope(store, '', { dtype: 'float64' }).child('gp'), input('x', 'float64', ['batch', 'seq', C]), input('mask', 'int64', ['batch', 'seq']), { ...opts, maxLength: 16 });
    const exeDyn = await compile({ scores: dyn }, { params: 'initializers', paramValue: (n) => store.get(n) });
    const gotDyn = (await exeDyn.run({ x, mask: hostTensor('int64', [B, T], maskValues) })).scores!.data as Float64Array;
    assert.deepEqual([...gotDyn], [...got]);
  });

  test(`${kind} gradients w.r.t. input and weights match central differences (float64)`, async () => {
    const store = new ParamStore(5);
    const { x, scores, params } = build(kind, head, store);
    const r = new Random(9);
    // Weight each unmasked score by a random value, masked ones (±1e12) by 0 so finite differences stay exact.
    const ref = referenceScores(kind, store, new Float64Array(B * T * C), maskValues);
    const w = hostTensor('float64', scores.shape as number[], ref.map((v) => (v > -1e6 ? r.next() * 2 - 1 : 0)));
    const loss = reduceSum(mul(scores, constant(w)));
    const feeds: Record<string, HostTensor> = { x: randomHost(r, 'float64', [B, T, C]), mask: hostTensor('int64', [B, T], maskValues) };
    for (const name of store.names()) feeds[name] = randomHost(r, 'float64', store.get(name)!.shape, 0.5);
    const { maxErr, worst } = await gradientError(loss, { x, ...params }, feeds);
    assert.ok(maxErr < 1e-6, `${kind}: max relative error ${maxErr} at ${worst}`);
  });

  test(`${kind} + globalPointerCrossEntropy: gradient of the whole loss matches central differences (float64)`, async () => {
    const store = new ParamStore(6);
    const { x, scores, params } = build(kind, head, store);
    const r = new Random(10);
    // Targets only on spans that exist (n >= m, inside the length), as real labels are.
    const ref = referenceScores(kind, store, new Float64Array(B * T * C), maskValues);
    const yTrue = hostTensor('float64', scores.shape as number[], ref.map((v) => (v > -1e6 && r.next() < 0.3 ? 1 : 0)));
    const loss = globalPointerCrossEntropy(constant(yTrue), scores);
    const feeds: Record<string, HostTensor> = { x: randomHost(r, 'float64', [B, T, C]), mask: hostTensor('int64', [B, T], maskValues) };
    for (const name of store.names()) feeds[name] = randomHost(r, 'float64', store.get(name)!.shape, 0.5);
    const { maxErr, worst } = await gradientError(loss, { x, ...params }, feeds);
    assert.ok(maxErr < 1e-6, `${kind}: max relative error ${maxErr} at ${worst}`);
  });
}

test('multilabelCrossEntropy equals log(1 + Σ_neg e^s) + log(1 + Σ_pos e^−s) and its gradient matches central differences', async () => {
  const r = new Random(12);
  const rows = 4, classes = 6;
  const yPred = input('yPred', 'float64', [rows, classes]);
  const y = Array.from({ length: rows * classes }, (_, i) => (i % classes === 0 ? 1 : r.next() < 0.3 ? 1 : 0));
  y.fill(0, classes, 2 * classes); // a row without positives
  const perRow = multilabelCrossEntropy(constant(hostTensor('float64', [rows, classes], y)), yPred);
  const s = randomHost(r, 'float64', [rows, classes], 3);
  s.data[3] = -1e12; // a masked negative drops out
  const exe = await compile({ perRow }, { params: 'inputs' });
  const got = (await exe.run({ yPred: s })).perRow!.data as Float64Array;
  for (let i = 0; i < rows; i++) {
    const neg: number[] = [0], pos: number[] = [0];
    for (let j = 0; j < classes; j++) (y[i * classes + j] ? pos : neg).push(y[i * classes + j] ? -(s.data[i * classes + j] as number) : (s.data[i * classes + j] as number));
    const want = logSumExpHost(neg) + logSumExpHost(pos);
    assert.ok(Math.abs(got[i]! - want) < 1e-12, `row ${i}: ${got[i]} vs ${want}`);
  }
  const { maxErr, worst } = await gradientError(reduceSum(mul(perRow, constant(randomHost(r, 'float64', [rows])))), { yPred }, { yPred: s });
  assert.ok(maxErr < 1e-6, `max relative error ${maxErr} at ${worst}`);
});

// Toy NER: tokens 1-3 form type-0 entities, 4-6 type-1 entities, 7-11 are other words, 0 pads.
// Each sequence plants at most one run of each type (1-3 tokens); the model must recover them.
const SEQ = 12, VOCAB = 12;
interface Example { ids: number[]; length: number; spans: [number, number, number][] }
function example(r: Random): Example {
  const length = 8 + r.int(SEQ - 7);
  const ids = Array.from({ length: SEQ }, (_, t) => (t < length ? 7 + r.int(5) : 0));
  const spans: [number, number, number][] = [];
  let free = 0; // runs are placed left to right with at least one other word between them
  for (const type of r.next() < 0.5 ? [0, 1] : [1, 0]) {
    if (r.next() < 0.2) continue;
    const len = 1 + r.int(3);
    const start = free + r.int(3);
    if (start + len > length) continue;
    for (let t = start; t < start + len; t++) ids[t] = 1 + 3 * type + r.int(3);
    spans.push([type, start, start + len - 1]);
    free = start + len + 1;
  }
  return { ids, length, spans };
}
function spanBatch(examples: Example[]): { ids: HostTensor; mask: HostTensor; labels: HostTensor } {
  const n = examples.length;
  const labels = new Float32Array(n * 2 * SEQ * SEQ);
  examples.forEach((e, b) => { for (const [h, s, t] of e.spans) labels[((b * 2 + h) * SEQ + s) * SEQ + t] = 1; });
  return {
    ids: hostTensor('int64', [n, SEQ], examples.flatMap((e) => e.ids)),
    mask: hostTensor('int64', [n, SEQ], examples.flatMap((e) => Array.from({ length: SEQ }, (_, t) => (t < e.length ? 1 : 0)))),
    labels: { dtype: 'float32', shape: [n, 2, SEQ, SEQ], data: labels },
  };
}

/** Embedding, a window of three tokens (so a position knows where runs begin and end), then the head. */
function spanModel(scope: Scope, head: Head): Tensor {
  const ids = input('ids', 'int64', ['batch', SEQ]);
  const e = embedding(scope.child('embedding'), ids, VOCAB, 16).output; // (B, T, 16)
  const prev = padAxis(slice(e, 1, 0, SEQ - 1), 1, 1, 0), next = padAxis(slice(e, 1, 1, SEQ), 1, 0, 1);
  const h = dense(scope.child('window'), concat([prev, e, next], -1), 32, { activation: 'tanh' }); // (B, T, 32)
  return head(scope.child('gp'), h, input('mask', 'int64', ['batch', SEQ]), { heads: 2, headSize: 8 }); // (B, 2, T, T)
}

for (const [kind, head] of heads) {
  test(`a trained toy ${kind} recovers planted spans by decoding scores > 0`, async () => {
    const store = new ParamStore(3);
    const trainer = await Trainer.create({
      store,
      loss: (scope) => globalPointerCrossEntropy(input('labels', 'float32', ['batch', 2, SEQ, SEQ]), spanModel(scope, head)),
      optimizer: adam(0.01),
    });
    const exe = await compile({ scores: spanModel(new Scope(store), head) }, { params: 'inputs' });
    const heldOutExamples = Array.from({ length: 100 }, (_, i) => example(new Random(1000 + i)));
    const heldOut = spanBatch(heldOutExamples);
    const planted = new Set(heldOutExamples.flatMap((e, b) => e.spans.map(([h, s, t]) => `${b}/${h}/${s}/${t}`)));
    const r = new Random(2);
    let f1 = 0, first = NaN, last = NaN;
    for (let step = 0; step < 600 && f1 < 1; step++) {
      const res = await trainer.trainStep(spanBatch(Array.from({ length: 32 }, () => example(r))));
      if (step === 0) first = res.loss;
      last = res.loss;
      if (step % 50 !== 49) continue;
      const feeds: Record<string, HostTensor> = { ids: heldOut.ids, mask: heldOut.mask };
      for (const name of store.names()) feeds[name] = store.get(name)!;
      const found = decodeSpans((await exe.run(feeds)).scores!).map((s) => `${s.batch}/${s.head}/${s.start}/${s.end}`);
      const hits = found.filter((k) => planted.has(k)).length;
      f1 = (2 * hits) / (found.length + planted.size);
    }
    assert.ok(last < first / 5, `${kind}: loss fell from ${first} to ${last}`);
    assert.ok(f1 >= 0.98, `${kind}: held-out span F1 ${f1}`);
  });
}

test('decodeSpans lists the spans above the threshold with batch, head, start and end', () => {
  const scores = hostTensor('float32', [1, 2, 2, 2], [-1, 2, -1e12, -3, 0.5, -1, -2e12, 0]);
  assert.deepEqual(decodeSpans(scores), [{ batch: 0, head: 0, start: 0, end: 1, score: 2 }, { batch: 0, head: 1, start: 0, end: 0, score: 0.5 }]);
});
