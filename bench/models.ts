/**
 * Model loading and forward latency through buildModel, random weights: a BERT-base-sized model
 * (vocab 21,128) and a CPM-LM-sized GPT-2 (32 layers, hidden 2560, 32 heads, vocab 30,000, 1,024
 * positions: 2.6B parameters, 10.4 GB fp32), each written as safetensors (HF naming) and as a TF
 * checkpoint (Google/OpenAI naming) and loaded in its own child process, so load time and peak RSS
 * are its own. Forward latency at 128 and 512 tokens (CPM: 128 tokens, plus one cached decoding step).
 *   npm run bench -- models [--bert-only] [--cpm-formats safetensors]
 * The CPM part needs ~25 GB of free disk in the temp dir and ~12 GB of memory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../src/models/index.ts';
import { GPT2Decoder } from '../src/generation/causalLM.ts';
import { greedy } from '../src/generation/decode.ts';
import type { GPT2Config } from '../src/models/gpt2.ts';
import { collectGarbage } from '../src/runtime/gc.ts';

const BERT = {
  model_type: 'bert', vocab_size: 21128, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
  intermediate_size: 3072, max_position_embeddings: 512, type_vocab_size: 2,
};
const CPM = { model_type: 'gpt2', vocab_size: 30000, n_embd: 2560, n_layer: 32, n_head: 32, n_positions: 1024, n_ctx: 1024 };
const CONFIGS: Record<string, Record<string, unknown>> = { bert: BERT, cpm: CPM };
const self = fileURLToPath(import.meta.url);

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Child: write seeded random weights of `which` to `path` (format by extension). */
function make(which: string, path: string): void {
  const model = buildModel(CONFIGS[which]!, { application: which === 'bert' ? 'mlm' : 'lm', seed: 3 });
  model.saveCheckpoint(path);
}

/** Child: load `path`, time the first and later forwards, report peak RSS. */
async function load(which: string, path: string): Promise<void> {
  const t0 = performance.now();
  const model = buildModel(CONFIGS[which]!, { application: which === 'bert' ? 'mlm' : 'lm', checkpoint: path });
  const figures: Record<string, number> = { load_ms: Math.round(performance.now() - t0), loaded_rss_gb: rssGb() };
  if (which === 'bert') {
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
      figures[`forward_${T}_median_ms`] = Math.round(median(times));
    }
  } else {
    // CPM-LM: the decoder's step graph serves the 128-token prompt pass and every decoding step, so
    // one session (weights in an external-data file that ORT memory-maps) does both. Once it
    // exists, the host copy of the weights is dropped: 10.4 GB less resident memory.
    const lm = new GPT2Decoder(model.store, model.config as GPT2Config);
    const prompt = [Array.from({ length: 128 }, (_, i) => 100 + i)];
    const t1 = performance.now();
    await greedy(lm, prompt, { maxNewTokens: 1 });
    figures.first_forward_128_ms = Math.round(performance.now() - t1);
    figures.session_rss_gb = rssGb();
    for (const name of model.store.names()) model.store.values.delete(name);
    collectGarbage();
    figures.after_release_rss_gb = rssGb();
    const times: number[] = [];
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      await greedy(lm, prompt, { maxNewTokens: 1 });
      times.push(performance.now() - t);
    }
    figures.forward_128_median_ms = Math.round(median(times));
    const t = performance.now();
    await greedy(lm, [prompt[0]!.slice(0, 16)], { maxNewTokens: 9 });
    figures.decode_ms_per_token = Math.round((performance.now() - t - figures.forward_128_median_ms / 8) / 8);
  }
  figures.peak_rss_gb = Math.round((process.resourceUsage().maxRSS * 1024) / 1e7) / 100;
  process.stdout.write(JSON.stringify(figures) + '\n');
}

/** Anonymous resident memory now (GB): what the process holds, without memory-mapped weight files. */
function rssGb(): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(/RssAnon:\s+(\d+) kB/);
  return Math.round((m ? Number(m[1]) * 1024 : process.memoryUsage().rss) / 1e7) / 100;
}

const [mode, which, path] = process.argv.slice(2);
if (mode === '--make') make(which!, path!);
else if (mode === '--load') await load(which!, path!);
else {
  const child = (args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', self, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const all: Record<string, unknown> = {};
  const cpmFormats = process.argv.includes('--bert-only') ? [] : (process.argv[process.argv.indexOf('--cpm-formats') + 1]?.split(',') ?? ['safetensors', 'tf']);
  for (const which of ['bert', ...(cpmFormats.length ? ['cpm'] : [])]) {
    const dir = mkdtempSync(join(tmpdir(), `bert4ts-bench-${which}-`));
    try {
      const formats = which === 'bert' ? ['safetensors', 'tf'] : cpmFormats;
      if (which === 'cpm') {
        const free = statfsSync(dir).bavail * statfsSync(dir).bsize;
        if (free < 25e9 * (formats.length / 2 + 0.5)) { console.log(`CPM-LM: skipped, only ${(free / 1e9).toFixed(0)} GB free in ${tmpdir()}`); continue; }
      }
      for (const format of formats) {
        const file = join(dir, format === 'tf' ? 'model.ckpt' : 'model.safetensors');
        const t = performance.now();
        child(['--make', which, file]);
        const writeMs = performance.now() - t;
        const figures = JSON.parse(child(['--load', which, file]).trim().split('\n').pop()!);
        figures.write_random_checkpoint_ms = Math.round(writeMs);
        const name = which === 'bert' ? 'BERT-base' : 'CPM-LM-sized (2.6B)';
        const fwd = Object.entries(figures).filter(([k]) => k.startsWith('forward_')).map(([k, v]) => `${k.replace('forward_', '1x').replace('_median_ms', '')} ${v} ms`).join(', ');
        console.log(`${name} from ${format}: load ${figures.load_ms} ms (anonymous RSS ${figures.loaded_rss_gb} GB), first forward ${figures.first_forward_128_ms} ms, forward ${fwd}${figures.decode_ms_per_token ? `, cached decoding ${figures.decode_ms_per_token} ms/token, anonymous RSS with session ${figures.session_rss_gb} GB, after dropping the host weights ${figures.after_release_rss_gb} GB` : ''}, peak RSS (incl. mapped files) ${figures.peak_rss_gb} GB`);
        all[`${which}_${format}`] = figures;
        rmSync(file, { force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(JSON.stringify(all));
}
