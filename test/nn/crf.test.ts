// The CRF: log Z and path scores against brute-force enumeration of every label path, Viterbi
// against brute-force argmax (with and without constraints), the loss's gradient against central
// differences, and a tiny tagger that needs the transitions to tag correctly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { input } from '../../src/graph/ops.ts';
import { dense, embedding } from '../../src/nn/layers.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { ViterbiDecoder, bioConstraints, conditionalRandomField, crfLogPartition, crfLoss, crfPathScore } from '../../src/nn/crf.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam } from '../../src/training/optimizers.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import type { Tensor } from '../../src/graph/tensor.ts';
import { gradientError, logSumExpHost, randomHost } from './helpers.ts';

/** Every label path of length n over L labels. */
function* paths(n: number, L: number): Generator<number[]> {
  if (n === 0) { yield []; return; }
  for (const head of paths(n - 1, L)) for (let j = 0; j < L; j++) yield [...head, j];
}

function hostScore(e: ArrayLike<number>, trans: ArrayLike<number>, L: number, path: number[], offset = 0): number {
  let s = 0;
  path.forEach((y, t) => { s += e[offset + t * L + y]!; if (t > 0) s += trans[path[t - 1]! * L + y]!; });
  return s;
}

const B = 3, T = 4, L = 3;
const lengths = [4, 2, 1]; // full, padded, a single token

test('CRF log-partition and path score equal brute-force enumeration (3 labels x 4 steps, with and without padding)', async () => {
  const r = new Random(11);
  const emissions = input('emissions', 'float64', [B, T, L]);
  const trans = input('trans', 'float64', [L, L]);
  const labels = input('labels', 'int64', [B, T]);
  const mask = input('mask', 'float64', [B, T]);
  const exe = await compile({
    logZ: crfLogPartition(emissions, trans, mask), score: crfPathScore(emissions, trans, labels, mask),
    logZFull: crfLogPartition(emissions, trans), scoreFull: crfPathScore(emissions, trans, labels),
    loss: crfLoss(emissions, trans, labels, mask),
  }, { params: 'inputs' });
  const e = randomHost(r, 'float64', [B, T, L], 2), tr = randomHost(r, 'float64', [L, L], 2);
  const y = Array.from({ length: B * T }, () => r.int(L));
  const m = lengths.flatMap((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0)));
  const out = await exe.run({ emissions: e, trans: tr, labels: hostTensor('int64', [B, T], y), mask: hostTensor('float64', [B, T], m) });
  const ed = e.data as Float64Array, td = tr.data as Float64Array;
  let lossSum = 0;
  for (let b = 0; b < B; b++) {
    const all = (n: number) => [...paths(n, L)].map((p) => hostScore(ed, td, L, p, b * T * L));
    const logZ = logSumExpHost(all(lengths[b]!)), logZFull = logSumExpHost(all(T));
    assert.equal(all(T).length, L ** T);
    const yb = y.slice(b * T, (b + 1) * T);
    const score = hostScore(ed, td, L, yb.slice(0, lengths[b]), b * T * L), scoreFull = hostScore(ed, td, L, yb, b * T * L);
    assert.ok(Math.abs((out.logZ!.data[b] as number) - logZ) < 1e-10, `row ${b}: log Z ${out.logZ!.data[b]} vs brute force ${logZ}`);
    assert.ok(Math.abs((out.logZFull!.data[b] as number) - logZFull) < 1e-10, `row ${b} unmasked: log Z ${out.logZFull!.data[b]} vs ${logZFull}`);
    assert.ok(Math.abs((out.score!.data[b] as number) - score) < 1e-10, `row ${b}: score ${out.score!.data[b]} vs ${score}`);
    assert.ok(Math.abs((out.scoreFull!.data[b] as number) - scoreFull) < 1e-10);
    lossSum += logZ - score;
  }
  assert.ok(Math.abs((out.loss!.data[0] as number) - lossSum / B) < 1e-10);
});

test('CRF log-partition stays finite for large scores (logsumexp is shifted)', async () => {
  const emissions = input('emissions', 'float32', [1, 3, 2]);
  const trans = input('trans', 'float32', [2, 2]);
  const exe = await compile({ logZ: crfLogPartition(emissions, trans) }, { params: 'inputs' });
  const e = hostTensor('float32', [1, 3, 2], [500, 490, 480, 510, 505, 500]), tr = hostTensor('float32', [2, 2], [0, 1, 2, 0]);
  const logZ = (await exe.run({ emissions: e, trans: tr })).logZ!.data[0] as number;
  const ref = logSumExpHost([...paths(3, 2)].map((p) => hostScore(e.data as Float32Array, tr.data as Float32Array, 2, p)));
  assert.ok(Math.abs(logZ - ref) < 1e-3, `${logZ} vs ${ref}`);
});

