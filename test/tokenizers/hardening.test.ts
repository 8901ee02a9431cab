// Regression tests for the fault-injection findings (issue 23): each input here once crashed,
// hung or misbehaved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { FileError } from '../../src/util/files.ts';
import { ByteLevelBpeTokenizer, bytesToUnicode } from '../../src/tokenizers/bytebpe.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { serializeSentencePieceModel } from '../../src/tokenizers/save.ts';
import { loadSentencePiece, parseSentencePieceModel, PieceType, SentencePieceTokenizer } from '../../src/tokenizers/sentencepiece.ts';
import { fromTokenizerJson } from '../../src/tokenizers/tokenizerJson.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { TokenizerError, type Tokenizer } from '../../src/tokenizers/types.ts';
import { FIXTURES } from './helpers.ts';
import { timeBound } from '../timeBound.ts';

const ODD = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
const typed = (re: RegExp) => (e: unknown) => (e instanceof TokenizerError || e instanceof FileError) && re.test((e as Error).message);
const byteVocab = () => new Map(bytesToUnicode().map((c, i) => [c, i] as [string, number]));

function tmp(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-hard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a 151,643-token vocab.json loads (no spread of the ids into Math.max)', async (t) => {
  const dir = tmp(t);
  const entries = bytesToUnicode().map((c, i) => `${JSON.stringify(c)}: ${i}`);
  for (let i = 256; i < 151_643; i++) entries.push(`"tok${i}": ${i}`);
  writeFileSync(join(dir, 'vocab.json'), `{${entries.join(',')}}`);
  writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\n');
  const tok = await loadTokenizer(dir);
  assert.equal(tok.vocabSize, 151_643);
  assert.equal(tok.decode(tok.encode('hello').ids), 'hello');
  // An id far past the number of tokens is refused at once, not allocated.
  writeFileSync(join(dir, 'vocab.json'), `{${entries.slice(0, 256).join(',')}, "zzz": 4000000000}`);
  await assert.rejects(loadTokenizer(dir), typed(/has 257 tokens but an id 4000000000/));
});

test('GPT-2 pre-tokenizer and BPE on 5 million combining marks: no stack overflow, near-linear time', () => {
  // Merges that double runs of U+0301 (bytes CC 81) up to 1024 marks per token.
  const b = bytesToUnicode();
  const vocab = byteVocab();
  const merges: [string, string][] = [];
  let piece = b[0xcc]! + b[0x81]!;
  merges.push([b[0xcc]!, b[0x81]!]);
  vocab.set(piece, vocab.size);
  for (let k = 0; k < 10; k++) { merges.push([piece, piece]); piece += piece; vocab.set(piece, vocab.size); }
  const tok = new ByteLevelBpeTokenizer(vocab, merges);
  const time = (n: number) => { const t0 = performance.now(); const enc = tok.encode('\u0301'.repeat(n)); assert.equal(enc.ids.length, Math.floor(n / 1024) + popcount(n % 1024)); return performance.now() - t0; };
  const small = time(500_000), big = time(5_000_000);
  assert.ok(big < 20 * small + 2000, `5M marks took ${big.toFixed(0)} ms, 500k took ${small.toFixed(0)} ms`);
});
const popcount = (x: number) => { let c = 0; for (; x; x &= x - 1) c++; return c; };

test('"__proto__", "constructor", "toString"... are ordinary tokens in every vocabulary format', async (t) => {
  const dir = tmp(t);
  const checkOwnIds = (tok: Tokenizer, what: string) => {
    for (const w of ODD) {
      const id = tok.tokenToId(w);
      assert.ok(id !== undefined && tok.idToToken(id) === w, `${what}: ${w} has its own id`);
    }
    assert.notEqual(tok.tokenToId('__proto__'), tok.tokenToId('constructor'));
  };
  // vocab.txt
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', ...ODD, '_', '__', 'proto'].join('\n'));
  const wp = await loadTokenizer(join(dir, 'vocab.txt'), { lowercase: false });
  checkOwnIds(wp, 'vocab.txt');
  assert.deepEqual(wp.tokenize('constructor toString'), ['constructor', 'toString']);
  assert.equal(wp.decode([wp.tokenToId('constructor')!]), 'constructor');
  // vocab.json + merges.txt, and the same in tokenizer.json
  const vocab = byteVocab();
  const merges: [string, string][] = [];
  for (const w of ODD) {
    let cur = w[0]!;
    for (const ch of w.slice(1)) { merges.push([cur, ch]); cur += ch; if (!vocab.has(cur)) vocab.set(cur, vocab.size); }
  }
  const bpeDir = join(dir, 'bpe');
  mkdirSync(bpeDir);
  writeFileSync(join(bpeDir, 'vocab.json'), '{' + [...vocab].map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(',') + '}');
  writeFileSync(join(bpeDir, 'merges.txt'), merges.map((m) => m.join(' ')).join('\n'));
  const bpe = await loadTokenizer(bpeDir);
  checkOwnIds(bpe, 'vocab.json');
  assert.deepEqual(bpe.tokenize('constructor'), ['constructor']);
  const json = fromTokenizerJson(`{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "merges": ${JSON.stringify(merges)}, "vocab": ${readFileSync(join(bpeDir, 'vocab.json'), 'utf8')}},
    "added_tokens": [{"id": 0, "content": "__proto__", "special": true}, {"id": 1, "content": "constructor", "special": false}]}`);
  checkOwnIds(json, 'tokenizer.json BPE');
  // Object.fromEntries makes "__proto__" an own key, so it is in the JSON text.
  const wpJson = fromTokenizerJson(JSON.stringify({ normalizer: { type: 'BertNormalizer', lowercase: false }, pre_tokenizer: { type: 'BertPreTokenizer' }, model: { type: 'WordPiece', vocab: Object.fromEntries(['[UNK]', ...ODD].map((w, i) => [w, i])) } }));
  checkOwnIds(wpJson, 'tokenizer.json WordPiece');
  // A SentencePiece model with those pieces: none of them becomes a special token.
  const sp = parseSentencePieceModel(readFileSync(FIXTURES + 'bpe_tiny.model'));
  sp.pieces.push(...ODD.map((piece) => ({ piece, score: 0, type: PieceType.UserDefined })));
  const spTok = loadSentencePiece(serializeSentencePieceModel(sp));
  checkOwnIds(spTok, '.model');
  assert.deepEqual(Object.keys(spTok.specialTokens).sort(), Object.keys(loadSentencePiece(readFileSync(FIXTURES + 'bpe_tiny.model')).specialTokens).sort());
  assert.equal(spTok.decode(spTok.encode('constructor').ids), 'constructor', 'not hidden as a control token');
});

