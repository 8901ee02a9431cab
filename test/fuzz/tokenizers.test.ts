// Property tests for every tokenizer input path (issue 23), with fast-check.
//   Parsers (.model, vocab.txt, vocab.json + merges.txt, tokenizer.json, tokenizer_config.json):
//     any input gives a tokenizer or a TokenizerError / FileError, never another error, within a
//     time bound, allocating a bounded amount relative to the input.
//   Encoding: ids in range, offsets inside the text with non-decreasing starts, decode never throws.
//   Round trips, as each algorithm guarantees them:
//     byte-level BPE: decode(encode(t), { skipSpecialTokens: false }) === t exactly (lone
//       surrogates come back as U+FFFD, as UTF-8 makes them; with the default skipSpecialTokens a
//       special token that merges happen to produce would be dropped);
//     SentencePiece with byte fallback: decode(encode(t)) === the normalized text with ▁ as spaces
//       and the dummy prefix dropped (t itself for the identity-normalizer model);
//     WordPiece without [UNK]: each piece (## dropped) is the folded text of its offsets, so the
//       pieces spell the folded text with whitespace and control characters removed.
// Seeded and bounded (~15 s on 2 cores); BERT4TS_FUZZ_RUNS=n multiplies the runs for a long mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileError } from '../../src/util/files.ts';
import { ByteLevelBpeTokenizer, bytesToUnicode, gpt2WordEnd } from '../../src/tokenizers/bytebpe.ts';
import { parseHfConfig } from '../../src/tokenizers/hfConfig.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { serializeSentencePieceModel } from '../../src/tokenizers/save.ts';
import { parseSentencePieceModel, SentencePieceTokenizer } from '../../src/tokenizers/sentencepiece.ts';
import { fromTokenizerJson } from '../../src/tokenizers/tokenizerJson.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { TokenizerError, type Tokenizer } from '../../src/tokenizers/types.ts';
import { FIXTURES, SHARED, haveShared, sharedSkip } from '../tokenizers/helpers.ts';
import { timeBound } from '../timeBound.ts';

const SCALE = Number(process.env.BERT4TS_FUZZ_RUNS ?? 1) || 1;
const opts = (numRuns: number, seed: number) => ({ seed, numRuns: Math.max(1, Math.round(numRuns * SCALE)), endOnFailure: true });
const TIME_MS = timeBound(3000);
const ODD = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

/** Runs a parser: it must return or throw a typed error, in time, within a memory bound. */
function parses<T>(size: number, parse: () => T): T | undefined {
  const mem = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const m0 = mem(), t0 = performance.now();
  let out: T | undefined;
  try {
    out = parse();
  } catch (e) {
    if (!(e instanceof TokenizerError || e instanceof FileError)) throw e;
  }
  const ms = performance.now() - t0, grew = mem() - m0;
  assert.ok(ms < TIME_MS, `took ${ms.toFixed(0)} ms`);
  // Generous: a unigram trie's dense root is 4.4 MB; the point is "not gigabytes for kilobytes".
  assert.ok(grew < 96e6 + 300 * size, `grew ${(grew / 1e6).toFixed(1)} MB on a ${size}-byte input`);
  return out;
}

const wellFormed = (t: string) => t.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
const TRICKY = [...'ab zAZ09١٢.,!?\'"`sltrevmd中文한\n\t\r\u00a0\u3000\u2028\u0085\ufeff'].concat(['é', 'e\u0301', '\u0301', '😀', '👍🏽', '\ud800', '\udc00', '\u0000', '\u200b', 'ﬁ', 'Σ', '[UNK]', '[CLS]', '▁', '##', ...ODD]);
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(fc.constantFrom(...TRICKY), { maxLength: 30 }).map((a) => a.join('')),
);

/** Every encoding invariant that holds for any tokenizer and text. */
function checkEncoding(tok: Tokenizer, text: string) {
  const enc = tok.encode(text, undefined, { addSpecialTokens: false });
  assert.equal(enc.tokens.length, enc.ids.length);
  let prev = 0;
  for (const [k, [s, e]] of enc.offsets.entries()) {
    assert.ok(Number.isInteger(enc.ids[k]) && enc.ids[k]! >= 0 && enc.ids[k]! < tok.vocabSize, `id ${enc.ids[k]}`);
    assert.ok(s >= prev && s <= e && e <= text.length, `offset ${k} [${s}, ${e}) after ${prev} in ${JSON.stringify(text)}`);
    prev = s;
  }
  tok.decode(enc.ids);
  return enc;
}

