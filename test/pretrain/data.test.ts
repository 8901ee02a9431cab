// Pretraining data: sources, vocabulary trimming, whole-word boundaries, packing and masking statistics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Random } from '../../src/util/random.ts';
import { ZipWriter } from '../../src/checkpoint/zip.ts';
import { jiebaSegmenter } from '../../src/tokenizers/cpm.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { CorpusError, isHeldOut, parseSource, readDocuments } from '../../src/training/pretrain/corpus.ts';
import {
  PretrainStream, charCounts, keepTokensByCount, maskRow, nonSpecialIds, packRows, specialIds, tokenizeDocuments, trimVocabulary, type TokenizedDocs,
} from '../../src/training/pretrain/data.ts';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const TEXTS = ['我们今天去北京大学看书。', '中华人民共和国成立了。', '他喜欢吃苹果和香蕉，我们也喜欢。', '今天天气很好，我们去公园散步吧。'];

function vocabFor(texts: string[], extra: string[] = []): WordPieceTokenizer {
  const chars = [...new Set(texts.join(''))].sort();
  return new WordPieceTokenizer([...SPECIALS, '[unused1]', ...chars, ...extra]);
}

function docsOf(lengths: number[]): TokenizedDocs {
  const total = lengths.reduce((a, b) => a + b, 0);
  const ids = Int32Array.from({ length: total }, (_, i) => 10 + i);
  const offsets = new Int32Array(lengths.length + 1);
  lengths.forEach((n, i) => (offsets[i + 1] = offsets[i]! + n));
  return { ids, wordStart: new Uint8Array(total).fill(1), offsets };
}

const SP = { pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 };

