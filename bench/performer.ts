/**
 * Performer (FAVOR+) and linear attention vs softmax (post 7921):
 *   error   relative error of one head's attention matrix and output vs exact softmax attention,
 *           m = 16 … 1024, head sizes 64 and 128, orthogonal vs i.i.d. features, q, k ~ N(0, σ²) for
 *           σ = 1, 0.5, 0.25 (T = 256; mean of 3 draws);
 *   speed   ms and peak RSS of one attention layer (12 heads x 64, hidden 768, projections included) and of
 *           a full BERT-base encoder layer, batch 1, bidirectional, vs length: softmax vs performer
 *           m = 64/128/256 vs linear. Each point runs in its own child process (its own peak RSS);
 *           a child killed or failing (out of memory) is reported as such;
 *   decode  causal decoding ms/token and state memory of a GPT-2-small-shaped model (random weights)
 *           over a long generation: KV cache vs performer running sums (m = 128) vs linear;
 *   causal  one causal training step (forward + backward to the weights) of a GPT-2-small-shaped
 *           attention layer (12 heads x 64, projections included), batch 1: the chunked form the
 *           library uses (`--chunk`, default 64) vs the prefix sums over positions it replaced
 *           ((B, H, T, m, D), kept here only as the baseline), ms and peak RSS per point in its own
 *           process, T = 1,024 and 4,096 (`--lengths`), performer m = 128/256 and linear;
 *   t5      one T5 encoder layer (mT5-small widths, random weights) with its relative position bias:
 *           softmax vs performer m = 128 and linear, which apply the bias as a band
 *           (bandedKernelAttention), ms and peak RSS per point in its own process (`--lengths`,
 *           default 512,2048,8192).
 *
 *   npm run bench -- performer [--only error|speed|decode|causal|t5] [--min-length N] [--max-length N] [--kinds softmax,performer64,... | decode: kv-cache,performer128,linear]
 *                              [--full] [--tokens N] [--lengths 1024,4096] [--chunk N] [--forms prefix,chunked]
 *
 * Defaults keep the shared machine safe: lengths 512 … 4096 (softmax capped at 4096, its [H, T, T]
 * scores are 0.8 GB per tensor there), 512 decoded tokens; at any length a point whose peak memory,
 * predicted from the previous length's, exceeds 80% of the free memory is skipped and reported. `--full` sweeps 512 … 65,536 (softmax up to
 * 16,384 or until it runs out of memory) and decodes 4,096 tokens: for a quiet machine with 24 GB free.
 */
import { spawnSync } from 'node:child_process';
import { freemem } from 'node:os';
import { add, cumsum, div, exp, input, matmul, mul, reduceMax, reduceSum, reshape, softmax, sub, transpose } from '../src/graph/ops.ts';
import { reachableTensors, type Tensor } from '../src/graph/tensor.ts';
import { grad } from '../src/autodiff/grad.ts';
import type { HostTensor } from '../src/graph/dtype.ts';
import { ParamStore, Scope } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { attention, paddingMask, type AttentionSpec } from '../src/nn/attention.ts';
import { causalKernelAttention, DEFAULT_CHUNK, drawFeatures, eluFeatures, keyExponents, optimalFeatureShape, queryFeatures } from '../src/nn/performer.ts';
import { dense, layerNorm, mergeHeads, splitHeads } from '../src/nn/layers.ts';
import { compile } from '../src/runtime/session.ts';
import { gpt2, type GPT2Config } from '../src/models/gpt2.ts';
import { GPT2Decoder } from '../src/generation/causalLM.ts';
import { buildModel } from '../src/models/build.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const value = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const full = flag('--full');
const only = value('--only');
const figures: Record<string, number | string> = {};

function randn(r: Random, shape: number[], scale = 1): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = r.normal() * scale;
  return { dtype: 'float32', shape, data };
}

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
}

// ---- approximation error ------------------------------------------------------------------

