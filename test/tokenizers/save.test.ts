// saveTokenizer → loadTokenizer gives back the same tokenizer, for every kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { trimTokenizer, chooseKeepTokens } from '../../src/tokenizers/keepTokens.ts';
import { saveTokenizer } from '../../src/tokenizers/save.ts';
import { fromTokenizerJson } from '../../src/tokenizers/tokenizerJson.ts';
import { parseSentencePieceModel } from '../../src/tokenizers/sentencepiece.ts';
import type { Tokenizer } from '../../src/tokenizers/types.ts';
import { FIXTURES, SHARED, sharedSkip } from './helpers.ts';

const TEXTS = [
  '今天天气很好，我们去公园吧！', 'Hello World, how are you doing?', 'GPT-2 和 BERT 都是 Transformer 模型。',
  'emoji 😀👍🏽 🇨🇳 and ZWJ 👨‍👩‍👧', 'Crème Brûlée ``quoted\'\' naïve   spaces\n\nnewlines', '中文English混合123，４５６！', '',
];

async function assertRoundTrip(tok: Tokenizer, root: string, name: string) {
  const dir = join(root, name);
  saveTokenizer(tok, dir);
  const back = await loadTokenizer(dir);
  assert.equal(back.kind, tok.kind, name);
  assert.equal(back.vocabSize, tok.vocabSize, name);
  assert.equal(back.framing, tok.framing, name);
  assert.deepEqual(back.specialTokens, tok.specialTokens, name);
  assert.deepEqual(back.keepTokens, tok.keepTokens, name);
  for (const text of TEXTS) {
    assert.deepEqual(back.encode(text), tok.encode(text), `${name}: ${JSON.stringify(text)}`);
    assert.deepEqual(back.encode(text, TEXTS[0]), tok.encode(text, TEXTS[0]), `${name}: pair ${JSON.stringify(text)}`);
  }
}

test('saveTokenizer → loadTokenizer: same ids, tokens, segments and offsets for a fixture model', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bert4ts-save-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const tok = await loadTokenizer(FIXTURES + 'bpe_tiny.model');
  await assertRoundTrip(tok, root, 'bpe_tiny');
  assert.deepEqual(readFileSync(join(root, 'bpe_tiny', 'spiece.model')), readFileSync(FIXTURES + 'bpe_tiny.model'), 'original .model bytes');
  // Trimmed: the pieces are re-serialized.
  await assertRoundTrip(trimTokenizer(tok, chooseKeepTokens(tok, { corpus: TEXTS })), root, 'bpe_tiny_trimmed');
  // Saving over another tokenizer's files is refused; other files are left alone.
  writeFileSync(join(root, 'bpe_tiny', 'weights.bin'), 'x');
  saveTokenizer(tok, join(root, 'bpe_tiny'));
  writeFileSync(join(root, 'bpe_tiny', 'vocab.txt'), '[UNK]\n');
  assert.throws(() => saveTokenizer(tok, join(root, 'bpe_tiny')), /already holds tokenizer files .*vocab\.txt/);
});

test('saveTokenizer → loadTokenizer for every shared kind, trimmed, tokenizer.json and HF-configured ones', { skip: sharedSkip }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bert4ts-save-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const dir of ['bert-chinese', 'gpt2', 'cpm', 'mt5-chinese', 'albert', 'sentencepiece-test']) await assertRoundTrip(await loadTokenizer(SHARED + dir), root, dir);
  await assertRoundTrip(await loadTokenizer(SHARED + 'bert-chinese', { lowercase: false, maxCharsPerWord: 7 }), root, 'bert-cased');
  await assertRoundTrip(await loadTokenizer(SHARED + 'cpm', { kind: 'sentencepiece' }), root, 'cpm-as-sp');
  const bert = await loadTokenizer(SHARED + 'bert-chinese');
  await assertRoundTrip(trimTokenizer(bert, chooseKeepTokens(bert, { corpus: TEXTS })), root, 'bert-trimmed');
  const cpm = await loadTokenizer(SHARED + 'cpm');
  await assertRoundTrip(trimTokenizer(cpm, chooseKeepTokens(cpm, { corpus: TEXTS })), root, 'cpm-trimmed');
  // ALBERT with Hugging Face preprocessing from tokenizer_config.json.
  const hf = join(root, 'albert-hf-src');
  mkdirSync(hf);
  copyFileSync(SHARED + 'albert/spiece.model', join(hf, 'spiece.model'));
  writeFileSync(join(hf, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'AlbertTokenizer' }));
  await assertRoundTrip(await loadTokenizer(hf), root, 'albert-hf');
  // tokenizer.json-backed: saved as the same tokenizer.json.
  const vocab = readFileSync(SHARED + 'bert-chinese/vocab.txt', 'utf8').split('\n').slice(0, -1);
  const wp = fromTokenizerJson(JSON.stringify({
    normalizer: { type: 'BertNormalizer', lowercase: true }, pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', cls: ['[CLS]', 101], sep: ['[SEP]', 102] },
    model: { type: 'WordPiece', unk_token: '[UNK]', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  }));
  await assertRoundTrip(wp, root, 'tokenizer-json-wordpiece');
  const sp = parseSentencePieceModel(readFileSync(SHARED + 'sentencepiece-test/test_sentencepiece.model'));
  const uni = fromTokenizerJson(JSON.stringify({
    added_tokens: [{ id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Precompiled', precompiled_charsmap: Buffer.from(sp.normalizer.charsmap!).toString('base64') },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }] },
    model: { type: 'Unigram', unk_id: 0, vocab: sp.pieces.map((p) => [p.piece, p.score]) },
  }));
  await assertRoundTrip(uni, root, 'tokenizer-json-unigram');
  await assertRoundTrip(trimTokenizer(uni, chooseKeepTokens(uni, { corpus: TEXTS })), root, 'tokenizer-json-unigram-trimmed');
});
