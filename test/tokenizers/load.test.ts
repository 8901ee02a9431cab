import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { TokenizerError } from '../../src/tokenizers/types.ts';
import { FIXTURES, SHARED, sharedSkip } from './helpers.ts';

test('loadTokenizer detects the kind of every shared tokenizer directory', { skip: sharedSkip }, async () => {
  const kinds: Record<string, string> = {
    'bert-chinese': 'wordpiece', gpt2: 'byte-bpe', cpm: 'cpm', 'mt5-chinese': 'sentencepiece-unigram',
    albert: 'sentencepiece-unigram', 'sentencepiece-test': 'sentencepiece-unigram',
  };
  for (const [dir, kind] of Object.entries(kinds)) assert.equal((await loadTokenizer(SHARED + dir)).kind, kind, dir);
  assert.equal((await loadTokenizer(SHARED + 'gpt2/vocab.bpe')).kind, 'byte-bpe');
  assert.equal((await loadTokenizer(SHARED + 'cpm/chinese_vocab.model', { kind: 'sentencepiece' })).kind, 'sentencepiece-unigram');
  const albert = await loadTokenizer(SHARED + 'albert');
  assert.equal(albert.framing, 'bert');
  assert.deepEqual(albert.encode('hi').tokens, ['[CLS]', '▁hi', '[SEP]']);
  const mt5 = await loadTokenizer(SHARED + 'mt5-chinese');
  assert.equal(mt5.framing, 'eos');
  assert.equal(mt5.keepTokens?.length, 32598, 'keep_tokens.json is attached');
  assert.equal(mt5.keepTokens?.[mt5.vocabSize - 1], 250099);
});

test('loadTokenizer gives clear errors for missing, unknown, corrupt and unsupported files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-tok-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: Error) => e instanceof TokenizerError && re.test(e.message));
  await rejects(loadTokenizer(join(dir, 'nope')), /does not exist/);
  await rejects(loadTokenizer(dir), /no tokenizer found in .*looked for vocab.txt/);
  writeFileSync(join(dir, 'weights.bin'), 'x');
  await rejects(loadTokenizer(join(dir, 'weights.bin')), /cannot tell what tokenizer/);
  writeFileSync(join(dir, 'garbage.model'), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
  await rejects(loadTokenizer(join(dir, 'garbage.model')), /corrupt .*garbage.model: length \d+ runs past the end/);
  writeFileSync(join(dir, 'empty.model'), '');
  await rejects(loadTokenizer(join(dir, 'empty.model')), /no pieces/);
  const good = readFileSync(FIXTURES + 'bpe_tiny.model');
  writeFileSync(join(dir, 'truncated.model'), good.subarray(0, good.length - 7));
  await rejects(loadTokenizer(join(dir, 'truncated.model')), /corrupt/);
  await rejects(loadTokenizer(FIXTURES + 'char_tiny.model'), /unsupported .*char_tiny.model: model type char; only unigram and bpe/);
  writeFileSync(join(dir, 'vocab.txt'), 'hello\nworld\n');
  await rejects(loadTokenizer(join(dir, 'vocab.txt')), /no \[UNK\] token/);
  const bpeDir = join(dir, 'bpe');
  mkdirSync(bpeDir);
  writeFileSync(join(bpeDir, 'vocab.json'), '{"a": 0,');
  await rejects(loadTokenizer(join(bpeDir, 'vocab.json')), /merges.txt is missing/);
  writeFileSync(join(bpeDir, 'merges.txt'), '#version: 0.2\na b\n');
  await rejects(loadTokenizer(bpeDir), /not JSON/);
  writeFileSync(join(bpeDir, 'vocab.json'), '{"a": 0}');
  await rejects(loadTokenizer(bpeDir), /lacks the byte token/);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'WordLevel', vocab: {} } }));
  await rejects(loadTokenizer(join(dir, 'tokenizer.json')), /unsupported .*model type "WordLevel"/);
});

test('a bad keep_tokens.json beside a vocabulary is reported', { skip: sharedSkip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-keep-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(SHARED + 'sentencepiece-test/test_sentencepiece.model', join(dir, 'spiece.model'));
  writeFileSync(join(dir, 'keep_tokens.json'), '[0, 1, 1]');
  await assert.rejects(loadTokenizer(dir), /id 1 appears twice/);
  writeFileSync(join(dir, 'keep_tokens.json'), '[0, 1, 2]');
  await assert.rejects(loadTokenizer(dir), /lists 3 ids but the vocabulary has 1000 tokens/);
  assert.equal((await loadTokenizer(dir, { keepTokens: false })).keepTokens, undefined);
});
