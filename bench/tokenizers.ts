/**
 * Tokenizer speed in MB/s (UTF-8 input bytes per second), one text line per encode() call, offsets
 * included:
 *   WordPiece (Chinese BERT vocab) and SentencePiece unigram (mT5-chinese, CPM models) on 10 MB of
 *   Chinese (CSL abstracts + Tang poems), CPM (jieba + SentencePiece) on the same, GPT-2 BPE on 10 MB
 *   of generated English; and, where /usr/bin/python3 has sentencepiece, the reference library on
 *   the same lines in the same run (a Python loop of encode() calls, and one batched call, both on
 *   one thread). Each figure is the best of --runs passes (the machine is shared; best-of is the
 *   least noisy estimate), and the load average is printed so a reader can judge the conditions.
 * Usage: npm run bench -- tokenizers [--mb 10] [--runs 3]
 */
import { readFileSync, writeFileSync, mkdtempSync, existsSync, rmSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTokenizer } from '../src/tokenizers/load.ts';
import type { Tokenizer } from '../src/tokenizers/types.ts';

const { values } = parseArgs({ args: process.argv.slice(2), options: { mb: { type: 'string', default: '10' }, runs: { type: 'string', default: '3' } } });
const runs = Math.max(1, Number(values.runs));
const targetBytes = Number(values.mb) * 1e6;
const DATA = new URL('../../shared/data/', import.meta.url).pathname;
if (!existsSync(DATA)) {
  process.stderr.write(`bench tokenizers: shared data not found at ${DATA}\n`);
  process.exit(1);
}
const utf8Bytes = (lines: string[]) => lines.reduce((n, l) => n + Buffer.byteLength(l), 0);

function chineseLines(): string[] {
  const lines: string[] = [];
  let bytes = 0;
  const add = (l: string) => { if (l && bytes < targetBytes) { lines.push(l); bytes += Buffer.byteLength(l); } };
  for (const f of ['train', 'dev', 'test']) for (const l of readFileSync(`${DATA}corpora/csl/${f}.tsv`, 'utf8').split('\n')) add(l.replace('\t', ' '));
  const poems = gunzipSync(readFileSync(`${DATA}corpora/tang-poems/tang_poems.jsonl.gz`)).toString('utf8').split('\n');
  for (let round = 0; bytes < targetBytes; round++) {
    for (const p of poems) if (p) add(JSON.parse(p).paragraphs.join(''));
    if (round > 10) break;
  }
  return lines;
}

function englishLines(): string[] {
  const words = ('the of and to in is was for on that with as by at from his her it an were are which this be or has had not but '
    + 'their first one new also after two who time they been its city year world state model language system school people '
    + 'during between government university team season history number American national however including known used '
    + 'tokenizer transformer attention training learning data 2026 3.14 Alice Bob Carol Zürich naïve café').split(' ');
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const lines: string[] = [];
  let bytes = 0;
  while (bytes < targetBytes) {
    const sentences: string[] = [];
    for (let s = 0; s < 5; s++) {
      const n = 8 + Math.floor(rand() * 12);
      const ws = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]!);
      ws[0] = ws[0]![0]!.toUpperCase() + ws[0]!.slice(1);
      sentences.push(ws.join(' ') + (rand() < 0.2 ? ', they said' : '') + (rand() < 0.1 ? '?' : '.'));
    }
    const line = sentences.join(' ');
    lines.push(line);
    bytes += Buffer.byteLength(line);
  }
  return lines;
}

function time(tok: Tokenizer, lines: string[]): { mbps: number; tokens: number; seconds: number } {
  for (const l of lines.slice(0, 2000)) tok.encode(l, undefined, { addSpecialTokens: false }); // warm up
  let tokens = 0, seconds = Infinity;
  for (let r = 0; r < runs; r++) {
    tokens = 0;
    const t0 = performance.now();
    for (const l of lines) tokens += tok.encode(l, undefined, { addSpecialTokens: false }).ids.length;
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
  }
  return { mbps: utf8Bytes(lines) / 1e6 / seconds, tokens, seconds };
}