test('sources: txt by blank lines or lines, jsonl fields, tsv columns, .gz and zip members', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-src-'));
  try {
    mkdirSync(join(dir, 'txt'));
    writeFileSync(join(dir, 'txt', 'a.txt'), '第一段\n还是第一段\n\n第二段\r\n\r\n\n第三段\n');
    writeFileSync(join(dir, 'txt', '.hidden'), '不读');
    assert.deepEqual([...readDocuments(parseSource(`txt:${join(dir, 'txt')}`))].map((d) => d.text), ['第一段\n还是第一段', '第二段', '第三段']);
    assert.deepEqual([...readDocuments(parseSource(`txt:${join(dir, 'txt')}@line`))].map((d) => d.text), ['第一段', '还是第一段', '第二段', '第三段']);
    writeFileSync(join(dir, 'p.jsonl.gz'), gzipSync('{"author":"李白","title":"静夜思","paragraphs":["床前明月光，","疑是地上霜。"],"id":3}\n\n'));
    assert.deepEqual([...readDocuments(parseSource(`jsonl:${join(dir, 'p.jsonl.gz')}@title,paragraphs`))].map((d) => d.text), ['静夜思\n床前明月光，\n疑是地上霜。']);
    assert.deepEqual([...readDocuments(parseSource(`jsonl:${join(dir, 'p.jsonl.gz')}`))].map((d) => d.text), ['李白\n静夜思\n床前明月光，\n疑是地上霜。']);
    assert.throws(() => [...readDocuments(parseSource(`jsonl:${join(dir, 'p.jsonl.gz')}@body`))], (e: Error) => e instanceof CorpusError && /p\.jsonl\.gz:1: no field 'body'/.test(e.message));
    writeFileSync(join(dir, 't.tsv'), '标题一\t摘要一\t1\n标题二\t摘要二\t0\n');
    assert.deepEqual([...readDocuments(parseSource(`tsv:${join(dir, 't.tsv')}@0,1`))].map((d) => d.text), ['标题一\n摘要一', '标题二\n摘要二']);
    assert.throws(() => [...readDocuments(parseSource(`tsv:${join(dir, 't.tsv')}@3`))], /t\.tsv:1: has 3 columns, no column 3/);
    const zip = new ZipWriter(join(dir, 'd.zip'));
    zip.add('d/train.data', [new TextEncoder().encode('好评\t1\n差评\t0\n')]);
    zip.add('d/test.data', [new TextEncoder().encode('测试\t1\n')]);
    zip.finish();
    assert.deepEqual([...readDocuments(parseSource(`tsv:${join(dir, 'd.zip')}#d/train.data@0`))].map((d) => d.text), ['好评', '差评']);
    assert.throws(() => [...readDocuments(parseSource(`tsv:${join(dir, 'd.zip')}#d/dev.data`))], /no member 'd\/dev\.data'/);
    assert.throws(() => parseSource('csv:x.csv'), CorpusError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('held-out split is by text hash: deterministic, identical texts together, about the asked share', () => {
  const texts = Array.from({ length: 20000 }, (_, i) => `文档${i}`);
  const held = texts.filter((t) => isHeldOut(t, 10)).length;
  assert.ok(held > 140 && held < 260, `${held} of 20000 held out at 1%`);
  assert.equal(isHeldOut('同一篇', 500), isHeldOut('同一篇', 500));
});

test('vocabulary trimming keeps specials, single characters by count, longer tokens by token count', () => {
  const tok = new WordPieceTokenizer([...SPECIALS, '[unused1]', '我', '们', '你', '##们', 'the', 'cat', '##s', 'dog', 'x']);
  const texts = ['我们我们我', 'the cats the the', '你'];
  const chars = charCounts(texts);
  assert.equal(chars.get('我'), 3);
  assert.equal(chars.get('t'), 4);
  const keep = keepTokensByCount(tok, chars, new Int32Array(tok.vocabSize).map((_, id) => (id === tok.tokenToId('the') ? 3 : id === tok.tokenToId('cat') ? 1 : 0)), 2);
  const kept = keep.map((id) => tok.idToToken(id));
  // 我 3x, 们 2x (also ##们, a single character), 你 1x; 'the' 3 tokens, 'cat' 1, 'dog' 0; 's' occurs once; 'x' never.
  assert.deepEqual(kept, [...SPECIALS, '我', '们', '##们', 'the']);
  const trimmed = trimVocabulary(tok, texts, 2);
  assert.deepEqual(trimmed.keepTokens, keep.filter((id) => tok.idToToken(id) !== 'cat'));
  assert.deepEqual(trimmed.encode('我们', undefined, { addSpecialTokens: false }).tokens, ['我', '们']);
  assert.equal(trimmed.encode('你', undefined, { addSpecialTokens: false }).tokens[0], '[UNK]');
});

test('whole-word boundaries follow jieba words and never split a WordPiece word', async () => {
  const seg = await jiebaSegmenter();
  const tok = vocabFor(TEXTS, ['hello', '##world']);
  const text = TEXTS[0]! + 'helloworld';
  const docs = tokenizeDocuments(tok, seg, [text]);
  const words = seg(text).filter((w) => w.trim());
  // Group tokens by word starts and compare with jieba's words.
  const groups: string[] = [];
  for (let t = 0; t < docs.ids.length; t++) {
    const piece = tok.idToToken(docs.ids[t]!).replace(/^##/, '');
    if (docs.wordStart[t]) groups.push(piece);
    else groups[groups.length - 1] += piece;
  }
  assert.deepEqual(groups, words);
  assert.ok(groups.includes('北京大学') || groups.includes('北京'), `jieba words: ${groups.join('|')}`);
});

test('whole-word masking never splits a jieba word', async () => {
  const seg = await jiebaSegmenter();
  const tok = vocabFor(TEXTS);
  const docs = tokenizeDocuments(tok, seg, Array.from({ length: 40 }, (_, i) => TEXTS[i % TEXTS.length]!));
  const sp = specialIds(tok);
  const packed = packRows(docs, Int32Array.from({ length: 40 }, (_, i) => i), 64, sp);
  const o = { rate: 0.15, maxPredictions: 10, maskId: sp.mask, randomIds: nonSpecialIds(tok) };
  let multi = 0;
  for (let r = 0; r < packed.rows; r++) {
    for (let seed = 0; seed < 20; seed++) {
      const at = r * 64;
      const ws = packed.wordStart.subarray(at, at + 64), mk = packed.maskable.subarray(at, at + 64);
      const m = maskRow(packed.ids.subarray(at, at + 64), ws, mk, new Random(seed * 7919 + r), o);
      const chosen = new Set(m.positions);
      for (let t = 0; t < 64; t++) {
        if (!mk[t] || ws[t]) continue; // t continues the word that started before it
        assert.equal(chosen.has(t), chosen.has(t - 1), `row ${r} seed ${seed}: word split at ${t}`);
        if (chosen.has(t)) multi++;
      }
      for (const t of chosen) assert.ok(mk[t], 'only text tokens are predicted');
    }
  }
  assert.ok(multi > 100, 'multi-character words were masked');
});

test('masking: 15% of text tokens, split 80/10/10 into [MASK] / random / unchanged (seeded, many rows)', () => {
  const T = 128, rows = 2000;
  const packed = packRows(docsOf(Array.from({ length: 600 }, (_, i) => 200 + (i % 300))), Int32Array.from({ length: 600 }, (_, i) => i), T, SP);
  const o = { rate: 0.15, maxPredictions: 20, maskId: SP.mask, randomIds: Int32Array.from({ length: 20000 }, (_, i) => 100000 + i), wholeWord: false };
  let text = 0, chosen = 0, masked = 0, random = 0, same = 0;
  for (let r = 0; r < rows; r++) {
    const at = r * T;
    const ids = packed.ids.subarray(at, at + T);
    const m = maskRow(ids, packed.wordStart.subarray(at, at + T), packed.maskable.subarray(at, at + T), new Random(1000 + r), o);
    text += packed.maskable.subarray(at, at + T).reduce((a, b) => a + b, 0);
    chosen += m.positions.length;
    m.positions.forEach((t, k) => {
      assert.equal(m.labels[k], ids[t]);
      if (m.input[t] === SP.mask) masked++;
      else if (m.input[t] === ids[t]) same++;
      else random++;
    });
  }
  assert.ok(Math.abs(chosen / text - 0.15) < 0.005, `predicted ${chosen / text}`);
  assert.ok(Math.abs(masked / chosen - 0.8) < 0.015, `[MASK] ${masked / chosen}`);
  assert.ok(Math.abs(random / chosen - 0.1) < 0.01, `random ${random / chosen}`);
  assert.ok(Math.abs(same / chosen - 0.1) < 0.01, `unchanged ${same / chosen}`);
});

test('packing keeps every token in order, [CLS] in front of each row, [SEP] after each document', () => {
  const docs = docsOf([5, 1, 12, 3, 9]);
  const order = [2, 0, 4, 1, 3];
  const T = 8;
  const p = packRows(docs, order, T, SP);
  const expected: number[] = [];
  for (const d of order) expected.push(...docs.ids.subarray(docs.offsets[d]!, docs.offsets[d + 1]!), SP.sep);
  assert.equal(p.rows, Math.ceil(expected.length / (T - 1)));
  const stream: number[] = [];
  for (let r = 0; r < p.rows; r++) {
    const row = [...p.ids.subarray(r * T, (r + 1) * T)];
    assert.equal(row[0], SP.cls);
    const body = row.slice(1, p.lengths[r]);
    assert.ok(row.slice(p.lengths[r]).every((id) => id === SP.pad), 'only the tail is padding');
    stream.push(...body);
    body.forEach((id, i) => assert.equal(p.maskable[r * T + 1 + i], id === SP.sep ? 0 : 1));
  }
  assert.deepEqual(stream, expected);
  assert.equal(p.maskable[0], 0);
});

test('the stream: batches are a pure function of the step, epochs reshuffle', () => {
  const docs = docsOf(Array.from({ length: 30 }, (_, i) => 3 + (i % 7)));
  const o = { rate: 0.15, maxPredictions: 3, maskId: SP.mask, randomIds: Int32Array.from([50, 51]), maxlen: 16, batchSize: 4, seed: 3 };
  const a = new PretrainStream(docs, SP, o), b = new PretrainStream(docs, SP, o);
  const steps = Math.ceil((a.rowsPerEpoch * 2) / 4);
  for (let s = steps - 1; s >= 0; s--) {
    const batch = a.batchAt(s);
    assert.deepEqual(b.batchAt(s), batch, `step ${s}`);
    // Rows joined across an epoch boundary keep each prediction in its own row.
    const pos = batch.mlm_positions!.data as BigInt64Array, lab = batch.mlm_labels!.data as BigInt64Array;
    for (let k = 0; k < pos.length; k++) if (lab[k] !== -100n) assert.equal(Math.floor(Number(pos[k]) / 16), Math.floor(k / 3), `step ${s} prediction ${k}`);
  }
  const first = a.batchAt(0).input_ids!.data, later = a.batchAt(Math.ceil(a.rowsPerEpoch / 4) + 1).input_ids!.data;
  assert.notDeepEqual(first, later);
  assert.deepEqual(a.position(5), { epoch: Math.floor(20 / a.rowsPerEpoch), row: 20 % a.rowsPerEpoch });
});