test('Viterbi equals the brute-force best path, with and without start/end/forbidden constraints', () => {
  const r = new Random(5);
  const constraints = [{}, { starts: [0, 1], ends: [2] }, { forbidden: [[0, 2], [1, 1], [2, 0]] as [number, number][] }, { starts: [1], forbidden: [[1, 0]] as [number, number][] }];
  for (let trial = 0; trial < 40; trial++) {
    const n = 1 + (trial % 5);
    const trans = Array.from({ length: L }, () => Array.from({ length: L }, () => r.next() * 4 - 2));
    const e = Array.from({ length: n }, () => Array.from({ length: L }, () => r.next() * 4 - 2));
    for (const c of constraints) {
      const forbidden = new Set((c.forbidden ?? []).map(([i, j]) => `${i},${j}`));
      let best = -Infinity, bestPath: number[] = [];
      for (const p of paths(n, L)) {
        if (c.starts && !c.starts.includes(p[0]!)) continue;
        if (c.ends && !c.ends.includes(p[n - 1]!)) continue;
        if (p.some((y, t) => t > 0 && forbidden.has(`${p[t - 1]},${y}`))) continue;
        const s = hostScore(e.flat(), trans.flat(), L, p);
        if (s > best) { best = s; bestPath = p; }
      }
      const decoder = new ViterbiDecoder(trans, c);
      if (best === -Infinity) assert.throws(() => decoder.decode(e), /no label path/); // e.g. length 1, starts [0, 1], ends [2]
      else assert.deepEqual(decoder.decode(e), bestPath, `trial ${trial}, constraints ${JSON.stringify(c)}`);
    }
  }
  // Flat [B, T, L] emissions with lengths, as the graph returns them.
  const flat = hostTensor('float32', [2, 2, 2], [0, 1, 5, 0, 3, 0, 9, 9]);
  assert.deepEqual(new ViterbiDecoder([[0, 0], [0, 0]]).decodeBatch(flat, [2, 1]), [[1, 0], [0]]);
  assert.throws(() => new ViterbiDecoder([[0, 0], [0, 0]], { starts: [0], forbidden: [[0, 0], [0, 1]] }).decode([[1, 1], [1, 1]]), /no label path/);
});

test('bioConstraints forbids I-x after O, after another type and at the start', () => {
  const labels = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];
  const c = bioConstraints(labels);
  assert.deepEqual(c.starts, [0, 1, 3]);
  const f = new Set(c.forbidden!.map(([i, j]) => `${labels[i]}>${labels[j]}`));
  for (const bad of ['O>I-PER', 'B-LOC>I-PER', 'I-LOC>I-PER', 'O>I-LOC', 'B-PER>I-LOC', 'I-PER>I-LOC']) assert.ok(f.has(bad), bad);
  for (const ok of ['B-PER>I-PER', 'I-PER>I-PER', 'B-LOC>I-LOC', 'O>B-PER', 'I-PER>O']) assert.ok(!f.has(ok), ok);
  assert.equal(f.size, 6);
});

test('CRF loss gradient w.r.t. emissions and transitions matches central differences (float64, padded rows)', async () => {
  const r = new Random(3);
  const emissions = input('emissions', 'float64', [B, T, L]);
  const trans = input('trans', 'float64', [L, L]);
  const loss = crfLoss(emissions, trans, input('labels', 'int64', [B, T]), input('mask', 'int64', [B, T]));
  const feeds = {
    emissions: randomHost(r, 'float64', [B, T, L], 2), trans: randomHost(r, 'float64', [L, L]),
    labels: hostTensor('int64', [B, T], Array.from({ length: B * T }, () => r.int(L))),
    mask: hostTensor('int64', [B, T], lengths.flatMap((n) => Array.from({ length: T }, (_, t) => (t < n ? 1 : 0)))),
  };
  const { maxErr, worst } = await gradientError(loss, { emissions, trans }, feeds);
  assert.ok(maxErr < 1e-6, `max relative error ${maxErr} at ${worst}`);
});