const PY = `
import sys, time, json
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
lines = open(sys.argv[2], encoding='utf-8').read().split('\\n')
nbytes = sum(len(l.encode('utf-8')) for l in lines)
for l in lines[:2000]: sp.encode(l)
loop = float('inf')
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); n = 0
    for l in lines: n += len(sp.encode(l))
    loop = min(loop, time.perf_counter() - t0)
t0 = time.perf_counter()
batch_tokens = sum(len(x) for x in sp.encode(lines, num_threads=1))
batch = time.perf_counter() - t0
print(json.dumps({'loop_mbps': nbytes / 1e6 / loop, 'batch_mbps': nbytes / 1e6 / batch, 'tokens': n, 'batch_tokens': batch_tokens}))
`;
function pythonSentencePiece(model: string, linesFile: string): { loop_mbps: number; batch_mbps: number; tokens: number } | undefined {
  if (!existsSync('/usr/bin/python3')) return undefined;
  const r = spawnSync('/usr/bin/python3', ['-c', PY, model, linesFile, String(runs)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`python sentencepiece not measured: ${r.stderr.trim().split('\n').pop()}\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim());
}

const zh = chineseLines(), en = englishLines();
const tmp = mkdtempSync(join(tmpdir(), 'bert4ts-bench-'));
const zhFile = join(tmp, 'zh.txt');
writeFileSync(zhFile, zh.join('\n'));
process.stdout.write(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores; best of ${runs} runs\n`);
process.stdout.write(`Chinese: ${zh.length} lines, ${(utf8Bytes(zh) / 1e6).toFixed(1)} MB; English: ${en.length} lines, ${(utf8Bytes(en) / 1e6).toFixed(1)} MB\n`);

const figures: Record<string, number> = {};
const row = (name: string, mbps: number, extra = '') => {
  figures[name] = Number(mbps.toFixed(2));
  process.stdout.write(`${name.padEnd(36)} ${mbps.toFixed(2).padStart(7)} MB/s ${extra}\n`);
};

const wp = time(await loadTokenizer(`${DATA}tokenizers/bert-chinese`), zh);
row('wordpiece_zh_mbps', wp.mbps, `(${wp.tokens} tokens, ${wp.seconds.toFixed(2)} s)`);
for (const [name, model] of [['mt5_chinese', 'mt5-chinese/sentencepiece_cn.model'], ['cpm_model', 'cpm/chinese_vocab.model']] as const) {
  const path = `${DATA}tokenizers/${model}`;
  const ours = time(await loadTokenizer(path, { kind: 'sentencepiece' }), zh);
  row(`sentencepiece_${name}_zh_mbps`, ours.mbps, `(${ours.tokens} tokens, ${ours.seconds.toFixed(2)} s)`);
  const py = pythonSentencePiece(path, zhFile);
  if (py) {
    row(`python_sentencepiece_${name}_zh_loop_mbps`, py.loop_mbps, `(${py.tokens} tokens)`);
    row(`python_sentencepiece_${name}_zh_batch_mbps`, py.batch_mbps, '(one encode(list) call, num_threads=1)');
    figures[`sentencepiece_${name}_vs_python_loop`] = Number((ours.mbps / py.loop_mbps).toFixed(2));
    figures[`sentencepiece_${name}_same_token_count_as_python`] = py.tokens === ours.tokens ? 1 : 0;
    if (py.tokens !== ours.tokens) process.stdout.write(`  WARNING: token counts differ (ours ${ours.tokens}, python ${py.tokens})\n`);
  }
}
const cpm = time(await loadTokenizer(`${DATA}tokenizers/cpm`), zh);
row('cpm_jieba_sentencepiece_zh_mbps', cpm.mbps, `(${cpm.tokens} tokens)`);
const gpt2 = time(await loadTokenizer(`${DATA}tokenizers/gpt2`), en);
row('gpt2_bpe_en_mbps', gpt2.mbps, `(${gpt2.tokens} tokens, ${gpt2.seconds.toFixed(2)} s)`);
rmSync(tmp, { recursive: true, force: true });
figures.load_average_1m = Number(loadavg()[0]!.toFixed(1));
process.stdout.write(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
process.stdout.write(JSON.stringify(figures) + '\n');