// ------------------------------------------------------------------------------------------------
// SentencePiece .model mutations

type Edit = { flip: [number, number] } | { truncate: number } | { insert: [number, number[]] } | { cut: [number, number] } | { bigLength: [number, number] };
const BIG = [2 ** 31, 2 ** 32 + 3, 2 ** 32 - 1, 2 ** 53, 2 ** 63];
const varint = (v: number) => { const out: number[] = []; let x = BigInt.asUintN(64, BigInt(v)); do { const b = Number(x & 0x7fn); x >>= 7n; out.push(x ? b | 0x80 : b); } while (x); return out; };
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ flip: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })) }),
  fc.record({ truncate: fc.nat() }),
  fc.record({ insert: fc.tuple(fc.nat(), fc.oneof(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }), fc.constantFrom(...BIG).map(varint))) }),
  fc.record({ cut: fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })) }),
  // Replace the length after the k-th tag byte 0x0a / 0x12 / 0x1a with a huge one.
  fc.record({ bigLength: fc.tuple(fc.nat({ max: 2000 }), fc.constantFrom(...BIG)) }),
);

function mutate(src: Uint8Array, edits: Edit[]): Uint8Array {
  let b = Array.from(src);
  for (const e of edits) {
    if ('flip' in e) { if (b.length) b[e.flip[0] % b.length]! ^= e.flip[1]; }
    else if ('truncate' in e) b = b.slice(0, e.truncate % (b.length + 1));
    else if ('insert' in e) b.splice(e.insert[0] % (b.length + 1), 0, ...e.insert[1]);
    else if ('cut' in e) b.splice(e.cut[0] % (b.length + 1), e.cut[1]);
    else {
      const tags = b.flatMap((x, i) => (x === 0x0a || x === 0x12 || x === 0x1a ? [i] : []));
      if (!tags.length) continue;
      const at = tags[e.bigLength[0] % tags.length]! + 1;
      let end = at;
      while (end < b.length && b[end]! & 0x80) end++;
      b.splice(at, end + 1 - at, ...varint(e.bigLength[1]));
    }
  }
  return Uint8Array.from(b);
}

const bpeTiny = readFileSync(FIXTURES + 'bpe_tiny.model');
const unigramTiny = serializeSentencePieceModel({ ...parseSentencePieceModel(bpeTiny), modelType: 'unigram', source: undefined });

test('fuzz: mutated SentencePiece .model files load or fail with a TokenizerError', () => {
  const models = [bpeTiny, unigramTiny, ...(haveShared ? [readFileSync(SHARED + 'sentencepiece-test/test_sentencepiece.model')] : [])];
  fc.assert(fc.property(fc.nat(), fc.array(editArb, { minLength: 1, maxLength: 4 }), textArb, (which, edits, text) => {
    const bytes = mutate(models[which % models.length]!, edits);
    const tok = parses(bytes.length, () => new SentencePieceTokenizer(parseSentencePieceModel(bytes, 'fuzz.model')));
    if (tok) parses(text.length, () => checkEncoding(tok, text));
  }), opts(300, 23));
});

test('fuzz: SentencePiece with byte fallback round-trips to its normalized text', () => {
  const toks = [new SentencePieceTokenizer(parseSentencePieceModel(bpeTiny)), new SentencePieceTokenizer(parseSentencePieceModel(unigramTiny))];
  fc.assert(fc.property(textArb, (text) => {
    for (const tok of toks) {
      const enc = checkEncoding(tok, text);
      // The identity normalizer keeps every character; the dummy prefix is dropped again.
      assert.equal(tok.normalize(text), text ? '▁' + wellFormed(text).replaceAll(' ', '▁') : '');
      // '▁' in the input is the model's space: it decodes as ' '.
      assert.equal(tok.decode(enc.ids), wellFormed(text).replaceAll('▁', ' '));
    }
  }), opts(400, 24));
});

