import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CpmTokenizer, jiebaSegmenter } from '../../src/tokenizers/cpm.ts';
import { parseSentencePieceModel } from '../../src/tokenizers/sentencepiece.ts';
import { SHARED, fixture, sharedSkip } from './helpers.ts';

interface CpmCase { text: string; words: string[]; ids: number[]; decoded: string }

test('CPM: same ids as CPM-Generate (python jieba + SentencePiece) wherever the two jiebas agree', { skip: sharedSkip }, async () => {
  const segment = await jiebaSegmenter();
  const tok = new CpmTokenizer(parseSentencePieceModel(readFileSync(SHARED + 'cpm/chinese_vocab.model')), segment);
  const cases = fixture<CpmCase[]>('cpm.json');
  let agreed = 0;
  for (const c of cases) {
    const words = segment(c.text).map((w) => w.replaceAll(' ', '\u2582').replaceAll('\n', '\u2583'));
    // python jieba emits '' for some control characters; it changes nothing in the joined text.
    if (JSON.stringify(words) !== JSON.stringify(c.words.filter((w) => w !== ''))) continue;
    agreed++;
    const enc = tok.encode(c.text);
    assert.deepEqual(enc.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(enc.ids), c.decoded, `decode of ${JSON.stringify(c.text)}`);
  }
  assert.ok(agreed >= cases.length - 2, `jieba segmentations agree on only ${agreed} of ${cases.length} texts`);
});

test('CPM: no framing, ▂/▃ for space/newline, offsets in the original text, round trip', { skip: sharedSkip }, async () => {
  const tok = new CpmTokenizer(parseSentencePieceModel(readFileSync(SHARED + 'cpm/chinese_vocab.model')), await jiebaSegmenter());
  const text = '今天 天气\n很好';
  const enc = tok.encode(text);
  assert.equal(tok.framing, 'none');
  assert.ok(enc.tokens.includes('\u2582') && enc.tokens.includes('\u2583'), enc.tokens.join(' '));
  assert.equal(enc.ids[enc.tokens.indexOf('\u2583')], 3);
  assert.equal(text.slice(...enc.offsets[enc.tokens.indexOf('\u2583')]!), '\n');
  assert.equal(text.slice(...enc.offsets[enc.tokens.indexOf('\u2582')]!), ' ');
  assert.equal(tok.decode(enc.ids), text);
  assert.equal(tok.specialTokens.eod?.id, 7);
});
