/**
 * Sampling benchmark: tokens/s of greedy decoding, top-k 50, top-p 0.9 and both, batch 1, on a
 * seeded random GPT-2-shaped model (default 4 layers, hidden 256, vocab 21,128, the model server's
 * benchmark model; --gpt2-small: 12 layers, hidden 768, vocab 50,257), 16-token prompt, 128 new
 * tokens, median of 5 runs with the strategies interleaved; beside the same decoding with the
 * full-sort sampler this replaced (`sampleTokenBySorting`), and the samplers alone on
 * the model's own logits rows.
 *   npm run bench -- sampling [--gpt2-small] [--vocab N] [--quick]
 */
import { loadavg } from 'node:os';
import { input } from '../src/graph/ops.ts';
import { ParamStore, Scope } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { gpt2, type GPT2Config } from '../src/models/gpt2.ts';
import { GPT2Decoder } from '../src/generation/causalLM.ts';
import { greedy, runSteps, sample, type SampleOptions } from '../src/generation/decode.ts';
import { sampleToken, sampleTokenBySorting, samplingPaths, type SamplingOptions } from '../src/generation/sampling.ts';

/** The sampler before issue 24 (a full sort of the vocabulary per token). */
const fullSortSample = (logits: Float32Array, offset: number, o: SamplingOptions, rng: Random, history: number[]) => sampleTokenBySorting(logits, offset, V, o, rng, history);

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const quick = process.argv.includes('--quick');
const small = process.argv.includes('--gpt2-small');
const config: GPT2Config = small
  ? { vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, maxPosition: 1024 }
  : { vocabSize: 21128, hiddenSize: 256, numLayers: 4, numHeads: 4, maxPosition: 512 };
if (arg('--vocab')) config.vocabSize = Number(arg('--vocab'));
const V = config.vocabSize, NEW = quick ? 32 : 128, REPS = quick ? 3 : 5;

const store = new ParamStore(1);
gpt2(new Scope(store), config, { ids: input('input_ids', 'int64', ['batch', 'seq']) }); // seeded weights
const lm = new GPT2Decoder(store, config);
const r = new Random(5);
const prompt = Array.from({ length: 16 }, () => r.int(V));
const length = { maxNewTokens: NEW };

type Run = () => Promise<number[][]>;
const topK: SamplingOptions = { topK: 50 }, topP: SamplingOptions = { topP: 0.9 }, both: SamplingOptions = { topK: 50, topP: 0.9 };
const oldWay = (o: SamplingOptions): Run => async () => {
  const rng = new Random(0), out: number[] = [];
  for await (const t of runSteps(lm, [prompt], length, (logits, row, g) => fullSortSample(logits, row * V, o, rng, [...prompt, ...g]))) out.push(t[0]!.token);
  return [out];
};
const newWay = (o: SamplingOptions): Run => () => sample(lm, [prompt], { ...length, ...o, seed: 0 } as SampleOptions);
const runs: Record<string, Run> = {
  greedy: () => greedy(lm, [prompt], length),
  top_k: newWay(topK), top_p: newWay(topP), top_k_top_p: newWay(both),
  full_sort_top_k: oldWay(topK), full_sort_top_p: oldWay(topP), full_sort_top_k_top_p: oldWay(both),
};