test('fuzz: mT5 (charsmap normalizer, byte fallback) round-trips to its normalized text', { skip: sharedSkip }, async () => {
  const tok = (await loadTokenizer(SHARED + 'mt5-chinese')) as SentencePieceTokenizer;
  fc.assert(fc.property(textArb, (text) => {
    const enc = checkEncoding(tok, text);
    assert.equal(tok.decode(enc.ids), tok.normalize(text).replaceAll('▁', ' ').replace(/^ /, ''));
  }), opts(300, 25));
});

// ------------------------------------------------------------------------------------------------
// vocab.txt

const tokenArb = fc.oneof(fc.constantFrom('[UNK]', '[CLS]', '[SEP]', '[PAD]', '[MASK]', '##', '', ' ', ...ODD, ...TRICKY), fc.string({ maxLength: 6 }), fc.string({ maxLength: 4 }).map((s) => '##' + s));

test('fuzz: random vocab.txt files give a WordPiece tokenizer or a TokenizerError; encoding stays in bounds', () => {
  fc.assert(fc.property(fc.array(tokenArb, { maxLength: 60 }), fc.constantFrom('\n', '\r\n'), fc.boolean(), textArb, (tokens, eol, lowercase, text) => {
    const file = tokens.join(eol);
    const tok = parses(file.length, () => WordPieceTokenizer.fromVocabText(file, { lowercase }, 'fuzz/vocab.txt'));
    if (!tok) return;
    for (const w of ODD) if (tokens.includes(w)) assert.equal(tok.idToToken(tok.tokenToId(w)!), w);
    parses(text.length, () => checkEncoding(tok, text));
  }), opts(400, 26));
});