test('a FIFO or a device as a vocabulary is refused at once, never read', { skip: process.platform === 'win32' && 'no FIFOs' }, async (t) => {
  const dir = tmp(t);
  execFileSync('mkfifo', [join(dir, 'vocab.txt')]);
  await assert.rejects(loadTokenizer(dir), typed(/vocab\.txt: a FIFO, not a regular file/));
  await assert.rejects(loadTokenizer(join(dir, 'vocab.txt')), typed(/a FIFO, not a regular file/));
  await assert.rejects(loadTokenizer('/dev/zero', { kind: 'wordpiece' }), typed(/\/dev\/zero: a device, not a regular file/));
  execFileSync('mkfifo', [join(dir, 'tokenizer_config.json')]);
  await assert.rejects(loadTokenizer(dir), typed(/tokenizer_config\.json: a FIFO/));
});

test('decode: negative, too large, fractional, NaN and non-number ids are TokenizerErrors naming the id', async () => {
  const toks: Tokenizer[] = [
    new WordPieceTokenizer(['[UNK]', 'a']),
    new ByteLevelBpeTokenizer(byteVocab(), []),
    loadSentencePiece(readFileSync(FIXTURES + 'bpe_tiny.model')),
  ];
  for (const tok of toks) {
    for (const bad of [-1, tok.vocabSize, 1.5, NaN, Infinity, '3', null]) {
      assert.throws(() => tok.decode([0, bad as number]), typed(new RegExp(`id ${bad === '3' ? '"3"' : String(bad)} at position 1 is out of range`)), `${tok.kind} ${String(bad)}`);
      if (typeof bad === 'number') assert.throws(() => tok.idToToken(bad), TokenizerError);
    }
    assert.throws(() => tok.decode('12' as unknown as number[]), TokenizerError);
    assert.throws(() => tok.encode('a', undefined, null as never), TokenizerError);
  }
});

test('encodeBatch over 200,000 texts (the longest row was found by spreading every length into Math.max)', () => {
  const tok = new WordPieceTokenizer(['[UNK]', '[CLS]', '[SEP]', '[PAD]', 'a']);
  const batch = tok.encodeBatch(new Array(200_000).fill('a'));
  assert.equal(batch.ids.length, 200_000);
  assert.deepEqual(batch.ids[0], [1, 4, 2]);
});

