// Any Unicode input must encode without throwing: random code points from every plane, lone
// surrogates included. Offsets must stay inside the text and never run backwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { loadSentencePiece } from '../../src/tokenizers/sentencepiece.ts';
import type { Tokenizer } from '../../src/tokenizers/types.ts';
import { FIXTURES, SHARED, sharedSkip } from './helpers.ts';

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(rand: () => number): string {
  const pools = [[0, 0x7f], [0x80, 0x7ff], [0x800, 0xd7ff], [0xd800, 0xdfff], [0xe000, 0xffff], [0x10000, 0x10ffff], [0x4e00, 0x9fff], [0x20, 0x20]];
  let s = '';
  const n = Math.floor(rand() * 30);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = pools[Math.floor(rand() * pools.length)]!;
    const cp = lo! + Math.floor(rand() * (hi! - lo! + 1));
    s += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
  }
  return s;
}

function checkEncodes(tok: Tokenizer, seed: number, count: number, roundTrip = false) {
  const rand = mulberry32(seed);
  for (let i = 0; i < count; i++) {
    const text = randomText(rand);
    const enc = tok.encode(text, text.slice(0, 3));
    assert.equal(enc.ids.length, enc.tokens.length);
    let prevStart = 0;
    enc.offsets.forEach(([s, e], k) => {
      assert.ok(s >= 0 && s <= e && e <= Math.max(text.length, 3), `offset ${k} [${s}, ${e}) of ${JSON.stringify(text)}`);
      if (enc.segments[k] === 0 && e > 0) { assert.ok(s >= prevStart, 'offsets run forwards'); prevStart = s; }
    });
    for (const id of enc.ids) assert.ok(Number.isInteger(id) && id >= 0 && id < tok.vocabSize);
    tok.decode(enc.ids);
    if (roundTrip) {
      const wellFormed = text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
      assert.equal(tok.decode(tok.encode(text, undefined, { addSpecialTokens: false }).ids), wellFormed, `round trip of ${JSON.stringify(text)}`);
    }
  }
}

test('fuzz: a byte-fallback BPE SentencePiece model without normalization round-trips any text', () => {
  checkEncodes(loadSentencePiece(readFileSync(FIXTURES + 'bpe_tiny.model')), 1, 300, true);
});

test('fuzz: every shared tokenizer encodes random Unicode without throwing', { skip: sharedSkip }, async () => {
  for (const [dir, roundTrip] of [['bert-chinese', false], ['gpt2', true], ['cpm', false], ['mt5-chinese', false], ['albert', false], ['sentencepiece-test', false]] as const) {
    checkEncodes(await loadTokenizer(SHARED + dir), 7, 150, roundTrip);
  }
});

test('long inputs (300,000 characters in one word, one script, or whitespace) encode', { skip: sharedSkip }, async () => {
  const texts = ['a'.repeat(300_000), '中'.repeat(300_000), ' '.repeat(300_000), '😀'.repeat(100_000)];
  for (const dir of ['bert-chinese', 'gpt2', 'mt5-chinese']) {
    const tok = await loadTokenizer(SHARED + dir);
    for (const text of texts) {
      const enc = tok.encode(text);
      assert.ok(enc.ids.length >= 1 && enc.offsets.every(([s, e]) => e <= text.length), `${dir}: ${text.slice(0, 2)}... x${text.length}`);
    }
  }
});
