import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, tokenPRF, MetricError } from '../../src/metrics/index.ts';
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
