import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DataGenerator, streamBatches, batchIndices, shuffle, DataError } from '../../src/data/index.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const sorted = (xs: number[]) => xs.slice().sort((a, b) => a - b);

test('seeded shuffle is reproducible and a permutation', () => {
  const xs = range(100);
  assert.deepEqual(shuffle(xs, 7), shuffle(xs, 7));
  assert.notDeepEqual(shuffle(xs, 7), shuffle(xs, 8));
  assert.notDeepEqual(shuffle(xs, 7), xs);
  assert.deepEqual(sorted(shuffle(xs, 7)), xs);
  assert.deepEqual(xs, range(100), 'the input is not touched');
});

test('property: batches (bucketed or not) cover every example exactly once per epoch', () => {
  fc.assert(fc.property(
    fc.array(fc.nat(50), { maxLength: 300 }), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 4 }), fc.nat(), fc.boolean(), fc.nat(5),
    (lengths, batchSize, poolSize, seed, bucket, epoch) => {
      const batches = batchIndices(lengths.length, { batchSize, poolSize, seed, epoch, lengths: bucket ? lengths : undefined });
      assert.deepEqual(sorted(batches.flat()), range(lengths.length));
      assert.ok(batches.every((b) => b.length >= 1 && b.length <= batchSize));
      assert.ok(batches.filter((b) => b.length < batchSize).length <= 1, 'at most one short batch');
      assert.deepEqual(batches, batchIndices(lengths.length, { batchSize, poolSize, seed, epoch, lengths: bucket ? lengths : undefined }), 'reproducible');
    }), { seed: 3, numRuns: 200 });
});

test('bucketing cuts padding: batches hold similar lengths', () => {
  const lengths = range(1000).map((i) => (i * 7919) % 200);
  const padding = (batches: number[][]) => batches.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i]!)) - b.reduce((a, i) => a + lengths[i]!, 0), 0);
  const plain = padding(batchIndices(1000, { batchSize: 16, seed: 1 }));
  const bucketed = padding(batchIndices(1000, { batchSize: 16, seed: 1, lengths }));
  assert.ok(bucketed * 10 < plain, `padding ${bucketed} (bucketed) vs ${plain}`);
});

test('DataGenerator: epochs, steps, forfit reshuffles each epoch, collate gets rows', () => {
  const data = range(10).map((i) => ({ text: 'x'.repeat(i), label: i % 2 }));
  const gen = new DataGenerator(data, { batchSize: 4, seed: 5, collate: (rows) => rows.map((r) => r.text.length) });
  assert.equal(gen.steps, 3);
  const e0 = [...gen], e1 = [...gen.epoch(1)];
  assert.deepEqual(e0.map((b) => b.length), [4, 4, 2]);
  assert.deepEqual(sorted(e0.flat()), range(10));
  assert.deepEqual(sorted(e1.flat()), range(10));
  assert.notDeepEqual(e0, e1, 'another order in epoch 1');
  assert.deepEqual([...gen.epochs(2)], [...e0, ...e1]);
  const it = gen.forfit();
  const first = range(9).map(() => it.next().value!);
  assert.deepEqual(first, [...e0, ...e1, ...gen.epoch(2)]);
  const fixed = new DataGenerator(data, { batchSize: 4, shuffle: false, collate: (rows) => rows.map((r) => r.label) });
  assert.deepEqual([...fixed], [[0, 1, 0, 1], [0, 1, 0, 1], [0, 1]]);
  assert.throws(() => new DataGenerator(data, { batchSize: 0, collate: (r) => r }), (e: Error) => e instanceof DataError && /batchSize/.test(e.message));
});

test('streamBatches: every item once per epoch, bounded buffer, reproducible, forfit', async () => {
  const source = function* () {
    for (let i = 0; i < 50; i++) yield i;
  };
  const take = async <T>(it: AsyncIterable<T>, n = Infinity) => {
    const out: T[] = [];
    for await (const x of it) if (out.push(x) >= n) break;
    return out;
  };
  const opts = { batchSize: 4, poolSize: 2, seed: 9, epochs: 2, lengthOf: (i: number) => i % 7, collate: (rows: number[]) => rows };
  const batches = await take(streamBatches(source, opts));
  const per = batches.reduce((n, b) => n + b.length, 0);
  assert.equal(per, 100);
  let seen = 0, epoch: number[] = [];
  for (const b of batches) {
    epoch.push(...b);
    if ((seen += b.length) % 50 === 0) assert.deepEqual(sorted(epoch), range(50)), (epoch = []);
  }
  assert.deepEqual(await take(streamBatches(source, opts)), batches);
  const endless = await take(streamBatches(source, { ...opts, epochs: Infinity }), 60);
  assert.equal(endless.length, 60);
  await assert.rejects(take(streamBatches(() => [], { batchSize: 2, collate: (r) => r })), /read no items/);
});
