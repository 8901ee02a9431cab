import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadSentencePiece } from '../../src/tokenizers/sentencepiece.ts';
import { FIXTURES, SHARED, fixture, haveShared } from './helpers.ts';

interface SpFixture {
  cases: { text: string; ids: number[]; pieces: string[]; offsets: [number, number][]; decoded: string }[];
  decode: { ids: number[]; text: string }[];
}
const fixtures = fixture<Record<string, SpFixture>>('sentencepiece.json');

for (const [name, fx] of Object.entries(fixtures)) {
  const path = name.includes('/') ? SHARED + name : FIXTURES + name;
  const skip = name.includes('/') && !haveShared ? `shared model ${path} not found` : false;
  test(`SentencePiece ${name}: pieces, ids, offsets and decode match the reference library`, { skip }, () => {
    const tok = loadSentencePiece(readFileSync(path), name);
    for (const c of fx.cases) {
      const enc = tok.encode(c.text, undefined, { addSpecialTokens: false });
      assert.deepEqual(enc.tokens, c.pieces, `pieces of ${JSON.stringify(c.text)}`);
      assert.deepEqual(enc.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
      assert.deepEqual(enc.offsets, c.offsets, `offsets of ${JSON.stringify(c.text)}`);
      assert.equal(tok.decode(c.ids), c.decoded, `decode of ${JSON.stringify(c.text)}`);
    }
    for (const d of fx.decode) assert.equal(tok.decode(d.ids), d.text, `decode ${JSON.stringify(d.ids)}`);
  });
}
