import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toFeeds, DataGenerator, DataError } from '../../src/data/index.ts';
import { WordPieceTokenizer, loadTokenizer } from '../../src/tokenizers/index.ts';
import type { Feeds } from '../../src/runtime/session.ts';
import { SHARED, sharedSkip } from './helpers.ts';

const tiny = new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '我', '爱', '北', '京', '你', '好']);
const rows = (t: { shape: number[]; data: ArrayLike<bigint> | ArrayLike<number> }) => {
  const flat = Array.from(t.data as ArrayLike<bigint>, Number), w = t.shape[1]!;
  return Array.from({ length: t.shape[0]! }, (_, i) => flat.slice(i * w, (i + 1) * w));
};

test('toFeeds: texts and pairs -> padded int64 input_ids, token_type_ids, attention_mask', () => {
  const f = toFeeds(tiny, ['我爱北京', ['你好', '我']]);
  for (const t of [f.input_ids, f.token_type_ids, f.attention_mask]) assert.equal(t.dtype, 'int64'), assert.deepEqual(t.shape, [2, 6]);
  assert.deepEqual(rows(f.input_ids), [[2, 5, 6, 7, 8, 3], [2, 9, 10, 3, 5, 3]]);
  assert.deepEqual(rows(f.token_type_ids), [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]]);
  assert.deepEqual(rows(toFeeds(tiny, ['我', '你好']).attention_mask), [[1, 1, 1, 0], [1, 1, 1, 1]]);
  assert.deepEqual(toFeeds(tiny, ['我爱北京'], { maxlen: 4 }).input_ids.shape, [1, 4]);
  assert.deepEqual(toFeeds(tiny, ['我'], { maxlen: 5, padding: 'max_length' }).input_ids.shape, [1, 5]);
  const asFeeds: Feeds = f; // what Trainer.trainStep and Model.predict take
  assert.ok(asFeeds.input_ids);
});

test('toFeeds labels: one per text, or per token padded with -100', () => {
  assert.deepEqual(Array.from(toFeeds(tiny, ['我', '你'], { labels: [1, 0] }).labels!.data as BigInt64Array), [1n, 0n]);
  const f = toFeeds(tiny, ['我爱', '你'], { labels: [[0, 1, 2, 0], [0, 3, 0]] });
  assert.deepEqual(f.labels!.shape, [2, 4]);
  assert.deepEqual(rows(f.labels!), [[0, 1, 2, 0], [0, 3, 0, -100]]);
  assert.throws(() => toFeeds(tiny, ['我', '你'], { labels: [1] }), (e: Error) => e instanceof DataError && /1 labels for 2 texts/.test(e.message));
  assert.throws(() => toFeeds(tiny, ['我爱'], { labels: [[0, 1]] }), /text 0 has 4 tokens but 2 token labels/);
  assert.throws(() => toFeeds(tiny, []), /non-empty array/);
  assert.throws(() => toFeeds(tiny, [42 as never]), /text 0 is neither a string/);
});

test('a DataGenerator of toFeeds batches is what a training loop iterates', () => {
  const data = [['我爱北京', 1], ['你好', 0], ['我', 1]] as const;
  const gen = new DataGenerator(data, {
    batchSize: 2, seed: 1, lengthOf: ([text]) => text.length,
    collate: (batch) => toFeeds(tiny, batch.map(([text]) => text), { labels: batch.map(([, label]) => label) }),
  });
  const batches: Feeds[] = [...gen];
  assert.equal(batches.length, 2);
  assert.equal(batches.reduce((n, b) => n + b.input_ids!.shape[0]!, 0), 3);
});

test('toFeeds with the shared bert-chinese vocabulary', { skip: sharedSkip('tokenizers/bert-chinese/vocab.txt') }, async () => {
  const tok = await loadTokenizer(SHARED + 'tokenizers/bert-chinese/vocab.txt');
  const texts = ['基于深度学习的中文文本分类', ['今天天气很好', '适合出门']] as const;
  const f = toFeeds(tok, texts, { maxlen: 12 });
  const expect = tok.encodeBatch([texts[0], [...texts[1]]], { maxlen: 12 });
  assert.deepEqual(rows(f.input_ids), expect.ids);
  assert.deepEqual(rows(f.token_type_ids), expect.segments);
  assert.deepEqual(rows(f.attention_mask), expect.attentionMask);
  assert.equal(rows(f.input_ids)[0]![0], tok.specialTokens.cls!.id);
});
