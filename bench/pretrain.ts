/**
 * `npm run bench -- pretrain [--sizes 4x256,6x256] [--positions 128,512] [--vocab 13168] [--batch-tokens 4096] [--seconds 40]`:
 * MLM pretraining throughput (tokens/s through forward + backward + AdamW, the gathered head of
 * src/training/pretrain/model.ts) and peak RSS, one row per size x positions. Each row runs in its
 * own child process so its peak RSS is its own. Batches are random ids masked at 15%: speed does not
 * depend on the text. Prints rows, then one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Random } from '../src/util/random.ts';
import { ParamStore } from '../src/nn/params.ts';
import { Trainer } from '../src/training/trainer.ts';
import { adamW } from '../src/training/optimizers.ts';
import { warmupLinear } from '../src/training/schedules.ts';
import { bertConfigJson, gatheredMlm, parseConfig } from '../src/training/pretrain/model.ts';
import { maskedBatch, type PackedRows } from '../src/training/pretrain/data.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    sizes: { type: 'string', default: '4x256' }, positions: { type: 'string', default: '128,512' }, vocab: { type: 'string', default: '13168' },
    'batch-tokens': { type: 'string', default: '4096' }, seconds: { type: 'string', default: '40' }, one: { type: 'string' },
  },
});
const V = Number(values.vocab), batchTokens = Number(values['batch-tokens']), seconds = Number(values.seconds);

async function measure(layers: number, hidden: number, T: number): Promise<Record<string, number>> {
  const config = parseConfig(bertConfigJson({ layers, hidden, heads: hidden / 64, maxPosition: T }, V));
  const store = new ParamStore(1);
  const trainer = await Trainer.create({ store, loss: (s) => gatheredMlm(s, config).loss, optimizer: adamW(warmupLinear({ peak: 5e-4, warmup: 100, total: 10000 })), clipNorm: 1 });
  const B = Math.max(1, Math.round(batchTokens / T));
  const r = new Random(7);
  const packed: PackedRows = { maxlen: T, rows: B, ids: new Int32Array(B * T), wordStart: new Uint8Array(B * T).fill(1), maskable: new Uint8Array(B * T).fill(1), lengths: new Int32Array(B).fill(T) };
  for (let i = 0; i < B * T; i++) packed.ids[i] = 5 + r.int(V - 5);
  for (let b = 0; b < B; b++) packed.maskable[b * T] = 0;
  const opts = { rate: 0.15, maxPredictions: Math.ceil(T * 0.15), maskId: 4, randomIds: Int32Array.from({ length: V - 5 }, (_, i) => i + 5) };
  const batch = () => maskedBatch(packed, Array.from({ length: B }, (_, i) => i), Array.from({ length: B }, () => r.int(1 << 30)), opts);
  await trainer.trainStep(batch()); // compile + first run
  let steps = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) { await trainer.trainStep(batch()); steps++; }
  const sec = (performance.now() - started) / 1000;
  const params = trainer.trainable.reduce((n, name) => n + store.get(name)!.data.length, 0);
  return { layers, hidden, positions: T, batch: B, params, steps, steps_per_s: steps / sec, tokens_per_s: (steps * B * T) / sec, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
}

if (values.one) {
  const [l, h, t] = values.one.split(',').map(Number) as [number, number, number];
  process.stdout.write(JSON.stringify(await measure(l, h, t)) + '\n');
} else {
  const rows: Record<string, number>[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const size of values.sizes!.split(',')) {
    const [layers, hidden] = size.split('x').map(Number) as [number, number];
    for (const T of values.positions!.split(',').map(Number)) {
      const child = spawnSync(process.execPath, ['--import', 'tsx', self, '--one', `${layers},${hidden},${T}`, '--vocab', String(V), '--batch-tokens', String(batchTokens), '--seconds', String(seconds)], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`bench child ${size} @ ${T} failed: ${child.stderr}`);
      const row = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<string, number>;
      rows.push(row);
      process.stdout.write(`${layers} layers x ${hidden}  ${T} positions  batch ${row.batch}  ${(row.params! / 1e6).toFixed(2)}M params  ${row.steps_per_s!.toFixed(3)} steps/s  ${Math.round(row.tokens_per_s!)} tokens/s  peak RSS ${row.peak_rss_mb} MB\n`);
    }
  }
  process.stdout.write(JSON.stringify({ bench: 'pretrain', vocab: V, batchTokens, seconds, load: loadavg()[0], rows }) + '\n');
}