test('SentencePiece .model: oversized lengths, wide varints and wrong wire types are corrupt files', () => {
  const bad = (bytes: number[], re: RegExp) => assert.throws(() => parseSentencePieceModel(Uint8Array.from(bytes), 'x.model'), typed(re));
  bad([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], /length \d+ runs past the end/);
  bad([0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 1], /runs past the end/); // 2^32: low 32 bits are 0
  bad([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /varint longer than 10 bytes/);
  bad([0x0a, 0x03, 0x10, 0x01, 0x00], /piece 0 field 2 has wire type 0/);
  bad([0x0a, 0x05, 0x0a, 0x01, 0x62, 0x18, 0x02, 0x0a, 0x05, 0x0a, 0x01, 0x61, 0x18, 0x07], /unknown type 7/);
});

test('a precompiled charsmap whose double array cycles cannot make normalization quadratic', () => {
  // From the root, 'a' (unit 0x61: a value, offset 0x100) reaches node 0x161, whose value is
  // string 0 ("b"); from there 'a' (unit 0x100, offset 0x61, no value) comes back to 0x161 for ever.
  // Each position used to walk to the end of a run of 'a's only to match one character.
  const units = new Uint32Array(0x162);
  units[0x61] = (0x100 << 10) | 0x100 | 0x61;
  units[0x100] = (0x61 << 10) | 0x61;
  const blob = new Uint8Array(4 + units.byteLength + 2);
  new DataView(blob.buffer).setUint32(0, units.byteLength, true);
  blob.set(new Uint8Array(units.buffer), 4);
  blob.set([0x62, 0], 4 + units.byteLength); // replacement "b"
  const model = parseSentencePieceModel(readFileSync(FIXTURES + 'bpe_tiny.model'));
  const tok = new SentencePieceTokenizer({ ...model, normalizer: { ...model.normalizer, charsmap: blob } });
  assert.equal(tok.normalize('aaa'), '▁bbb');
  const t0 = performance.now();
  tok.encode('a'.repeat(300_000));
  assert.ok(performance.now() - t0 < timeBound(3000), `${(performance.now() - t0).toFixed(0)} ms`);
});

test('WordPiece: a huge max_input_chars_per_word from tokenizer.json and a 300,000-character word', () => {
  const tok = fromTokenizerJson(JSON.stringify({ normalizer: { type: 'BertNormalizer' }, pre_tokenizer: { type: 'BertPreTokenizer' }, model: { type: 'WordPiece', max_input_chars_per_word: 1e9, vocab: { '[UNK]': 0, a: 1, '##a': 2, '##aa': 3 } } }));
  const t0 = performance.now();
  assert.equal(tok.encode('a'.repeat(300_000)).ids.length, 150_001); // a ##aa ... ##a
  assert.ok(performance.now() - t0 < timeBound(5000));
  assert.throws(() => fromTokenizerJson('{"normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "WordPiece", "max_input_chars_per_word": -1, "vocab": {"[UNK]": 0}}}'), typed(/maxCharsPerWord must be a positive integer/));
});

test('tokenizer.json of the wrong shape is a corrupt file, not a TypeError', () => {
  for (const text of [
    '{"model": {"type": "Unigram", "vocab": [1, 2]}}', '{"model": {"type": "Unigram", "vocab": [["a", 0]], "unk_id": 5}}',
    '{"model": {"type": "BPE", "vocab": {}, "merges": 3}, "pre_tokenizer": {"type": "ByteLevel"}}', '{"added_tokens": 5, "model": {"type": "BPE"}}',
    '{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1e9}}, "normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"}}',
    '{"model": {"type": "Unigram", "vocab": [["<unk>", 0]], "unk_id": 0}, "normalizer": {"type": "Precompiled", "precompiled_charsmap": "!!"}, "pre_tokenizer": {"type": "Metaspace"}}',
    '{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "normalizer": {"type": "BertNormalizer"}, "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": {"type": "BertProcessing"}}',
    // No unk_id: unknown text would get id -1 (found by the fuzz suite).
    '{"model": {"type": "Unigram", "vocab": [["a", 0]], "unk_id": null}, "pre_tokenizer": {"type": "Metaspace"}}',
  ]) assert.throws(() => fromTokenizerJson(text, 'bad.json'), typed(/bad\.json/), text);
});

async function cli(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const e = process.stderr.write.bind(process.stderr), o = process.stdout.write.bind(process.stdout);
  (process.stderr as any).write = (s: string | Uint8Array, ...rest: any[]) => (typeof s === 'string' ? ((err += s), true) : e(s, ...rest));
  (process.stdout as any).write = (s: string | Uint8Array, ...rest: any[]) => (typeof s === 'string' ? true : o(s, ...rest));
  try {
    return { code: await main(args), err };
  } finally {
    (process.stderr as any).write = e;
    (process.stdout as any).write = o;
  }
}

test('bert4ts tokenize: 1 for bad files (FIFO, device, corrupt), 2 for bad usage', async (t) => {
  const dir = tmp(t);
  execFileSync('mkfifo', [join(dir, 'vocab.txt')]);
  assert.equal((await cli(['tokenize', '-t', dir, 'x'])).code, 1);
  const dev = await cli(['tokenize', '-t', '/dev/zero', '--kind', 'wordpiece', 'x']);
  assert.equal(dev.code, 1);
  assert.match(dev.err, /\/dev\/zero: a device/);
  writeFileSync(join(dir, 'x.model'), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]));
  assert.equal((await cli(['tokenize', '-t', join(dir, 'x.model'), 'x'])).code, 1);
  assert.equal((await cli(['tokenize', '-t', FIXTURES + 'bpe_tiny.model', '--decode', '-1'])).code, 2);
  assert.equal((await cli(['tokenize', '-t', FIXTURES + 'bpe_tiny.model', '--bogus'])).code, 2);
  assert.equal((await cli(['tokenize', '-t', FIXTURES + 'bpe_tiny.model', '--decode', '999999'])).code, 1);
});
