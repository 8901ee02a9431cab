import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ByteLevelBpeTokenizer, bytesToUnicode } from '../../src/tokenizers/bytebpe.ts';
import { SHARED, fixture, sharedSkip } from './helpers.ts';

const load = () => ByteLevelBpeTokenizer.fromFiles(readFileSync(SHARED + 'gpt2/encoder.json', 'utf8'), readFileSync(SHARED + 'gpt2/vocab.bpe', 'utf8'));

test('GPT-2 BPE: "This is some text" is [1212, 318, 617, 2420]', { skip: sharedSkip }, () => {
  const tok = load();
  const enc = tok.encode('This is some text');
  assert.deepEqual(enc.ids, [1212, 318, 617, 2420]);
  assert.deepEqual(enc.tokens, ['This', 'Ġis', 'Ġsome', 'Ġtext']);
  assert.deepEqual(enc.offsets, [[0, 4], [4, 7], [7, 12], [12, 17]]);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.specialTokens.eos?.id, 50256);
});

test('GPT-2 BPE matches the reference encoder.py algorithm and round-trips every text', { skip: sharedSkip }, () => {
  const tok = load();
  for (const c of fixture<{ text: string; ids: number[] }[]>('gpt2.json')) {
    const enc = tok.encode(c.text);
    assert.deepEqual(enc.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
    assert.equal(tok.decode(enc.ids), c.text, 'byte-level BPE is lossless');
    // Offsets tile the text: each piece starts where the previous ended or inside the same character.
    let end = 0;
    for (const [s, e] of enc.offsets) {
      assert.ok(s <= end && e > s && e <= c.text.length, `offsets [${s}, ${e}) after ${end} in ${JSON.stringify(c.text)}`);
      end = e;
    }
    assert.equal(end, c.text.length);
  }
});

test('GPT-2 BPE: a piece inside a multi-byte character spans that character', { skip: sharedSkip }, () => {
  const tok = load();
  const text = '𪚥';
  const enc = tok.encode(text);
  assert.ok(enc.ids.length > 1, 'a rare character is split into byte pieces');
  for (const o of enc.offsets) assert.deepEqual(o, [0, 2]);
  assert.equal(tok.decode(enc.ids), text);
  assert.throws(() => tok.decode([50257]), /id 50257 at position 0 is out of range \[0, 50257\)/);
});

test('byte-level BPE without shared files: merges by rank, RoBERTa framing when <s>/</s> exist', () => {
  const bytes = bytesToUnicode();
  const encoder: Record<string, number> = Object.fromEntries(bytes.map((c, i) => [c, i]));
  Object.assign(encoder, { hi: 256, 'Ġthere': 257, 'Ġt': 258, he: 259, '<s>': 260, '</s>': 261 });
  // 'Ġt'+'he' → 'Ġthe' is not in the vocabulary: refused when loading, as Hugging Face does.
  assert.throws(() => new ByteLevelBpeTokenizer(encoder, [['h', 'i'], ['Ġ', 't'], ['h', 'e'], ['Ġt', 'he']]), /merge 4 \("Ġt" "he"\) uses or makes a token the vocabulary lacks \("Ġthe"\)/);
  const tok = new ByteLevelBpeTokenizer(encoder, [['h', 'i'], ['Ġ', 't'], ['h', 'e']]);
  assert.deepEqual(tok.encode('hi').tokens, ['<s>', 'hi', '</s>']);
  assert.deepEqual(tok.encode('hi', 'hi').segments, [0, 0, 0, 1, 1]);
  assert.equal(tok.framing, 'bert');
  assert.deepEqual(tok.encode('hi th', undefined, { addSpecialTokens: false }).tokens, ['hi', 'Ġt', 'h']);
  assert.equal(tok.decode(tok.encode('hi th').ids), 'hi th');
});
