// Hugging Face tokenizer_config.json / special_tokens_map.json beside a vocabulary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { hfPreprocess } from '../../src/tokenizers/sentencepiece.ts';
import { TokenizerError } from '../../src/tokenizers/types.ts';
import { SHARED, fixture, sharedSkip } from './helpers.ts';

interface AlbertCases { configs: Record<string, object>; cases: { config: string; text: string; ids: number[] }[] }

test('ALBERT directory with tokenizer_config.json matches AlbertTokenizer (make_albert_hf.py references)', { skip: sharedSkip }, async (t) => {
  const ref = fixture<AlbertCases>('albert_hf.json');
  const root = mkdtempSync(join(tmpdir(), 'bert4ts-albert-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, config] of Object.entries(ref.configs)) {
    const dir = join(root, name);
    mkdirSync(dir);
    copyFileSync(SHARED + 'albert/spiece.model', join(dir, 'spiece.model'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'AlbertTokenizer', ...config }));
    const tok = await loadTokenizer(dir);
    const cases = ref.cases.filter((c) => c.config === name);
    let same = 0;
    for (const c of cases) {
      const enc = tok.encode(c.text);
      if (JSON.stringify(enc.ids) === JSON.stringify(c.ids)) same++;
      else assert.deepEqual(enc.ids, c.ids, `${name}: ${JSON.stringify(c.text)}`);
      // Offsets still point into the original text, in order.
      let prev = 0;
      for (const [s, e] of enc.offsets) {
        if (e === 0) continue; // framing
        assert.ok(s >= prev && s <= e && e <= c.text.length, `${name}: offsets of ${JSON.stringify(c.text)}`);
        prev = s;
      }
    }
    assert.equal(same, cases.length);
  }
  // Only the class's defaults: the same as the 'albert' configuration.
  const dir = join(root, 'class-only');
  mkdirSync(dir);
  copyFileSync(SHARED + 'albert/spiece.model', join(dir, 'spiece.model'));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{"tokenizer_class": "AlbertTokenizerFast", "model_max_length": 512}');
  assert.deepEqual((await loadTokenizer(dir)).encode('How are you doing?').ids, [2, 184, 50, 42, 845, 60, 3]);
  const enc = (await loadTokenizer(dir)).encode('  Crème  ');
  assert.deepEqual(enc.tokens, ['[CLS]', '▁cre', 'me', '[SEP]']);
  assert.deepEqual(enc.offsets, [[0, 0], [2, 5], [5, 7], [0, 0]], 'è (dropped accent) keeps its own span');
});

test('hfPreprocess: remove_space, quotes, accents and lower-casing keep a map to the original text', () => {
  const p = hfPreprocess('  A\u00a0 ``É\u0301\'\'ΟΣ  ', { lowercase: true, keepAccents: false, removeSpace: true });
  assert.equal(p.text, 'a "e"ος');
  assert.deepEqual(p.orig, [2, 3, 5, 7, 9, 11, 12, 13]);
  // Devanagari vowel signs are marks of combining class 0: kept (as unicodedata.combining says);
  // the nukta (class 7) is dropped.
  assert.equal(hfPreprocess('हिंदी क़', { lowercase: false, keepAccents: false, removeSpace: false }).text, 'हिंदी क');
});

test('special tokens and odd keys in tokenizer_config.json / special_tokens_map.json', { skip: sharedSkip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-hfcfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(SHARED + 'bert-chinese/vocab.txt', join(dir, 'vocab.txt'));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{"__proto__": {"do_lower_case": false}, "constructor": 1, "toString": "x", "mask_token": {"content": "[unused1]"}, "hasOwnProperty": null}');
  writeFileSync(join(dir, 'special_tokens_map.json'), '{"__proto__": "[CLS]", "pad_token": "[unused2]", "bos_token": "not in the vocabulary"}');
  const tok = await loadTokenizer(dir);
  assert.deepEqual(tok.specialTokens.mask, { token: '[unused1]', id: 1 });
  assert.deepEqual(tok.specialTokens.pad, { token: '[unused2]', id: 2 });
  assert.equal(tok.specialTokens.bos, undefined);
  assert.deepEqual(tok.tokenize('ABC'), ['abc'], '"__proto__" is just an unknown key');
  writeFileSync(join(dir, 'tokenizer_config.json'), '{"do_lower_case": "yes"}');
  await assert.rejects(loadTokenizer(dir), (e: Error) => e instanceof TokenizerError && /tokenizer_config.json: "do_lower_case" must be a boolean/.test(e.message));
  writeFileSync(join(dir, 'tokenizer_config.json'), '[');
  await assert.rejects(loadTokenizer(dir), (e: Error) => e instanceof TokenizerError && /corrupt .*tokenizer_config.json: not JSON/.test(e.message));
});
