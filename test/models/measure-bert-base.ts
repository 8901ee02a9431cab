/**
 * Not a test: figures for a BERT-base-sized model (random weights, vocab 21,128) loaded through
 * buildModel — load time from safetensors (HF naming) and a TF checkpoint (Google naming), forward
 * latency at 1x128 and 1x512, peak RSS — each format in its own child process so RSS is its own.
 * Run: `npx tsx test/models/measure-bert-base.ts` (writes ~820 MB to a temp dir, removed after).
 * Prints rows, then one JSON line. Kept here until bench/models.ts exists (issue 4 asks for it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/index.ts';

const CONFIG = {
  model_type: 'bert', vocab_size: 21128, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
  intermediate_size: 3072, max_position_embeddings: 512, type_vocab_size: 2,
};

async function child(checkpoint: string): Promise<void> {
  const t0 = performance.now();
  const model = buildModel(CONFIG, { application: 'mlm', checkpoint });
  const figures: Record<string, number> = { load_ms: Math.round(performance.now() - t0) };
  for (const T of [128, 512]) {
    const ids = [Array.from({ length: T }, (_, t) => 100 + t)];
    const run = () => model.predict({ input_ids: ids }, { outputs: ['last_hidden_state'] });
    const t1 = performance.now();
    await run(); // compiles the session
    figures[`first_forward_${T}_ms`] = Math.round(performance.now() - t1);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t = performance.now();
      await run();
      times.push(performance.now() - t);
    }
    figures[`forward_${T}_median_ms`] = Math.round(times.sort((a, b) => a - b)[3]!);
  }
  figures.peak_rss_gb = Math.round(process.resourceUsage().maxRSS / 1e4) / 100; // maxRSS is in KiB
  process.stdout.write(JSON.stringify(figures) + '\n');
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!);
} else {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-measure-'));
  try {
    const model = buildModel(CONFIG, { application: 'mlm', seed: 3 });
    model.saveCheckpoint(join(dir, 'model.safetensors'));
    model.saveCheckpoint(join(dir, 'model.ckpt'));
    const all: Record<string, unknown> = {};
    for (const [format, path] of [['safetensors', join(dir, 'model.safetensors')], ['tf', join(dir, 'model.ckpt')]] as const) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', path], { encoding: 'utf8' });
      const figures = JSON.parse(out.trim().split('\n').pop()!);
      console.log(`BERT-base from ${format}: load ${figures.load_ms} ms, forward 1x128 ${figures.forward_128_median_ms} ms, 1x512 ${figures.forward_512_median_ms} ms, peak RSS ${figures.peak_rss_gb} GB`);
      all[format] = figures;
    }
    console.log(JSON.stringify(all));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
