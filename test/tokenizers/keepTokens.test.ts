import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chooseKeepTokens, trimTokenizer } from '../../src/tokenizers/keepTokens.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { SHARED, sharedSkip } from './helpers.ts';

const corpus = ['炮二平五，马８进７。', '車一進一 馬二進三', '红方胜 黑方负', 'Xiangqi 1-0'];

for (const dir of ['bert-chinese', 'mt5-chinese', 'cpm']) {
  test(`keepTokens: ${dir} trimmed to a corpus encodes that corpus to the same tokens, renumbered`, { skip: sharedSkip }, async () => {
    const full = await loadTokenizer(SHARED + dir, { keepTokens: false });
    const keep = chooseKeepTokens(full, { corpus });
    assert.ok(keep.length < full.vocabSize / 10, `kept ${keep.length} of ${full.vocabSize}`);
    assert.deepEqual(keep, [...keep].sort((a, b) => a - b));
    const small = trimTokenizer(full, keep);
    assert.equal(small.vocabSize, keep.length);
    assert.deepEqual(small.keepTokens, keep);
    for (const text of corpus) {
      const a = full.encode(text), b = small.encode(text);
      assert.deepEqual(b.tokens, a.tokens, text);
      assert.deepEqual(b.ids.map((id) => keep[id]), a.ids, `${text}: new ids map back to the original ones`);
      assert.deepEqual(b.offsets, a.offsets);
      assert.equal(small.decode(b.ids), full.decode(a.ids));
    }
    for (const [name, t] of Object.entries(small.specialTokens)) assert.equal(keep[t!.id], full.specialTokens[name as 'unk']!.id, `special ${name}`);
  });
}

test('keepTokens: a token list, and clear errors', { skip: sharedSkip }, async () => {
  const full = await loadTokenizer(SHARED + 'bert-chinese');
  const keep = chooseKeepTokens(full, { tokens: ['炮', '马'] });
  const small = trimTokenizer(full, keep);
  assert.deepEqual(small.encode('炮马车').tokens, ['[CLS]', '炮', '马', '[UNK]', '[SEP]']);
  assert.throws(() => chooseKeepTokens(full, { tokens: ['no-such-token'] }), /"no-such-token" is not in the vocabulary/);
  assert.throws(() => trimTokenizer(full, [0, 0]), /id 0 is listed twice/);
  assert.throws(() => trimTokenizer(full, [21128]), /out of range/);
  assert.throws(() => trimTokenizer(full, [0, 1]), /must keep \[UNK\]/);
  const gpt2 = await loadTokenizer(SHARED + 'gpt2');
  assert.throws(() => trimTokenizer(gpt2, [0]), /not supported/);
  assert.equal(readFileSync(SHARED + 'bert-chinese/vocab.txt', 'utf8').split('\n')[keep[keep.length - 1]!], '马');
});
