import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PieceType, SentencePieceTokenizer, loadSentencePiece, parseSentencePieceModel } from '../../src/tokenizers/sentencepiece.ts';
import { FIXTURES, SHARED, fixture, haveShared } from './helpers.ts';

interface SpFixture {
  unused?: number[];
  cases: { text: string; ids: number[]; pieces: string[]; offsets: [number, number][]; decoded: string }[];
  decode: { ids: number[]; text: string }[];
}
const fixtures = fixture<Record<string, SpFixture>>('sentencepiece.json');

/** The models the fixtures were made with; the hybrid one is rebuilt as the generator built it. */
function load(name: string, fx: SpFixture): SentencePieceTokenizer {
  if (name === 'bpe_tiny.model+albert-normalizer+unused') {
    const model = parseSentencePieceModel(readFileSync(FIXTURES + 'bpe_tiny.model'));
    model.normalizer = parseSentencePieceModel(readFileSync(SHARED + 'albert/spiece.model')).normalizer;
    for (const id of fx.unused!) model.pieces[id]!.type = PieceType.Unused;
    return new SentencePieceTokenizer(model);
  }
  return loadSentencePiece(readFileSync(name.includes('/') ? SHARED + name : FIXTURES + name), name);
}

for (const [name, fx] of Object.entries(fixtures)) {
  const skip = name !== 'bpe_tiny.model' && !haveShared ? `shared tokenizer files not found at ${SHARED}` : false;
  test(`SentencePiece ${name}: pieces, ids, offsets and decode match the reference library`, { skip }, () => {
    const tok = load(name, fx);
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