test('CRF layer rejects dynamic sequence lengths and mismatched transitions, naming the shapes', () => {
  const scope = new Scope(new ParamStore());
  assert.throws(() => conditionalRandomField(scope, input('e', 'float32', ['batch', 'seq', 3]), input('y', 'int64', ['batch', 'seq'])), /crfLogPartition.*\[batch, seq, 3\]/);
  assert.throws(() => crfLogPartition(input('e2', 'float32', [2, 4, 3]), input('t', 'float32', [4, 4])), /trans \[4, 4\].*\[2, 4, 3\]/);
});

// A word segmenter: tokens 1-4 are letters, 5-9 separators, 0 is padding. Letters are tagged B at
// the start of a word and I inside it, separators O. A letter's own embedding cannot tell B from I;
// only the transitions (O -> B, B/I -> I) can, so per-step argmax of the emissions cannot pass.
const O = 0, BEGIN = 1, INSIDE = 2, SEQ = 12;
function taggingBatch(r: Random, size: number): { ids: HostTensor; labels: HostTensor; mask: HostTensor; lengths: number[] } {
  const ids: number[] = [], labels: number[] = [], mask: number[] = [], lengths: number[] = [];
  for (let b = 0; b < size; b++) {
    const n = 6 + r.int(SEQ - 5);
    lengths.push(n);
    let prev = O;
    for (let t = 0; t < SEQ; t++) {
      if (t >= n) { ids.push(0); labels.push(0); mask.push(0); continue; }
      const letter = r.next() < 0.65;
      ids.push(letter ? 1 + r.int(4) : 5 + r.int(5));
      prev = letter ? (prev === O ? BEGIN : INSIDE) : O;
      labels.push(prev);
      mask.push(1);
    }
  }
  return { ids: hostTensor('int64', [size, SEQ], ids), labels: hostTensor('int64', [size, SEQ], labels), mask: hostTensor('int64', [size, SEQ], mask), lengths };
}

function tagger(scope: Scope): Tensor {
  const ids = input('ids', 'int64', ['batch', SEQ]);
  const h = embedding(scope.child('embedding'), ids, 10, 16).output; // (B, T, 16)
  return dense(scope.child('emissions'), h, 3); // (B, T, L)
}

test('a tiny tagger (embedding + dense + CRF) learns BIO word segmentation to >= 99% token accuracy', async () => {
  const store = new ParamStore(2);
  const trainer = await Trainer.create({
    store,
    loss: (scope) => conditionalRandomField(scope.child('crf'), tagger(scope), input('labels', 'int64', ['batch', SEQ]), input('mask', 'int64', ['batch', SEQ])).loss,
    optimizer: adam(0.05),
  });
  const exe = await compile({ emissions: tagger(new Scope(store)) }, { params: 'inputs' });
  const heldOut = taggingBatch(new Random(999), 200);
  const r = new Random(1);
  let first = NaN, last = NaN, accuracy = 0, argmaxAccuracy = 0;
  for (let step = 0; step < 400; step++) {
    const b = taggingBatch(r, 32);
    const res = await trainer.trainStep({ ids: b.ids, labels: b.labels, mask: b.mask });
    if (step === 0) first = res.loss;
    last = res.loss;
    if (step % 50 !== 49) continue;
    const feeds: Record<string, HostTensor> = { ids: heldOut.ids };
    for (const name of store.names()) if (name !== 'crf/trans') feeds[name] = store.get(name)!;
    const emissions = (await exe.run(feeds)).emissions!;
    const decoded = new ViterbiDecoder(store.get('crf/trans')!).decodeBatch(emissions, heldOut.mask);
    let correct = 0, argmaxCorrect = 0, total = 0;
    decoded.forEach((path, i) => path.forEach((y, t) => {
      const k = i * SEQ + t;
      const want = Number(heldOut.labels.data[k]);
      const row = Array.from({ length: 3 }, (_, j) => emissions.data[k * 3 + j] as number);
      correct += y === want ? 1 : 0;
      argmaxCorrect += row.indexOf(Math.max(...row)) === want ? 1 : 0;
      total++;
    }));
    accuracy = correct / total;
    argmaxAccuracy = argmaxCorrect / total;
    if (accuracy >= 0.995) break;
  }
  assert.ok(last < first / 5, `loss fell from ${first} to ${last}`);
  assert.ok(accuracy >= 0.99, `held-out Viterbi token accuracy ${accuracy}`);
  assert.ok(argmaxAccuracy < 0.95, `per-step argmax should not solve the task without transitions (got ${argmaxAccuracy})`);
});
