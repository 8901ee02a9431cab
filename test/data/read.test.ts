import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { readTsv, streamTsv, readJsonl, streamJsonl, DataError } from '../../src/data/index.ts';
import { SHARED, sharedSkip, tempDir } from './helpers.ts';

const collect = async <T>(it: AsyncIterable<T>) => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};
const dataError = (re: RegExp) => (e: Error) => e instanceof DataError && re.test(e.message);

test('TSV with a header or by column index; CRLF, BOM and blank lines', async (t) => {
  const { write } = tempDir(t);
  const f = write('a.tsv', '\uFEFFtitle\tcontent\tid\r\n标题一\t正文一\t1\r\n\r\n标题二\t正文 二\t2\n');
  const records = [{ title: '标题一', content: '正文一', id: '1' }, { title: '标题二', content: '正文 二', id: '2' }];
  assert.deepEqual(readTsv(f, { header: true }), records);
  assert.deepEqual(readTsv(f, { header: true, columns: ['content', 'title'] }), records.map(({ title, content }) => ({ content, title })));
  assert.deepEqual(readTsv(f, { columns: [1, 0] }).slice(1), [['正文一', '标题一'], ['正文 二', '标题二']]);
  assert.deepEqual(readTsv(f), [['title', 'content', 'id'], ['标题一', '正文一', '1'], ['标题二', '正文 二', '2']]);
  assert.deepEqual(await collect(streamTsv(f, { header: true })), records);
});

test('TSV: a row with a missing column is an error naming file and line', async (t) => {
  const { dir, write } = tempDir(t);
  const f = write('bad.tsv', 'title\tcontent\n标题\t正文\n只有标题\n');
  const where = new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: 1 column\\(s\\) where the header has 2`);
  assert.throws(() => readTsv(f, { header: true }), dataError(where));
  await assert.rejects(collect(streamTsv(f, { header: true })), dataError(where));
  const g = write('idx.tsv', '标题\t正文\n只有标题\n');
  assert.throws(() => readTsv(g, { columns: [0, 1] }), dataError(/idx\.tsv:2: 1 column\(s\) where the first row had 2/));
  assert.throws(() => readTsv(write('one.tsv', 'a\n'), { columns: [0, 2] }), dataError(/one\.tsv:1: no column 2 \(the line has 1\)/));
  assert.throws(() => readTsv(f, { header: true, columns: ['abstract'] }), dataError(/bad\.tsv:1: the header has no column 'abstract'/));
  assert.throws(() => readTsv(`${dir}/missing.tsv`), /missing\.tsv: cannot open: ENOENT/);
});

test('JSONL: objects per line, errors name file and line; gzip; streaming', async (t) => {
  const { write } = tempDir(t);
  const text = '{"title":"静夜思","n":1}\n\n{"title":"春晓","n":2}\n';
  const f = write('p.jsonl', text);
  const rows = [{ title: '静夜思', n: 1 }, { title: '春晓', n: 2 }];
  assert.deepEqual(readJsonl(f), rows);
  assert.deepEqual(await collect(streamJsonl(f)), rows);
  const gz = write('p.jsonl.gz', gzipSync(text));
  assert.deepEqual(readJsonl(gz), rows);
  assert.deepEqual(await collect(streamJsonl(gz)), rows);
  assert.throws(() => readJsonl(write('bad.jsonl', '{"a":1}\n{"a":\n')), dataError(/bad\.jsonl:2: invalid JSON/));
  await assert.rejects(collect(streamJsonl(write('arr.jsonl', '{}\n[1]\n'))), dataError(/arr\.jsonl:2: expected a JSON object, got an array/));
});

test('streaming reads lines split across chunks the same as a whole read', async (t) => {
  const { write } = tempDir(t);
  const lines = Array.from({ length: 20000 }, (_, i) => `${i}\t${'字'.repeat(i % 37)}\t${i % 3}`);
  const f = write('big.tsv', lines.join('\n'));
  const whole = readTsv(f, { columns: [0, 2] });
  assert.equal(whole.length, 20000);
  assert.deepEqual(await collect(streamTsv(f, { columns: [0, 2] })), whole);
});

test('the CSL corpus reads whole and streamed alike', { skip: sharedSkip('corpora/csl/dev.tsv') }, async () => {
  const file = SHARED + 'corpora/csl/dev.tsv';
  const rows = readTsv(file, { columns: [0, 1] });
  assert.ok(rows.length > 100 && rows.every(([title, abstract]) => title!.length > 0 && abstract!.length > title!.length));
  assert.deepEqual(await collect(streamTsv(file, { columns: [0, 1] })), rows);
});

test('the tang poems stream from their .jsonl.gz', { skip: sharedSkip('corpora/tang-poems/tang_poems.jsonl.gz') }, async () => {
  let n = 0;
  for await (const poem of streamJsonl(SHARED + 'corpora/tang-poems/tang_poems.jsonl.gz')) {
    assert.equal(typeof poem, 'object');
    if (++n === 50) break; // leaving early closes the file
  }
  assert.equal(n, 50);
});
