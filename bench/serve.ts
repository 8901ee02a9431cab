/**
 * Load test of `bert4ts serve --model DIR` on 127.0.0.1 with autocannon (64 clients by default):
 * embeddings with dynamic batching, the same with batch size 1 (the batching gain), and streaming
 * completions. Reports throughput, p50/p95/p99 latency, errors and non-2xx answers (both must be
 * 0), and the server's RSS before and after each run (it must stay flat).
 *
 * The models are small Chinese-shaped ones with seeded random weights: a 4-layer BERT (hidden 256,
 * the 21,128-token Chinese vocabulary when ../shared has it) and a 4-layer GPT-2 of the same size.
 *
 *   npm run bench -- serve [--duration 60] [--connections 64] [--max-batch 32] [--max-wait-ms 5]
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { buildModel } from '../src/models/build.ts';

const { values } = parseArgs({ args: process.argv.slice(2), options: {
  duration: { type: 'string', default: '60' }, connections: { type: 'string', default: '64' }, 'max-batch': { type: 'string', default: '32' }, 'max-wait-ms': { type: 'string', default: '5' },
} });
const duration = Number(values.duration), connections = Number(values.connections);

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p97_5: number; p99: number; average: number };
  errors: number; timeouts: number; non2xx: number; '2xx': number;
}
type Cannon = (o: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const root = mkdtempSync(join(tmpdir(), 'bert4ts-bench-serve-'));
const sharedVocab = new URL('../../shared/data/tokenizers/bert-chinese/vocab.txt', import.meta.url);
const vocab = existsSync(sharedVocab) ? readFileSync(sharedVocab, 'utf8').split('\n').filter(Boolean) : ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: 21123 }, (_, i) => String.fromCodePoint(0x4e00 + i))];

function modelDir(name: string, config: Record<string, unknown>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
  buildModel(config, { seed: 1, application: config.model_type === 'bert' ? 'mlm' : undefined }).saveCheckpoint(join(dir, 'model.safetensors'), 'hf');
  return dir;
}
const bertDir = modelDir('bert', { model_type: 'bert', architectures: ['BertForMaskedLM'], vocab_size: vocab.length, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512, type_vocab_size: 2 });
const gptDir = modelDir('gpt', { model_type: 'gpt2', vocab_size: vocab.length, n_embd: 256, n_layer: 4, n_head: 4, n_positions: 256, eos_token_id: 3, bos_token_id: 2 });

async function startServer(extra: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['bin/bert4ts.js', 'serve', '--model', bertDir, '--model', gptDir, '--port', '0', '--max-queue', '4096', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => { const m = /(http:\/\/\S+)\//.exec(String(d)); if (m) resolve(m[1]!); });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
  return { url, child };
}

async function rssOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^bert4ts_resident_memory_bytes (\d+)/m.exec(text)![1]);
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const sentence = '自然语言处理是人工智能的一个重要方向，研究人与计算机之间用自然语言进行有效通信的理论和方法。';
const runs: { name: string; path: string; body: unknown; server: string[] }[] = [
  { name: 'embeddings, dynamic batching', path: '/v1/embeddings', body: { model: 'bert', input: sentence }, server: ['--max-batch', values['max-batch']!, '--max-wait-ms', values['max-wait-ms']!] },
  { name: 'embeddings, batch size 1', path: '/v1/embeddings', body: { model: 'bert', input: sentence }, server: ['--max-batch', '1', '--max-wait-ms', '0'] },
  { name: 'completions, stream, 16 tokens', path: '/v1/completions', body: { model: 'gpt', prompt: '自然语言', max_tokens: 16, temperature: 0, stream: true }, server: [] },
];

const results: Record<string, { rps: number; p50: number; p95: number; p99: number; errors: number; non2xx: number; total: number; rssBeforeMB: number; rssAfterMB: number }> = {};
process.stdout.write(`${connections} clients, ${duration} s per run, 127.0.0.1; ${vocab.length}-token vocabulary\n`);
process.stdout.write('run                                req/s   p50 ms   p95 ms   p99 ms  errors  non-2xx  RSS before -> after (MB)\n');
for (const run of runs) {
  const { url, child } = await startServer(run.server);
  try {
    // Warm up at full load (sessions compile on first use; ORT's arena grows to the largest batch),
    // then measure RSS, the load, and RSS again: growth after warm-up would be a leak.
    await autocannon({ url: url + run.path, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(run.body), connections, duration: Math.min(5, duration), timeout: 120 });
    const before = await rssOf(url);
    const r = await autocannon({ url: url + run.path, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(run.body), connections, duration, timeout: 120 });
    const after = await rssOf(url);
    // autocannon reports p90 and p97.5, not p95: p97.5 is shown as an upper bound on p95.
    const row = { rps: r.requests.average, p50: r.latency.p50, p95: r.latency.p97_5, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, total: r.requests.total, rssBeforeMB: before / 2 ** 20, rssAfterMB: after / 2 ** 20 };
    results[run.name] = row;
    process.stdout.write(`${run.name.padEnd(32)} ${row.rps.toFixed(1).padStart(7)} ${String(row.p50).padStart(8)} ${String(row.p95).padStart(8)} ${String(row.p99).padStart(8)} ${String(row.errors).padStart(7)} ${String(row.non2xx).padStart(8)}  ${row.rssBeforeMB.toFixed(0)} -> ${row.rssAfterMB.toFixed(0)}\n`);
  } finally {
    await stop(child);
  }
}
rmSync(root, { recursive: true, force: true });
const batched = results['embeddings, dynamic batching']!, single = results['embeddings, batch size 1']!, gen = results['completions, stream, 16 tokens']!;
process.stdout.write('(p95 column is autocannon\'s p97.5, an upper bound on p95)\n');
process.stdout.write(JSON.stringify({
  connections, duration_s: duration,
  embeddings_rps: batched.rps, embeddings_p50_ms: batched.p50, embeddings_p97_5_ms: batched.p95, embeddings_p99_ms: batched.p99,
  embeddings_batch1_rps: single.rps, batching_gain: batched.rps / single.rps,
  completions_stream_rps: gen.rps, completions_p50_ms: gen.p50, completions_p99_ms: gen.p99,
  errors: batched.errors + single.errors + gen.errors, non2xx: batched.non2xx + single.non2xx + gen.non2xx,
  rss_growth_mb: Math.max(...Object.values(results).map((r) => r.rssAfterMB - r.rssBeforeMB)),
}) + '\n');
