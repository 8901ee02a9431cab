import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/util/random.ts';
import { sampleToken, sampleTokenBySorting as referenceSample, samplingPaths, type SamplingOptions } from '../../src/generation/sampling.ts';

/** Logits of several shapes: flat (a random model's), peaked, with ties, with masked (-Infinity) ids. */
function randomLogits(r: Random, V: number, kind: number): Float32Array {
  const x = new Float32Array(V);
  for (let v = 0; v < V; v++) {
    switch (kind) {
      case 0: x[v] = 0.3 * r.normal(); break; // flat
      case 1: x[v] = 4 * r.normal(); break; // peaked
      case 2: x[v] = Math.round(3 * r.normal()); break; // many ties
      case 3: x[v] = r.next() < 0.5 ? -Infinity : r.normal(); break; // half masked
      case 4: x[v] = r.next() < 0.01 ? 8 + r.normal() : r.normal() - 20; break; // a few dominate
      default: x[v] = 0; // all equal
    }
  }
  if (kind === 3) x[r.int(V)] = r.normal(); // at least one token left
  return x;
}

test('the sampler picks the same tokens as the full-sort definition, and draws the same random numbers', () => {
  const r = new Random(7);
  const before = { ...samplingPaths };
  let cases = 0;
  for (const V of [1, 2, 7, 300, 3000, 21128]) {
    const reps = V > 5000 ? 60 : 400;
    for (let c = 0; c < reps; c++) {
      const kind = r.int(6);
      const rows = 2, offset = V * r.int(rows);
      const logits = new Float32Array(V * rows);
      logits.set(randomLogits(r, V, kind), offset);
      const o: SamplingOptions = {
        temperature: [undefined, 1, 0.7, 1.5, 0.05, 20, 1e-300, 1e-320][r.int(8)],
        topK: [undefined, 0, 1, 5, 50, 400, V - 1, V, V + 3][r.int(9)],
        topP: [undefined, 1, 0.01, 0.5, 0.9, 0.95, 0.999][r.int(7)],
        repetitionPenalty: [undefined, 1, 1.3, 0.8][r.int(4)],
      };
      const history = Array.from({ length: r.int(40) }, () => r.int(V));
      const cut = r.int(history.length + 1);
      const seed = r.int(1 << 30);
      const a = new Random(seed), b = new Random(seed);
      const want = referenceSample(logits, offset, V, o, a, history);
      const got = sampleToken(logits, offset, V, o, b, history.slice(0, cut), history.slice(cut));
      assert.equal(got, want, `V ${V}, logits kind ${kind}, options ${JSON.stringify(o)}, seed ${seed}`);
      assert.equal(b.next(), a.next(), 'one random number per token');
      cases++;
    }
  }
  // The cases reach every path: small sorted sets, the bucketed walk, and its fallback (all-equal rows put
  // the top-p cut exactly on a tie).
  const used = Object.fromEntries(Object.entries(samplingPaths).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
  assert.equal(used.sorted! + used.bucketed! + used.fallback!, cases);
  assert.ok(used.bucketed! > cases / 5, `bucketed ${used.bucketed} of ${cases}`);
  assert.ok(used.fallback! > 0 && used.fallback! < cases / 20, `fallback ${used.fallback} of ${cases}`);
});

test('the sampler is the reference over many draws from one row with one generator', () => {
  // One generator across many tokens, as sample() uses it; a flat 21k row with top-p (the benchmark's case).
  const r = new Random(3), V = 21128;
  const logits = randomLogits(r, V, 0);
  const a = new Random(11), b = new Random(11);
  for (const o of [{ topP: 0.9 }, { topK: 40 }, { topK: 2000, topP: 0.8, temperature: 0.5 }, {}] as SamplingOptions[]) {
    for (let i = 0; i < 20; i++) assert.equal(sampleToken(logits, 0, V, o, b, []), referenceSample(logits, 0, V, o, a, []), JSON.stringify(o));
  }
});

test('the repetition penalty counts each id once, whether it is in the prompt, the output or both', () => {
  // topK 1 takes the best: id 0 penalised once is 2 / 4 = 0.5 > 0.4 (id 1); twice it would be 0.125.
  const logits = new Float32Array([2, 0.4, -9]);
  const o = { repetitionPenalty: 4, topK: 1 };
  for (const [history, generated] of [[[0], [0]], [[0, 0, 0], []], [[], [0, 0]], [[2, 0], [0, 2]]]) {
    assert.equal(sampleToken(logits, 0, 3, o, new Random(0), history!, generated), 0, JSON.stringify([history, generated]));
  }
  assert.equal(sampleToken(logits, 0, 3, { repetitionPenalty: 40, topK: 1 }, new Random(0), [0], [0]), 1); // 0.05 < 0.4
  assert.equal(sampleToken(new Float32Array([-1, -9]), 0, 2, { repetitionPenalty: 0.01, topK: 1 }, new Random(0), [1]), 1); // -0.09 > -1
});

test('bad rows and options are refused by name', () => {
  const rng = new Random(0);
  assert.throws(() => sampleToken(new Float32Array([0, NaN, 1]), 0, 3, {}, rng, []), /logit of token 1 is NaN; cannot sample/);
  assert.throws(() => sampleToken(new Float32Array([0, Infinity]), 0, 2, {}, rng, []), /logit of token 1 is Infinity/);
  assert.throws(() => sampleToken(new Float32Array([-Infinity, -Infinity]), 0, 2, {}, rng, []), /every one of the 2 logits is -Infinity/);
  assert.throws(() => sampleToken(new Float32Array(4), 2, 4, {}, rng, []), /logits row \[2, 6\) is outside the 4 logits/);
  assert.throws(() => sampleToken(new Float32Array(4), 0, 4, { temperature: 0 }, rng, []), /temperature must be > 0, got 0/);
});
