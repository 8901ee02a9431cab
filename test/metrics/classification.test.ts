import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, rocAuc, tokenPRF, MetricError } from '../../src/metrics/index.ts';
import { fixture, close, closeDeep } from './helpers.ts';

test('accuracy over flat labels and over sequences', () => {
  assert.equal(accuracy([1, 0, 1, 1], [1, 1, 1, 0]), 0.5);
  assert.equal(accuracy([['O', 'B'], ['I']], [['O', 'B'], ['O']]), 2 / 3);
  assert.throws(() => accuracy([1, 2], [1]), (e: Error) => e instanceof MetricError && /2 labels but 1 predictions/.test(e.message));
  assert.throws(() => accuracy([['O', 'B']], [['O']]), /row 0: 2 labels but 1 predictions/);
  assert.throws(() => accuracy([], []), /no labels/);
});

test('tokenPRF by hand: per label, micro, macro, ignored label', () => {
  // PER: tp 1, predicted 2, actual 1; LOC: tp 0, predicted 0, actual 1.
  const r = tokenPRF(['PER', 'LOC', 'O', 'O'], ['PER', 'O', 'PER', 'O'], { ignore: ['O'] });
  assert.deepEqual(Object.keys(r.perLabel), ['LOC', 'PER']);
  assert.deepEqual(r.perLabel.PER, { precision: 0.5, recall: 1, f1: 2 / 3, support: 1 });
  assert.deepEqual(r.perLabel.LOC, { precision: 0, recall: 0, f1: 0, support: 1 });
  assert.deepEqual(r.micro, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
  close(r.macro.f1, 1 / 3, 'macro f1');
  assert.equal(tokenPRF([0, 1], [1, 0]).micro.f1, 0, 'numbers as labels');
});

test('accuracy and tokenPRF match scikit-learn (fixtures)', () => {
  for (const [i, c] of fixture.tokens.entries()) {
    close(accuracy(c.labels, c.predictions), c.accuracy, `case ${i} accuracy`);
    const r = tokenPRF(c.labels, c.predictions, { ignore: ['O'] });
    closeDeep(r.perLabel, c.perLabel, `case ${i} perLabel`);
    for (const avg of ['micro', 'macro'] as const) {
      for (const m of ['precision', 'recall', 'f1'] as const) close(r[avg][m], c[avg][m], `case ${i} ${avg} ${m}`);
    }
  }
});

test('rocAuc is the share of positive-negative pairs ranked right, ties half, whatever the class balance', () => {
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75); // scikit-learn's documented example
  assert.equal(rocAuc([3, 3, 3], [1, 0, 0]), 0.5, 'a constant scorer');
  assert.equal(rocAuc([1, 2, 3, 4], [0n, 0n, 1n, 1n]), 1, 'bigint labels, perfect order');
  assert.equal(rocAuc([1, 2, 3, 4], [1, 1, 0, 0]), 0);
  // Against the definition, pair by pair, on seeded random scores with many ties.
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const scores = Array.from({ length: 300 }, () => Math.round(next() * 20) / 20), labels = scores.map((s) => (next() < 0.2 + 0.5 * s ? 1 : 0));
  let wins = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) for (let j = 0; j < scores.length; j++) {
    if (labels[i] !== 1 || labels[j] !== 0) continue;
    pairs++;
    wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
  }
  close(rocAuc(scores, labels), wins / pairs, 'pairwise definition');
  assert.throws(() => rocAuc([1, 2], [1, 1]), /needs both classes \(2 positive, 0 negative\)/);
  assert.throws(() => rocAuc([1, 2], [1, 2]), /label 1 is 2, not 0 or 1/);
  assert.throws(() => rocAuc([1, NaN], [1, 0]), /score 1 is NaN/);
  assert.throws(() => rocAuc([1], [1, 0]), /1 scores but 2 labels/);
});