async function errorTable(): Promise<void> {
  // The estimator's variance grows like exp(‖q' + k'‖²) with q' = q D^-1/4: it depends on the norms of
  // q and k, not only on their logits. Three scales: σ = 1 (‖q'‖² ≈ √D), 0.5 and 0.25 (softer attention).
  console.log('approximation error vs softmax, T = 256, q, k ~ N(0, σ²), v ~ N(0, 1), mean of 3 draws:');
  console.log('  matrix = ‖Â − A‖/‖A‖ of the attention matrix; output = ‖Âv − Av‖/‖Av‖');
  const t = 256;
  for (const sigma of [1, 0.5, 0.25]) for (const d of [64, 128]) {
    const r = new Random(d);
    const feeds = { q: randn(r, [1, 1, t, d], sigma), k: randn(r, [1, 1, t, d], sigma), v: randn(r, [1, 1, t, d]) };
    const row: string[] = [];
    for (const m of [16, 64, 256, 1024]) {
      const q = input('q', 'float32', [1, 1, t, d]), k = input('k', 'float32', [1, 1, t, d]), v = input('v', 'float32', [1, 1, t, d]);
      const omega = input('omega', 'float32', [m, d]);
      const c = d ** -0.25;
      const a = softmax(div(matmul(q, transpose(k, [0, 1, 3, 2])), Math.sqrt(d)), -1); // (1, 1, T, T)
      // Â built explicitly from the same features performerAttention uses (keys: one global stabiliser);
      // FAVOR+ and FAVOR++ (its variance-minimising A for these q, k).
      const estimate = (plusPlus: boolean) => {
        const shape = plusPlus ? optimalFeatureShape(mul(q, c), mul(k, c), null) : undefined;
        const e = keyExponents(mul(k, c), omega, null, shape);
        const kf = exp(sub(e, reduceMax(e, [2, 3], true)));
        const scores = matmul(queryFeatures(mul(q, c), omega, shape), transpose(kf, [0, 1, 3, 2])); // (1, 1, T, T)
        return div(scores, reduceSum(scores, -1, true));
      };
      const [aHat, aHatPP] = [estimate(false), estimate(true)];
      const exe = await compile({ a, aHat, aHatPP, exact: matmul(a, v), approx: matmul(aHat, v), approxPP: matmul(aHatPP, v) }, { params: 'inputs' }, { threads: 2 });
      for (const [orthogonal, plusPlus] of [[true, false], [false, false], [true, true]] as const) {
        let em = 0, eo = 0;
        for (let s = 0; s < 3; s++) {
          const out = await exe.run({ ...feeds, omega: { dtype: 'float32', shape: [m, d], data: drawFeatures(m, d, 17 + s, orthogonal) } });
          em += relErr(out[plusPlus ? 'aHatPP' : 'aHat']!.data as Float32Array, out.a!.data as Float32Array) / 3;
          eo += relErr(out[plusPlus ? 'approxPP' : 'approx']!.data as Float32Array, out.exact!.data as Float32Array) / 3;
        }
        const key = `error_s${sigma}_d${d}_m${m}_${orthogonal ? 'orth' : 'iid'}${plusPlus ? '_favorpp' : ''}`;
        figures[`${key}_matrix`] = +em.toFixed(4);
        figures[`${key}_output`] = +eo.toFixed(4);
        row.push(`${m}${orthogonal ? 'o' : 'i'}${plusPlus ? '++' : ''} ${em.toFixed(2)}/${eo.toFixed(2)}`);
      }
    }
    console.log(`  σ=${sigma} D=${d} (m, o = orthogonal / i = i.i.d. / o++ = orthogonal FAVOR++, matrix/output): ${row.join('  ')}`);
  }
}

// ---- speed and memory ---------------------------------------------------------------------

const KINDS: Record<string, AttentionSpec> = {
  softmax: { kind: 'softmax' },
  'performer64': { kind: 'performer', features: 64 },
  'performer128': { kind: 'performer', features: 128 },
  'performer256': { kind: 'performer', features: 256 },
  linear: { kind: 'linear' },
};