// Same tokens, old and new (the unit test checks this on random rows; here on the model's own).
for (const name of ['top_k', 'top_p', 'top_k_top_p']) {
  const [a, b] = [await runs[name]!(), await runs[`full_sort_${name}`]!()];
  if (a[0]!.join() !== b[0]!.join()) throw new Error(`${name}: the sampler and the full-sort sampler chose different tokens`);
}
// Wall time, and the process's CPU time (ORT's threads included): on a loaded machine the CPU time
// still says what each token costs us.
const wall: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(runs).map((k) => [k, []]));
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, run] of Object.entries(runs)) {
    const t = performance.now(), c = process.cpuUsage();
    const out = await run();
    const used = process.cpuUsage(c);
    wall[name]!.push(performance.now() - t);
    cpu[name]!.push((used.user + used.system) / 1000);
    if (out[0]!.length !== NEW) throw new Error(`${name} stopped early`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tps = (ms: number[]) => NEW / (median(ms) / 1000);
const figures: Record<string, number> = {};
console.log(`GPT-2-shaped, ${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${V}, random weights; batch 1, 16-token prompt, ${NEW} new tokens, median of ${REPS}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`${'strategy'.padEnd(26)}${'tokens/s'.padStart(10)}${'vs greedy'.padStart(11)}${'tokens/CPU-s'.padStart(14)}${'vs greedy'.padStart(11)}`);
for (const name of Object.keys(runs)) {
  figures[`${name}_tokens_per_s`] = Math.round(tps(wall[name]!));
  figures[`${name}_tokens_per_cpu_s`] = Math.round(tps(cpu[name]!));
  const row = [tps(wall[name]!), tps(wall[name]!) / tps(wall.greedy!), tps(cpu[name]!), tps(cpu[name]!) / tps(cpu.greedy!)];
  console.log(`${name.replaceAll('_', ' ').padEnd(26)}${row[0]!.toFixed(0).padStart(10)}${row[1]!.toFixed(2).padStart(11)}${row[2]!.toFixed(0).padStart(14)}${row[3]!.toFixed(2).padStart(11)}`);
}
const ratio = (a: string, b: string) => +(figures[a]! / figures[b]!).toFixed(3);
figures.sampling_vs_greedy = ratio('top_p_tokens_per_s', 'greedy_tokens_per_s');
figures.full_sort_sampling_vs_greedy = ratio('full_sort_top_p_tokens_per_s', 'greedy_tokens_per_s');
figures.sampling_vs_greedy_cpu = ratio('top_p_tokens_per_cpu_s', 'greedy_tokens_per_cpu_s');
figures.full_sort_sampling_vs_greedy_cpu = ratio('full_sort_top_p_tokens_per_cpu_s', 'greedy_tokens_per_cpu_s');
console.log(`sampling_vs_greedy (top-p 0.9 / greedy, tokens/s): ${figures.sampling_vs_greedy} (target >= 0.75), by CPU time ${figures.sampling_vs_greedy_cpu}; with the full-sort sampler: ${figures.full_sort_sampling_vs_greedy}, by CPU time ${figures.full_sort_sampling_vs_greedy_cpu}`);

// The samplers alone, on logits rows the model produced (its random weights give a flat distribution:
// top-p 0.9 keeps most of the vocabulary, the hard case for a cut that needs an order).
const rows: Float32Array[] = [];
for await (const _ of runSteps(lm, [prompt], { maxNewTokens: 16 }, (logits, row) => { rows.push(logits.slice(row * V, row * V + V)); return r.int(V); }));
const paths0 = { ...samplingPaths };
for (const [label, o] of [['top-p 0.9', topP], ['top-k 50', topK]] as const) {
  const us = (f: (row: Float32Array, rng: Random) => number) => {
    const rng = new Random(1), n = quick ? 100 : 400;
    for (let i = 0; i < 20; i++) f(rows[i % rows.length]!, rng); // warm-up
    const c = process.cpuUsage();
    for (let i = 0; i < n; i++) f(rows[i % rows.length]!, rng);
    return process.cpuUsage(c).user / n;
  };
  const fresh = us((row, rng) => sampleToken(row, 0, V, o, rng, prompt));
  const old = us((row, rng) => fullSortSample(row, 0, o, rng, prompt));
  const key = label.startsWith('top-p') ? 'top_p' : 'top_k';
  figures[`${key}_sampler_cpu_us`] = Math.round(fresh);
  figures[`full_sort_${key}_sampler_cpu_us`] = Math.round(old);
  console.log(`sampler alone, ${label}: ${fresh.toFixed(0)} us (CPU) per token; full sort: ${old.toFixed(0)} us (${(old / fresh).toFixed(1)}x)`);
}
{
  const rng = new Random(1), n = quick ? 100 : 400, c = process.cpuUsage();
  let sink = 0;
  for (let i = 0; i < n; i++) { const row = rows[i % rows.length]!; let b = 0; for (let v = 1; v < V; v++) if (row[v]! > row[b]!) b = v; sink += b + rng.next(); }
  figures.argmax_cpu_us = Math.round(process.cpuUsage(c).user / n);
  console.log(`argmax alone (greedy's choice): ${figures.argmax_cpu_us} us (CPU) per token${sink < 0 ? '' : ''}`);
}
console.log(`sampler paths in that loop: ${samplingPaths.bucketed - paths0.bucketed} bucketed, ${samplingPaths.sorted - paths0.sorted} sorted (small sets), ${samplingPaths.fallback - paths0.fallback} fell back to sorting`);
console.log(JSON.stringify(figures));