test('fuzz: WordPiece without [UNK]: each piece is the folded text of its offsets', { skip: sharedSkip }, async () => {
  const tok = await loadTokenizer(SHARED + 'bert-chinese');
  const fold = (s: string) => [...s].map((c) => c.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '')).join('');
  const alphabet = [...'abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,!?;:()[]中文天气很好我们 \n\t', 'é', 'Ü', 'ñ'];
  fc.assert(fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (chars) => {
    const text = chars.join('');
    const enc = checkEncoding(tok, text);
    if (enc.tokens.includes('[UNK]')) return;
    enc.tokens.forEach((t, k) => assert.equal(t.replace(/^##/, ''), fold(text.slice(...enc.offsets[k]!)), `${t} in ${JSON.stringify(text)}`));
    assert.equal(enc.tokens.map((t) => t.replace(/^##/, '')).join(''), fold(text).replace(/\s/g, ''));
  }), opts(400, 27));
});

// ------------------------------------------------------------------------------------------------
// Byte-level BPE: vocab.json + merges.txt

const B = bytesToUnicode();
/** A valid vocabulary and merges built from words, then optionally damaged as text. */
const bpeFilesArb = fc.record({
  words: fc.array(fc.oneof(fc.constantFrom(...ODD, 'hello', 'Ġthe', '<s>', '</s>'), fc.string({ unit: 'binary', minLength: 2, maxLength: 5 })), { maxLength: 12 }),
  damage: fc.option(fc.record({ file: fc.boolean(), at: fc.nat(), text: fc.constantFrom('', '"', '}', ' ', '\n', '-1', '1e9', '"__proto__": 3', 'a b c', '#version') })),
});

function buildBpe(words: string[]): [Map<string, number>, [string, string][]] {
  const vocab = new Map(B.map((c, i) => [c, i] as [string, number]));
  const merges: [string, string][] = [];
  for (const w of words) {
    const syms = [...new TextEncoder().encode(w)].map((b) => B[b]!);
    let cur = syms[0]!;
    for (const s of syms.slice(1)) {
      if (!vocab.has(cur + s)) { merges.push([cur, s]); vocab.set(cur + s, vocab.size); }
      cur += s;
    }
  }
  return [vocab, merges];
}
const vocabJson = (v: Map<string, number>) => '{' + [...v].map(([k, id]) => `${JSON.stringify(k)}: ${id}`).join(', ') + '}';

test('fuzz: vocab.json + merges.txt give a byte-level BPE or a TokenizerError; it round-trips any text exactly', () => {
  fc.assert(fc.property(bpeFilesArb, textArb, ({ words, damage }, text) => {
    const [vocab, merges] = buildBpe(words);
    let vj = vocabJson(vocab), mt = '#version: 0.2\n' + merges.map((m) => m.join(' ')).join('\n');
    if (damage) {
      const splice = (s: string) => s.slice(0, damage.at % (s.length + 1)) + damage.text + s.slice(damage.at % (s.length + 1) + 1);
      if (damage.file) vj = splice(vj); else mt = splice(mt);
    }
    const tok = parses(vj.length + mt.length, () => ByteLevelBpeTokenizer.fromFiles(vj, mt, 'fuzz vocab.json + merges.txt'));
    if (!tok) return;
    const enc = parses(text.length, () => checkEncoding(tok, text))!;
    assert.equal(tok.decode(enc.ids, { skipSpecialTokens: false }), wellFormed(text));
  }), opts(300, 28));
});

test('fuzz: GPT-2 round-trips any text exactly; the linear pre-tokenizer splits as the regex does', { skip: sharedSkip }, async () => {
  const tok = await loadTokenizer(SHARED + 'gpt2');
  const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
  const regex = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');
  fc.assert(fc.property(textArb, (text) => {
    const enc = checkEncoding(tok, text);
    assert.equal(tok.decode(enc.ids), wellFormed(text));
    const ends: number[] = [];
    for (let i = 0; i < text.length; i = ends[ends.length - 1]!) ends.push(gpt2WordEnd(text, i));
    assert.deepEqual(ends, [...text.matchAll(regex)].map((m) => m.index! + m[0].length), JSON.stringify(text));
  }), opts(500, 29));
});

// ------------------------------------------------------------------------------------------------
// tokenizer.json

const TEMPLATES = [
  { normalizer: { type: 'BertNormalizer', lowercase: true }, pre_tokenizer: { type: 'BertPreTokenizer' }, post_processor: { type: 'BertProcessing', cls: ['[CLS]', 1], sep: ['[SEP]', 2] }, model: { type: 'WordPiece', unk_token: '[UNK]', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2, a: 3, '##b': 4, __proto__x: 5 } } },
  { pre_tokenizer: { type: 'ByteLevel' }, added_tokens: [{ id: 0, content: '!', special: true }], model: { type: 'BPE', vocab: Object.fromEntries(B.map((c, i) => [c, i])), merges: [] } },
  { normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' } }] }, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', prepend_scheme: 'always' }] }, post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A' } }, { SpecialToken: { id: '</s>' } }] }, model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['</s>', 0], ['▁a', -1], ['a', -2], ['b', -3]] } },
];
/** JSON paths into a template, replaced by an arbitrary value. */
const jsonValueArb = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, -1, 1e9, 0.5, '', 'Sequence', ...ODD, [[['deep']]], { type: 'Precompiled', precompiled_charsmap: 'AAAA' }));

function replaceAt(obj: unknown, path: number[], value: unknown): unknown {
  if (!path.length || obj === null || typeof obj !== 'object') return value;
  const keys = Object.keys(obj as object);
  if (!keys.length) return value;
  const key = keys[path[0]! % keys.length]!;
  const copy: Record<string, unknown> = Array.isArray(obj) ? [...obj] as unknown as Record<string, unknown> : { ...(obj as object) };
  copy[key] = replaceAt((obj as Record<string, unknown>)[key], path.slice(1), value);
  return copy;
}

test('fuzz: damaged tokenizer.json gives a tokenizer or a TokenizerError', () => {
  const deep = '{"model": {"type": "Unigram", "vocab": ' + '['.repeat(50_000) + ']'.repeat(50_000) + '}}';
  assert.throws(() => fromTokenizerJson(deep), TokenizerError);
  fc.assert(fc.property(fc.nat(), fc.array(fc.nat(), { maxLength: 5 }), jsonValueArb, fc.nat(), textArb, (which, path, value, cut, text) => {
    let json = JSON.stringify(replaceAt(TEMPLATES[which % TEMPLATES.length], path, value));
    if (cut % 5 === 0) json = json.slice(0, cut % json.length);
    const tok = parses(json.length, () => fromTokenizerJson(json, 'fuzz/tokenizer.json'));
    if (tok) parses(text.length, () => checkEncoding(tok, text));
  }), opts(600, 30));
});

