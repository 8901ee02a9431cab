// The shared interface: batch padding, special tokens, tokenizer.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { fromTokenizerJson } from '../../src/tokenizers/tokenizerJson.ts';
import { parseSentencePieceModel } from '../../src/tokenizers/sentencepiece.ts';
import { SHARED, fixture, sharedSkip } from './helpers.ts';

test('encodeBatch pads to the longest row or to maxlen, with masks and segments', { skip: sharedSkip }, async () => {
  const tok = await loadTokenizer(SHARED + 'bert-chinese');
  const batch = tok.encodeBatch(['你好', ['今天', '天气很好']]);
  assert.deepEqual(batch.lengths, [4, 9]);
  assert.deepEqual(batch.attentionMask[0], [1, 1, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual(batch.ids[0]!.slice(4), [0, 0, 0, 0, 0]);
  assert.deepEqual(batch.segments[1], [0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const fixed = tok.encodeBatch(['你好', '今天天气很好'], { padding: 'max_length', maxlen: 6 });
  assert.ok(fixed.ids.every((r) => r.length === 6));
  assert.equal(fixed.lengths[1], 6, 'the long row is truncated to maxlen');
  assert.throws(() => tok.encodeBatch(['x'], { padding: 'max_length' }), /needs maxlen/);
  assert.throws(() => tok.encode(42 as unknown as string), /text must be a string, got number/);
  assert.equal(tok.specialTokens.pad?.id, 0);
  assert.deepEqual(tok.tokenize('Hello ÜBER'), ['hello', 'uber'], 'the Chinese vocab is detected as uncased despite <S> and <T>');
  assert.equal(tok.tokenToId('[MASK]'), 103);
  assert.equal(tok.idToToken(103), '[MASK]');
  assert.throws(() => tok.idToToken(-1), /out of range/);
  assert.equal(tok.decode(Int32Array.from(tok.encode('你好').ids)), '你好', 'typed arrays (model outputs) decode too');
});

test('tokenizer.json: WordPiece, byte-level BPE and Unigram sections give the native tokenizers\' results', { skip: sharedSkip }, () => {
  const vocabList = readFileSync(SHARED + 'bert-chinese/vocab.txt', 'utf8').split('\n').slice(0, -1);
  const wp = fromTokenizerJson(JSON.stringify({
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }] },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocabList.map((t, i) => [t, i])) },
  }));
  for (const c of fixture<{ text: string; lower: boolean; ids: number[] }[]>('wordpiece.json').filter((c) => c.lower && c.text.length < 100)) {
    assert.deepEqual(wp.encode(c.text).ids, [101, ...c.ids, 102], c.text);
  }

  const bpe = fromTokenizerJson(JSON.stringify({
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true },
    post_processor: { type: 'ByteLevel' },
    model: { type: 'BPE', vocab: JSON.parse(readFileSync(SHARED + 'gpt2/encoder.json', 'utf8')), merges: readFileSync(SHARED + 'gpt2/vocab.bpe', 'utf8').split('\n').slice(1, -1) },
  }));
  for (const c of fixture<{ text: string; ids: number[] }[]>('gpt2.json')) assert.deepEqual(bpe.encode(c.text).ids, c.ids, c.text);

  const sp = parseSentencePieceModel(readFileSync(SHARED + 'sentencepiece-test/test_sentencepiece.model'));
  const uni = fromTokenizerJson(JSON.stringify({
    added_tokens: [{ id: 1, content: '<s>', special: true }, { id: 2, content: '</s>', special: true }],
    normalizer: { type: 'Precompiled', precompiled_charsmap: Buffer.from(sp.normalizer.charsmap!).toString('base64') },
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
    post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }] },
    model: { type: 'Unigram', unk_id: 0, vocab: sp.pieces.map((p) => [p.piece, p.score]) },
  }));
  const cases = fixture<Record<string, { cases: { text: string; ids: number[] }[] }>>('sentencepiece.json')['sentencepiece-test/test_sentencepiece.model']!.cases;
  for (const c of cases) assert.deepEqual(uni.encode(c.text).ids, [...c.ids, 2], JSON.stringify(c.text));
  assert.throws(() => fromTokenizerJson('{"model": {"type": "BPE", "vocab": {}}, "pre_tokenizer": {"type": "Whitespace"}}'), /unsupported tokenizer.json: pre_tokenizer type "Whitespace"/);
  assert.throws(() => fromTokenizerJson('[1'), /not JSON/);
});