/** Child: one kind at one length; prints {attention_ms, attention_rss_mb, layer_ms, layer_rss_mb}. */
async function speedChild(kindName: string, length: number): Promise<void> {
  const spec = KINDS[kindName]!;
  const hidden = 768, heads = 12;
  const store = new ParamStore(1);
  const x = input('x', 'float32', [1, 'seq', hidden]);
  const mask = input('attention_mask', 'int64', [1, 'seq']);
  // Softmax takes the padding as a [B, 1, 1, T] mask, kernelized kinds as zeroed key features.
  const att = (s: Scope) => attention(s.child('attention'), x, { heads, kind: spec, structure: { padding: mask, causal: false }, mask: spec.kind === 'softmax' ? paddingMask(mask) : null }).output;
  // BERT's post-LN block: Att -> Add -> LN -> FFN -> Add -> LN.
  const layer = (s: Scope) => {
    const h = layerNorm(s.child('ln1'), add(x, att(s)));
    const f = dense(s.child('out'), dense(s.child('inter'), h, 4 * hidden, { activation: 'gelu' }), hidden);
    return layerNorm(s.child('ln2'), add(h, f));
  };
  const r = new Random(length);
  const feeds = { x: randn(r, [1, length, hidden]), attention_mask: { dtype: 'int64', shape: [1, length], data: new BigInt64Array(length).fill(1n) } as HostTensor };
  const out: Record<string, number> = {};
  for (const [name, build] of [['attention', att], ['layer', layer]] as const) {
    const exe = await compile({ y: build(new Scope(store)) }, { params: 'initializers', paramValue: (n) => store.get(n) }, { threads: 2 });
    await exe.run(feeds); // warm-up
    const runs = length <= 2048 ? 3 : 1;
    const t = performance.now();
    for (let i = 0; i < runs; i++) await exe.run(feeds);
    out[`${name}_ms`] = Math.round((performance.now() - t) / runs);
    out[`${name}_rss_mb`] = Math.round(process.resourceUsage().maxRSS / 1024);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function speedTable(): Promise<void> {
  const maxLength = Number(value('--max-length') ?? (full ? 65536 : 4096));
  const softmaxMax = full ? 16384 : 4096;
  const minLength = Number(value('--min-length') ?? 512);
  const kinds = value('--kinds')?.split(',') ?? Object.keys(KINDS);
  const lengths = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536].filter((l) => l >= minLength && l <= maxLength);
  console.log(`speed and peak RSS, batch 1, 12 heads x 64 (hidden 768), bidirectional; ms / MB per point (own process); lengths ${lengths.join(', ')}`);
  const crossover: Record<string, number | null> = {};
  const softmaxMs: Record<number, number> = {};
  const peaks: Record<string, number> = {}; // MB, the last measured layer peak per kind
  for (const length of lengths) {
    const cells: string[] = [];
    for (const kind of kinds) {
      if (!KINDS[kind]) throw new Error(`--kinds: unknown kind '${kind}' (known: ${Object.keys(KINDS).join(', ')})`);
      if (kind === 'softmax' && length > softmaxMax) { cells.push(`${kind} skipped (> ${softmaxMax})`); continue; }
      // Never let a point exhaust the shared machine: predict its peak from the previous length's
      // (softmax's [H, T, T] tensors grow 4x per doubling, the rest 2x) and skip it past 80% of free memory.
      const previous = peaks[kind];
      const predicted = previous === undefined ? 0 : previous * (kind === 'softmax' ? 4 : 2) * 2 ** 20;
      if (predicted > 0.8 * freemem()) {
        cells.push(`${kind} skipped (would need ~${(predicted / 1e9).toFixed(1)} GB, ${(freemem() / 1e9).toFixed(1)} GB free)`);
        figures[`speed_${kind}_${length}`] = `skipped: predicted ${(predicted / 1e9).toFixed(1)} GB`;
        continue;
      }
      const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--speed-child', kind, String(length)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20 * 60e3 });
      const line = child.stdout?.trim().split('\n').pop();
      if (child.status !== 0 || !line?.startsWith('{')) {
        const why = child.signal ?? (child.stderr?.match(/bad_alloc|out of memory|Failed to allocate[^\n]*/i)?.[0] ?? `exit ${child.status}`);
        cells.push(`${kind} FAILED (${why})`);
        figures[`speed_${kind}_${length}`] = `failed: ${why}`;
        continue;
      }
      const f = JSON.parse(line) as Record<string, number>;
      for (const [k, v] of Object.entries(f)) figures[`${kind}_${length}_${k}`] = v;
      peaks[kind] = f.layer_rss_mb!;
      cells.push(`${kind} att ${f.attention_ms} ms/${f.attention_rss_mb} MB, layer ${f.layer_ms} ms/${f.layer_rss_mb} MB`);
      if (kind === 'softmax') softmaxMs[length] = f.attention_ms!;
      else if (crossover[kind] === undefined && softmaxMs[length] !== undefined && f.attention_ms! < softmaxMs[length]!) crossover[kind] = length;
    }
    console.log(`  T=${length}: ${cells.join(' | ')}`);
  }
  for (const kind of kinds.filter((k) => k !== 'softmax')) {
    console.log(`  ${kind}: faster than softmax (attention layer) from T = ${crossover[kind] ?? `none up to ${Math.min(maxLength, softmaxMax)}`}`);
    figures[`crossover_${kind}`] = crossover[kind] ?? 'none';
  }
}

// ---- causal decoding ----------------------------------------------------------------------

async function decodeTable(): Promise<void> {
  const tokens = Number(value('--tokens') ?? (full ? 4096 : 512));
  const config: GPT2Config = { vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, maxPosition: tokens + 32 };
  const store = new ParamStore(1);
  gpt2(new Scope(store), config, { ids: input('input_ids', 'int64', ['batch', 'seq']) }); // seeded weights
  console.log(`causal decoding, GPT-2-small shape (random weights), batch 1, 16-token prompt + ${tokens} tokens; ms/token per segment and state size`);
  const arms = [['kv-cache', undefined], ['performer128', { kind: 'performer', features: 128 } as const], ['linear', { kind: 'linear' } as const]] as const;
  const wanted = value('--kinds')?.split(',') ?? arms.map(([name]) => name);
  const unknown = wanted.filter((k) => !arms.some(([name]) => name === k));
  if (unknown.length) throw new Error(`--kinds for decode: ${unknown.join(', ')} unknown (known: ${arms.map(([name]) => name).join(', ')})`);
  for (const [name, spec] of arms.filter(([name]) => wanted.includes(name))) {
    const lm = new GPT2Decoder(store, config, {}, spec);
    const prompt = Array.from({ length: 16 }, (_, i) => (i * 7919) % config.vocabSize);
    let { state } = await lm.step({ ids: [prompt], positions: [prompt.map((_, i) => i)], attentionMask: [prompt.map(() => 1)], cacheIndex: [0] }, lm.initialState(1));
    const mask = prompt.map(() => 1);
    const segment = Math.max(1, Math.floor(tokens / 8));
    const cells: string[] = [];
    let t = performance.now();
    for (let i = 0; i < tokens; i++) {
      mask.push(1);
      ({ state } = await lm.step({ ids: [[(i * 31) % config.vocabSize]], positions: [[16 + i]], attentionMask: [mask], cacheIndex: [0] }, state));
      if ((i + 1) % segment === 0) {
        const ms = (performance.now() - t) / segment;
        cells.push(`${i + 1 - segment}-${i + 1}: ${ms.toFixed(1)}`);
        figures[`decode_${name}_ms_per_token_at_${i + 1}`] = +ms.toFixed(2);
        t = performance.now();
      }
    }
    const bytes = state.cache.reduce((s, l) => s + Object.values(l).reduce((n, t) => n + t.data.byteLength, 0), 0);
    figures[`decode_${name}_state_mb`] = +(bytes / 2 ** 20).toFixed(2);
    console.log(`  ${name.padEnd(12)} ms/token ${cells.join(', ')}; state after ${16 + tokens} positions ${(bytes / 2 ** 20).toFixed(1)} MB`);
  }
}

// ---- causal training: chunks vs prefix sums -------------------------------------------------

/** The causal form before chunking: prefix sums over positions, memory (B, H, T, m, D). Baseline only. */
function prefixSumForm(qf: Tensor, kf: Tensor, v: Tensor): Tensor {
  const [b, h, t, m] = qf.shape, d = v.shape[3]!;
  const s = cumsum(mul(reshape(kf, [b!, h!, t!, m!, 1]), reshape(v, [b!, h!, t!, 1, d])), 2); // (B, H, T, m, D)
  const num = reshape(matmul(reshape(qf, [b!, h!, t!, 1, m!]), s), [b!, h!, t!, d]);
  return div(num, reduceSum(mul(qf, cumsum(kf, 2)), -1, true));
}

const CAUSAL_KINDS: Record<string, number | null> = { performer128: 128, performer256: 256, linear: null };

/** Child: one kind, form and length; prints {ms, rss_mb, loss} of a forward + backward step. */
async function causalChild(kindName: string, form: string, length: number, chunk: number): Promise<void> {
  const m = CAUSAL_KINDS[kindName];
  if (m === undefined) throw new Error(`unknown kind '${kindName}' (known: ${Object.keys(CAUSAL_KINDS).join(', ')})`);
  const hidden = 768, heads = 12, d = hidden / heads;
  const store = new ParamStore(1);
  const scope = new Scope(store, '', { training: true });
  const x = input('x', 'float32', [1, 'seq', hidden]); // a dynamic T, as in a training graph
  const [q, k, v] = ['query', 'key', 'value'].map((n) => splitHeads(dense(scope.child(n), x, hidden), heads)) as [Tensor, Tensor, Tensor]; // (B, H, T, D)
  let qf: Tensor, kf: Tensor;
  if (m === null) [qf, kf] = [eluFeatures(q), eluFeatures(k)];
  else {
    const omega = input('omega', 'float32', [m, d]);
    const e = keyExponents(mul(k, d ** -0.25), omega, null);
    [qf, kf] = [queryFeatures(mul(q, d ** -0.25), omega), exp(sub(e, reduceMax(e, [2, 3], true)))];
  }
  const context = form === 'prefix' ? prefixSumForm(qf, kf, v) : causalKernelAttention(qf, kf, v, null, chunk).context;
  const y = dense(scope.child('output'), mergeHeads(context), hidden); // (B, T, C)
  const loss = reduceSum(mul(y, y));
  const params = reachableTensors([loss]).filter((t) => t.node.op === 'param');
  const grads = grad(loss, params);
  const outputs: Record<string, Tensor> = { loss };
  grads.forEach((g, i) => (outputs[`grad${i}`] = g));
  const exe = await compile(outputs, { params: 'initializers', paramValue: (n) => store.get(n) }, { threads: 2 });
  const r = new Random(length);
  const feeds: Record<string, HostTensor> = { x: randn(r, [1, length, hidden]) };
  if (m !== null) feeds.omega = { dtype: 'float32', shape: [m, d], data: drawFeatures(m, d, 1) };
  const first = await exe.run(feeds); // warm-up
  const runs = length <= 2048 ? 3 : 1;
  const t = performance.now();
  for (let i = 0; i < runs; i++) await exe.run(feeds);
  process.stdout.write(JSON.stringify({ ms: Math.round((performance.now() - t) / runs), rss_mb: Math.round(process.resourceUsage().maxRSS / 1024), loss: first.loss!.data[0] }) + '\n');
}

async function causalTable(): Promise<void> {
  const lengths = (value('--lengths') ?? '1024,4096').split(',').map(Number);
  const chunk = Number(value('--chunk') ?? DEFAULT_CHUNK);
  const kinds = value('--kinds')?.split(',') ?? Object.keys(CAUSAL_KINDS);
  const forms = value('--forms')?.split(',') ?? ['prefix', 'chunked'];
  console.log(`causal training step (forward + backward), one GPT-2-small-shaped attention layer, batch 1; ms / peak MB per point (own process): prefix sums over positions vs chunks of ${chunk}`);
  const peaks: Record<string, { length: number; mb: number }> = {};
  for (const length of lengths) {
    const cells: string[] = [];
    for (const kind of kinds) {
      const row: Record<string, Record<string, number>> = {};
      for (const form of forms) {
        const key = `${kind}_${form}`;
        // Skip a point whose peak, predicted from the previous length's (linear in T), exceeds 80% of free memory.
        const prev = peaks[key];
        const predicted = prev ? prev.mb * (length / prev.length) * 2 ** 20 : 0;
        if (predicted > 0.8 * freemem()) {
          cells.push(`${kind} ${form} skipped (would need ~${(predicted / 1e9).toFixed(1)} GB, ${(freemem() / 1e9).toFixed(1)} GB free)`);
          figures[`causal_${key}_${length}`] = `skipped: predicted ${(predicted / 1e9).toFixed(1)} GB`;
          continue;
        }
        const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--causal-child', kind, form, String(length), String(chunk)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20 * 60e3 });
        const line = child.stdout?.trim().split('\n').pop();
        if (child.status !== 0 || !line?.startsWith('{')) {
          const why = child.signal ?? (child.stderr?.match(/bad_alloc|out of memory|Failed to allocate[^\n]*/i)?.[0] ?? `exit ${child.status}: ${child.stderr?.trim().split('\n').pop()}`);
          cells.push(`${kind} ${form} FAILED (${why})`);
          figures[`causal_${key}_${length}`] = `failed: ${why}`;
          continue;
        }
        const f = JSON.parse(line) as Record<string, number>;
        row[form] = f;
        peaks[key] = { length, mb: f.rss_mb! };
        figures[`causal_${key}_${length}_ms`] = f.ms!;
        figures[`causal_${key}_${length}_rss_mb`] = f.rss_mb!;
      }
      const { prefix: p, chunked: c } = row;
      if (p && c) {
        cells.push(`${kind}: prefix ${p.ms} ms/${p.rss_mb} MB, chunked ${c.ms} ms/${c.rss_mb} MB (${(p.ms! / c.ms!).toFixed(1)}x faster, ${(p.rss_mb! / c.rss_mb!).toFixed(1)}x less memory; loss rel. diff ${(Math.abs(p.loss! - c.loss!) / Math.abs(p.loss!)).toExponential(1)})`);
      } else if (c) cells.push(`${kind}: chunked ${c.ms} ms/${c.rss_mb} MB`);
    }
    console.log(`  T=${length}: ${cells.join(' | ')}`);
  }
}

// ---- T5's encoder: the relative bias as a band ------------------------------------------------

/** Child: one mT5-small-wide encoder layer (d_model 512, 6 heads × 64, max_distance 128) at one length; prints {ms, rss_mb}. */
async function t5Child(kindName: string, length: number): Promise<void> {
  const config = {
    model_type: 't5', vocab_size: 1000, d_model: 512, d_kv: 64, num_heads: 6, d_ff: 1024, num_layers: 1, num_decoder_layers: 1,
    relative_attention_num_buckets: 32, relative_attention_max_distance: 128, feed_forward_proj: 'relu', dropout_rate: 0,
  };
  const model = buildModel(config, { application: 'encoder', seed: 1, ...(kindName === 'softmax' ? {} : { attention: KINDS[kindName]! }) });
  const r = new Random(length);
  const ids = [Array.from({ length }, () => 2 + Math.floor(r.next() * 990))];
  const feeds = { input_ids: ids, attention_mask: [ids[0]!.map(() => 1)] };
  await model.predict(feeds); // warm-up
  const runs = length <= 2048 ? 3 : 1;
  const t = performance.now();
  for (let i = 0; i < runs; i++) await model.predict(feeds);
  process.stdout.write(JSON.stringify({ ms: Math.round((performance.now() - t) / runs), rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) }) + '\n');
}