// ------------------------------------------------------------------------------------------------
// tokenizer_config.json / special_tokens_map.json

const configKeyArb = fc.constantFrom('do_lower_case', 'keep_accents', 'remove_space', 'strip_accents', 'tokenizer_class', 'bert4ts_kind', 'unk_token', 'cls_token', 'sep_token', 'mask_token', 'pad_token', 'eos_token', 'max_input_chars_per_word', 'continuing_subword_prefix', ...ODD);
const configValueArb = fc.oneof(fc.boolean(), fc.constantFrom('AlbertTokenizer', 'XLNetTokenizerFast', 'T5Tokenizer', 'sentencepiece', 'cpm', '<unk>', '</s>', 'a', ...ODD), fc.jsonValue({ maxDepth: 2 }), fc.record({ content: fc.constantFrom('<unk>', '__proto__', 'constructor') }));

test('fuzz: tokenizer_config.json and special_tokens_map.json give a config or a TokenizerError; loading applies it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bert4ts-fuzzcfg-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const model = serializeSentencePieceModel({ ...parseSentencePieceModel(bpeTiny), source: undefined, pieces: [...parseSentencePieceModel(bpeTiny).pieces, ...ODD.map((piece) => ({ piece, score: 0, type: 4 }))] });
  let n = 0;
  await fc.assert(fc.asyncProperty(fc.dictionary(configKeyArb, configValueArb, { maxKeys: 6 }), fc.dictionary(configKeyArb, configValueArb, { maxKeys: 3 }), textArb, async (config, map, text) => {
    const files: [string, string][] = [['tokenizer_config.json', JSON.stringify(config)], ['special_tokens_map.json', JSON.stringify(map)]];
    parses(files[0][1].length + files[1][1].length, () => parseHfConfig(files));
    const dir = join(root, String(n++));
    mkdirSync(dir);
    writeFileSync(join(dir, 'spiece.model'), model);
    for (const [name, text] of files) writeFileSync(join(dir, name), text);
    let tok: Tokenizer | undefined;
    try {
      tok = await loadTokenizer(dir);
    } catch (e) {
      if (!(e instanceof TokenizerError || e instanceof FileError)) throw e;
    }
    if (tok) {
      checkEncoding(tok, text);
      for (const w of ODD) assert.equal(tok.idToToken(tok.tokenToId(w)!), w);
    }
  }), opts(150, 31));
});

// ------------------------------------------------------------------------------------------------
// Long inputs (was test/tokenizers/fuzz.test.ts)

test('long inputs (300,000 characters in one word, one script, whitespace or emoji) encode', { skip: sharedSkip }, async () => {
  const texts = ['a'.repeat(300_000), '中'.repeat(300_000), ' '.repeat(300_000), '😀'.repeat(100_000), '\u0301'.repeat(300_000)];
  for (const dir of ['bert-chinese', 'gpt2', 'mt5-chinese', 'cpm', 'albert']) {
    const tok = await loadTokenizer(SHARED + dir);
    for (const text of texts) {
      const enc = tok.encode(text);
      assert.ok(enc.ids.length >= 1 && enc.offsets.every(([s, e]) => e <= text.length), `${dir}: ${text.slice(0, 2)}... x${text.length}`);
    }
  }
});

test('every shared tokenizer encodes random Unicode, pairs included, with offsets in range', { skip: sharedSkip }, async () => {
  const toks = await Promise.all(['bert-chinese', 'gpt2', 'cpm', 'mt5-chinese', 'albert', 'sentencepiece-test'].map((d) => loadTokenizer(SHARED + d)));
  fc.assert(fc.property(textArb, textArb, (a, b) => {
    for (const tok of toks) {
      checkEncoding(tok, a);
      const enc = tok.encode(a, b);
      assert.ok(enc.offsets.every(([s, e], k) => s <= e && e <= (enc.segments[k] ? b : a).length));
    }
  }), opts(150, 32));
});
