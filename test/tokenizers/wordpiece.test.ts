import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { SHARED, fixture, sharedSkip } from './helpers.ts';

const cases = fixture<{ text: string; lower: boolean; tokens: string[]; ids: number[] }[]>('wordpiece.json');
const load = (lowercase: boolean) => WordPieceTokenizer.fromVocabText(readFileSync(SHARED + 'bert-chinese/vocab.txt', 'utf8'), { lowercase });

test('WordPiece matches the reference BERT basic + wordpiece algorithm on the Chinese BERT vocab', { skip: sharedSkip }, () => {
  const tokenizers = { true: load(true), false: load(false) };
  for (const c of cases) {
    const enc = tokenizers[String(c.lower) as 'true' | 'false'].encode(c.text, undefined, { addSpecialTokens: false });
    assert.deepEqual(enc.tokens, c.tokens, `tokens of ${JSON.stringify(c.text)} (lower=${c.lower})`);
    assert.deepEqual(enc.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
  }
});

test('WordPiece offsets point at the characters each piece came from', { skip: sharedSkip }, () => {
  const tok = load(true);
  const text = 'BERT模型在2018年由Google发布，Ünïcödé words!';
  const enc = tok.encode(text);
  assert.deepEqual(enc.offsets[0], [0, 0]); // [CLS]
  for (let i = 1; i < enc.ids.length - 1; i++) {
    const [s, e] = enc.offsets[i]!;
    const surface = text.slice(s, e).toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    const token = enc.tokens[i]!.replace(/^##/, '');
    if (token !== '[UNK]') assert.equal(surface, token, `piece ${i} ${enc.tokens[i]} at [${s}, ${e})`);
  }
  assert.equal(enc.tokens.at(-1), '[SEP]');
});

test('WordPiece framing, pair segments and longest-first truncation', { skip: sharedSkip }, () => {
  const tok = load(true);
  const enc = tok.encode('今天天气很好', '我们去公园');
  assert.deepEqual(enc.tokens, ['[CLS]', '今', '天', '天', '气', '很', '好', '[SEP]', '我', '们', '去', '公', '园', '[SEP]']);
  assert.deepEqual(enc.segments, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.equal(enc.ids[0], tok.specialTokens.cls!.id);
  const cut = tok.encode('今天天气很好', '我们去公园', { maxlen: 8 });
  // 5 content tokens left: the longer first text loses more (3 + 2).
  assert.deepEqual(cut.tokens, ['[CLS]', '今', '天', '天', '[SEP]', '我', '们', '[SEP]']);
  const only2 = tok.encode('今天天气很好', '我们去公园', { maxlen: 10, truncation: 'only_second' });
  assert.deepEqual(only2.tokens.slice(7), ['[SEP]', '我', '[SEP]']); // the first text kept whole
  assert.throws(() => tok.encode('今天', '我们', { maxlen: 2 }), /maxlen must be an integer >= 3/);
});

test('WordPiece decode round-trips Chinese text and drops special tokens', { skip: sharedSkip }, () => {
  const tok = load(true);
  for (const text of ['今天天气很好，我们去公园散步吧。', '自然语言处理（nlp）是人工智能的一个分支。', 'hello world, this is bert.']) {
    assert.equal(tok.decode(tok.encode(text).ids), text);
  }
  assert.throws(() => tok.decode([21128]), /id 21128 at position 0 is out of range \[0, 21128\)/);
  assert.throws(() => tok.decode([1.5]), /out of range/);
});

test('WordPiece without shared files: basic tokenization, greedy ##-pieces, [UNK], offsets', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'cafe', ',', '中', '国', 'run', '##ning', '!'];
  const tok = WordPieceTokenizer.fromVocabText(vocab.join('\n') + '\n');
  assert.equal(tok.lowercase, true);
  const text = 'UnAffable\u0000 Café,中國running!\u200b xyz';
  const enc = tok.encode(text, undefined, { addSpecialTokens: false });
  assert.deepEqual(enc.tokens, ['un', '##aff', '##able', 'cafe', ',', '中', '[UNK]', 'run', '##ning', '!', '[UNK]']);
  assert.deepEqual(enc.offsets.map(([s, e]) => text.slice(s, e)), ['Un', 'Aff', 'able', 'Café', ',', '中', '國', 'run', 'ning', '!', 'xyz']);
  const cased = WordPieceTokenizer.fromVocabText(vocab.join('\n'), { lowercase: false });
  assert.deepEqual(cased.tokenize('unaffable Unaffable'), ['un', '##aff', '##able', '[UNK]']);
  assert.throws(() => WordPieceTokenizer.fromVocabText(''), /vocabulary is empty/);
});

test('parseSpecialTokens: special tokens written in the text are their own ids (as Hugging Face reads them); by default they are text', async () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '今', '天', '气', '好', '[', ']', 'mask', '##s'];
  const tok = WordPieceTokenizer.fromVocabText(vocab.join('\n') + '\n');
  const text = '今天[MASK]气[MASK][SEP]好';
  const parse = { parseSpecialTokens: true };
  const enc = tok.encode(text, undefined, parse);
  assert.deepEqual(enc.tokens, ['[CLS]', '今', '天', '[MASK]', '气', '[MASK]', '[SEP]', '好', '[SEP]']);
  assert.deepEqual(enc.ids, [2, 5, 6, 4, 7, 4, 3, 8, 3]);
  assert.deepEqual(enc.offsets.slice(1, -1).map(([s, e]) => text.slice(s, e)), ['今', '天', '[MASK]', '气', '[MASK]', '[SEP]', '好']);
  assert.deepEqual(tok.encode('[MASK]s', undefined, { ...parse, addSpecialTokens: false }).tokens, ['[MASK]', '[UNK]']); // "s" alone is not a word here
  assert.deepEqual(tok.encode('今[MASK]', undefined, { addSpecialTokens: false }).tokens, ['今', '[', 'mask', ']']);
  assert.deepEqual(tok.encode('今[mask]', undefined, { ...parse, addSpecialTokens: false }).tokens, ['今', '[', 'mask', ']'], 'matching is case-sensitive, on the raw text');
  // A trimmed vocabulary keeps the behaviour (new ids).
  const { trimTokenizer } = await import('../../src/tokenizers/keepTokens.ts');
  const trimmed = trimTokenizer(tok, [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(trimmed.encode('今天[MASK]', undefined, { ...parse, addSpecialTokens: false }).ids, [5, 6, 4]);
});
