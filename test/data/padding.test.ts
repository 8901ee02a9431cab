import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sequencePadding, unpad, int64, DataError } from '../../src/data/index.ts';

test('sequencePadding as bert4keras sequence_padding', () => {
  const rows = [[1, 2, 3], [4], []];
  assert.deepEqual(sequencePadding(rows), [[1, 2, 3], [4, 0, 0], [0, 0, 0]]);
  assert.deepEqual(sequencePadding(rows, { side: 'pre' }), [[1, 2, 3], [0, 0, 4], [0, 0, 0]]);
  assert.deepEqual(sequencePadding(rows, { length: 2, value: -1 }), [[1, 2], [4, -1], [-1, -1]]);
  assert.deepEqual(sequencePadding(rows, { length: 2, side: 'pre' }), [[1, 2], [0, 4], [0, 0]], "x[:length] even with mode='pre'");
  assert.deepEqual(sequencePadding([['a'], []], { value: '' }), [['a'], ['']]);
  assert.deepEqual(sequencePadding([]), []);
  assert.throws(() => sequencePadding([[1], 2 as never]), (e: Error) => e instanceof DataError && /row 1 is not an array/.test(e.message));
});

test('property: padding then unpadding gives the rows back, both sides', () => {
  fc.assert(fc.property(fc.array(fc.array(fc.integer(), { maxLength: 20 }), { maxLength: 10 }), fc.nat(5), fc.constantFrom('post' as const, 'pre' as const), (rows, extra, side) => {
    const length = rows.reduce((m, r) => Math.max(m, r.length), 0) + extra;
    const padded = sequencePadding(rows, { length, value: 7, side });
    assert.ok(padded.every((r) => r.length === length));
    assert.deepEqual(unpad(padded, rows.map((r) => r.length), side), rows);
  }), { seed: 11, numRuns: 300 });
});

test('int64: vectors and matrices as BigInt64Array tensors; ragged rows and non-integers refused', () => {
  assert.deepEqual(int64([[1, 2], [3, 4]]), { dtype: 'int64', shape: [2, 2], data: new BigInt64Array([1n, 2n, 3n, 4n]) });
  assert.deepEqual(int64([5, -100]), { dtype: 'int64', shape: [2], data: new BigInt64Array([5n, -100n]) });
  assert.throws(() => int64([[1, 2], [3]], 'input_ids'), /input_ids: row 1 has 1 items where row 0 has 2; pad them first/);
  assert.throws(() => int64([1.5]), /item 0 is 1.5, not an integer/);
});