async function t5Table(): Promise<void> {
  const lengths = (value('--lengths') ?? '512,2048,8192').split(',').map(Number);
  const kinds = value('--kinds')?.split(',') ?? ['softmax', 'performer128', 'linear'];
  console.log(`T5 encoder layer (mT5-small widths, relative bias; kernelized kinds apply it as a band of 128), batch 1; ms / peak MB per point (own process); lengths ${lengths.join(', ')}`);
  for (const length of lengths) {
    const cells: string[] = [];
    for (const kind of kinds) {
      if (!KINDS[kind]) throw new Error(`--kinds: unknown kind '${kind}' (known: ${Object.keys(KINDS).join(', ')})`);
      const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--t5-child', kind, String(length)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20 * 60e3 });
      const line = child.stdout?.trim().split('\n').pop();
      if (child.status !== 0 || !line?.startsWith('{')) { cells.push(`${kind} FAILED (${child.signal ?? child.stderr?.trim().split('\n').pop()})`); continue; }
      const f = JSON.parse(line) as { ms: number; rss_mb: number };
      figures[`t5_${kind}_${length}_ms`] = f.ms;
      figures[`t5_${kind}_${length}_rss_mb`] = f.rss_mb;
      cells.push(`${kind} ${f.ms} ms/${f.rss_mb} MB`);
    }
    console.log(`  T=${length}: ${cells.join(' | ')}`);
  }
}

if (flag('--speed-child')) {
  await speedChild(value('--speed-child')!, Number(args[args.indexOf('--speed-child') + 2]));
} else if (flag('--t5-child')) {
  await t5Child(value('--t5-child')!, Number(args[args.indexOf('--t5-child') + 2]));
} else if (flag('--causal-child')) {
  const at = args.indexOf('--causal-child');
  await causalChild(args[at + 1]!, args[at + 2]!, Number(args[at + 3]), Number(args[at + 4]));
} else {
  if (!only || only === 'error') await errorTable();
  if (!only || only === 'speed') await speedTable();
  if (!only || only === 'decode') await decodeTable();
  if (!only || only === 'causal') await causalTable();
  if (!only || only === 't5') await t5Table();
  console.log(JSON.stringify(figures));
}
