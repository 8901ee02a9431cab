/**
 * int8 inference: our `quantize(model, { mode: 'dynamic-int8' })` vs fp32 vs transformers.js q8, in one run.
 *
 *   npm --prefix bench/transformersjs ci        # once: transformers.js 4.3.2, apart from the root package.json
 *   npm run bench -- int8 [--quick] [--only bert,gpt2,mlm,xiangqi,sampling] [--mlm-model DIR] [--mlm-dump FILE]
 *
 * What is compared (seeded random weights; the models are written to a temp dir each run):
 * - BERT-base shape (12 layers, hidden 768, 12 heads, FFN 3072, vocab 30,522), forward 1x128 and 8x128:
 *   our fp32 session, our int8 (DynamicQuantizeMatMul, per-column scales, bias folded; and the plain-ONNX
 *   DynamicQuantizeLinear + MatMulInteger form of the same rewrite), our int4 (MatMulNBits), and
 *   transformers.js q8. GPT-2 decoding below times int4 too.
 * - GPT-2-small (12 layers, 768, vocab 50,257): greedy decoding with the KV cache, a 16-token prompt,
 *   ms per generated token (total / new tokens, prompt pass included), ours (decoderFor + greedy) vs
 *   transformers.js `generate({ do_sample: false })`.
 * - transformers.js q8 = the same weights and the same graph (our lowering, exported with the input and
 *   output names transformers.js feeds: input_ids / attention_mask / token_type_ids; GPT-2 with
 *   position_ids, past_key_values.i.key|value in and present.i.key|value out) quantized as
 *   transformers.js's own scripts/quantize.py does for q8 (with our fused q/k/v kernel split back into
 *   the three Linear layers Optimum exports): ONNX Runtime's IntegerOps dynamic
 *   quantization, per-tensor symmetric int8 weights (MatMulInteger after DynamicQuantizeLinear, then the
 *   two scales multiplied in), Gather tables int8 + DequantizeLinear, activations uint8. That file is
 *   written as onnx/model_quantized.onnx beside a Hugging Face config.json and loaded by transformers.js
 *   (`AutoModel` / `AutoModelForCausalLM`, `dtype: 'q8'`, local files only), so its runtime path (its
 *   ORT session options, tensors, generate loop) is the one measured. The published Xenova q8 files are
 *   made by the same quantizer from Optimum's export of the same architecture.
 * - The xiangqi player (models/xiangqi, read only): how often int8 (and int4) picks fp32's top move.
 * - MLM top-1 agreement int8 vs fp32 on models/chinese-small (trained here; read only), at 15% masked
 *   positions (seeded) of CSL dev abstracts (/work/shared/data/corpora/csl, not used in pretraining);
 *   also with int8 embeddings, weight-only-int8, and int4 (MatMulNBits, 4-bit blocks of 32, int8 compute).
 *   --mlm-dump FILE writes these batches (and calibration batches from CSL train) for the PyTorch
 *   simulation of the quantizer, bench/_int8_simulate.py, which tries bias correction and SmoothQuant.
 * - Sampling vs greedy tokens/s: bench/sampling.ts run as a child in this run (its rows are printed),
 *   its sampling_vs_greedy (top-p 0.9 / greedy) copied into this JSON line.
 *
 * Timings are medians, with the variants interleaved round by round so that background load hits each
 * alike; the load average is printed. Ends with one JSON line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildModel, type Model } from '../src/models/build.ts';
import { quantize } from '../src/models/quantize.ts';
import { Random } from '../src/util/random.ts';
import { writeFileAtomic } from '../src/util/files.ts';
import { LoweredModel, type Initializer, type OnnxNode } from '../src/runtime/lower.ts';
import { quantizeLowered } from '../src/runtime/quantize.ts';
import { clearSessionCache } from '../src/runtime/session.ts';
import { decoderFor } from '../src/generation/forModel.ts';
import { tjsEncoderGraph, tjsGpt2Graph, writeTjsDir as writeTjsModelDir } from './_transformersjs.ts';
import { greedy } from '../src/generation/decode.ts';
import { cosineSimilarity, top1Agreement } from '../src/metrics/agreement.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { Position } from '../src/xiangqi/board.ts';
import { Player } from '../src/xiangqi/player/player.ts';
import { loadPlayerModel } from '../src/xiangqi/player/model.ts';

const quick = process.argv.includes('--quick');
// --only bert,gpt2,mlm,xiangqi: run those sections (default: all).
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined);
const SECTIONS = ['bert', 'gpt2', 'mlm', 'xiangqi', 'sampling'];
const only = new Set(onlyArg ? onlyArg.split(',') : SECTIONS);
for (const s of only) if (!SECTIONS.includes(s)) { console.error(`--only: unknown section '${s}' (sections: ${SECTIONS.join(', ')})`); process.exit(2); }
const ROUNDS_1 = quick ? 5 : 15;
const ROUNDS_8 = quick ? 3 : 7;
const NEW_TOKENS = quick ? 16 : 48;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`load average at start: ${load()}`);

// ---- transformers.js (optional) ------------------------------------------------------------------
type Tjs = any;
async function loadTjs(): Promise<Tjs | null> {
  try {
    const req = createRequire(new URL('./transformersjs/package.json', import.meta.url));
    const entry = req.resolve('@huggingface/transformers');
    const mod = await import(pathToFileURL(entry).href);
    const version = JSON.parse(readFileSync(join(entry.split('/dist/')[0]!, 'package.json'), 'utf8')).version;
    console.log(`transformers.js ${version} from bench/transformersjs`);
    return mod;
  } catch (e) {
    console.log(`transformers.js rows skipped: not installed (${(e as Error).message.split('\n')[0]}). Install it with: npm --prefix bench/transformersjs ci`);
    return null;
  }
}
const tjs = await loadTjs();
const work = mkdtempSync(join(tmpdir(), 'bert4ts-int8-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
if (tjs) {
  tjs.env.localModelPath = work + '/';
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
}

/**
 * ONNX Runtime's IntegerOps dynamic quantization as transformers.js's scripts/quantize.py runs it for
 * q8 (per_channel and reduce_range off, QInt8 weights, MatMulConstBOnly, Gather included).
 */
function ortIntegerOpsQ8(model: LoweredModel): LoweredModel {
  const inits = new Map(model.initializers.map((i) => [i.name, i]));
  const producer = new Map<string, OnnxNode>();
  for (const n of model.nodes) for (const o of n.outs) producer.set(o, n);
  const added: Initializer[] = [];
  let k = 0;
  const name = (p: string) => `${p}_ortq${k++}`;
  const constant = (tensor: Initializer['tensor']) => { const n = name('c'); added.push({ name: n, tensor, isParam: false }); return n; };
  const perTensor = (w: Float32Array) => {
    let max = 0;
    for (let i = 0; i < w.length; i++) max = Math.max(max, Math.abs(w[i]!));
    const s = max > 0 ? max / 127 : 1;
    const q = new Int8Array(w.length);
    for (let i = 0; i < w.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / s)));
    return { q, s };
  };
  const constWeight = (v: string): { data: Float32Array; shape: number[] } | undefined => {
    let transposed = false;
    for (;;) {
      const init = inits.get(v);
      if (init) {
        if (!init.isParam || init.tensor.dtype !== 'float32' || init.tensor.shape.length !== 2) return undefined;
        const [r, c] = init.tensor.shape as [number, number];
        const d = init.tensor.data as Float32Array;
        if (!transposed) return { data: d, shape: [r, c] };
        const t = new Float32Array(r * c);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = d[i * c + j]!;
        return { data: t, shape: [c, r] };
      }
      const p = producer.get(v);
      if (!p || !(p.opType === 'Identity' || (p.opType === 'Transpose' && String(p.attrs.perm) === '1,0'))) return undefined;
      if (p.opType === 'Transpose') transposed = !transposed;
      v = p.ins[0]!;
    }
  };
  const zp = constant({ dtype: 'int8', shape: [], data: new Int8Array([0]) });
  const out: OnnxNode[] = [];
  const node = (opType: string, ins: string[], outs: string[], attrs: OnnxNode['attrs'] = {}) => out.push({ name: name(opType), opType, ins, outs, attrs, domain: '' });
  const matmulInteger = (x: string, w: { data: Float32Array; shape: number[] }, y: string) => {
    const { q, s } = perTensor(w.data);
    const wq = constant({ dtype: 'int8', shape: w.shape, data: q });
    const ws = constant({ dtype: 'float32', shape: [], data: new Float32Array([s]) });
    const [xq, xs, xz, acc, accf, sc] = ['xq', 'xs', 'xz', 'acc', 'accf', 'sc'].map(name) as [string, string, string, string, string, string];
    node('DynamicQuantizeLinear', [x], [xq, xs, xz]);
    node('MatMulInteger', [xq, wq, xz, zp], [acc]);
    node('Cast', [acc], [accf], { to: 1 });
    node('Mul', [xs, ws], [sc]);
    node('Mul', [accf, sc], [y]);
  };
  for (const n of model.nodes) {
    // Our attention concatenates the q/k/v kernels into one MatMul; Optimum's export (what transformers.js
    // quantizes) has three Linear layers: three quantized MatMuls, their outputs concatenated.
    const concat = n.opType === 'MatMul' ? producer.get(n.ins[1]!) : undefined;
    if (concat?.opType === 'Concat' && (concat.attrs.axis === 1 || concat.attrs.axis === -1)) {
      const parts = concat.ins.map(constWeight);
      if (parts.every(Boolean)) {
        const ys = parts.map(() => name('qkv'));
        parts.forEach((w, i) => matmulInteger(n.ins[0]!, w!, ys[i]!));
        node('Concat', ys, [n.outs[0]!], { axis: -1 });
        continue;
      }
    }
    const w = n.opType === 'MatMul' ? constWeight(n.ins[1]!) : n.opType === 'Gather' ? constWeight(n.ins[0]!) : undefined;
    if (!w) { out.push(n); continue; }
    if (n.opType === 'MatMul') { matmulInteger(n.ins[0]!, w, n.outs[0]!); continue; }
    const { q, s } = perTensor(w.data);
    const wq = constant({ dtype: 'int8', shape: w.shape, data: q });
    const ws = constant({ dtype: 'float32', shape: [], data: new Float32Array([s]) });
    const g = name('gq');
    node('Gather', [wq, n.ins[1]!], [g], { axis: 0 });
    node('DequantizeLinear', [g, ws, zp], [n.outs[0]!]);
  }
  // What nothing reads any more (the Concat of fp32 kernels) goes.
  const needed = new Set(model.outputs.map((o) => o.name));
  const live = out.reverse().filter((n) => n.outs.some((o) => needed.has(o)) && (n.ins.forEach((i) => needed.add(i)), true)).reverse();
  out.length = 0;
  out.push(...live);
  const used = new Set(out.flatMap((n) => n.ins));
  const initializers = [...model.initializers, ...added].filter((i) => used.has(i.name));
  return new LoweredModel(model.inputs, model.outputs, model.params, out, initializers, model.name);
}

/** A transformers.js model directory in the temp dir: config.json + onnx/model_quantized.onnx (weights inline). */
const writeTjsDir = (dirName: string, config: Record<string, unknown>, onnx: LoweredModel) => writeTjsModelDir(work, dirName, config, onnx);

function int64Rows(rows: number[][]): { data: BigInt64Array; dims: number[] } {
  return { data: BigInt64Array.from(rows.flat().map(BigInt)), dims: [rows.length, rows[0]!.length] };
}

/** Interleaved rounds: each variant once per round; returns the median ms of each. */
async function timeRounds(rounds: number, variants: Record<string, () => Promise<unknown>>): Promise<Record<string, number>> {
  for (const f of Object.values(variants)) await f(); // warm-up: session creation, first-run allocations
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [k, f] of Object.entries(variants)) {
      const t = performance.now();
      await f();
      times[k]!.push(performance.now() - t);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

const result: Record<string, number | string | null> = {};

// ---- BERT-base forward ---------------------------------------------------------------------------
if (only.has('bert')) {
  const hf = { model_type: 'bert', vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512, type_vocab_size: 2, hidden_act: 'gelu', layer_norm_eps: 1e-12 };
  const t0 = performance.now();
  const fp32 = buildModel(hf, { seed: 1, application: 'encoder' });
  console.log(`BERT-base built (seeded random) in ${((performance.now() - t0) / 1000).toFixed(1)} s; outputs ${Object.keys(fp32.outputs).join(', ')}`);
  const int8 = quantize(fp32, { mode: 'dynamic-int8' });
  const int4 = quantize(fp32, { mode: 'int4' });
  process.env.BERT4TS_INT8_PATTERN = 'onnx';
  const int8Onnx = quantize(fp32, { mode: 'dynamic-int8' });
  // Each Model compiles lazily; the pattern is read when the session is made, so make that one now.
  const r = new Random(7);
  const batchOf = (b: number) => Array.from({ length: b }, () => Array.from({ length: 128 }, (_, i) => (i === 0 ? 101 : i === 127 ? 102 : 1000 + r.int(20000))));
  const batches = { 1: batchOf(1), 8: batchOf(8) };
  await int8Onnx.predict({ input_ids: batches[1] });
  delete process.env.BERT4TS_INT8_PATTERN;

  let tjsModel: Tjs | null = null;
  let tjsOurs: Tjs | null = null;
  if (tjs) {
    const lowered = tjsEncoderGraph(fp32);
    writeTjsDir('bert-base-q8', hf, ortIntegerOpsQ8(lowered));
    writeTjsDir('bert-base-ours-int8', hf, quantizeLowered(lowered, { mode: 'dynamic-int8' }));
    tjsModel = await tjs.AutoModel.from_pretrained('bert-base-q8', { dtype: 'q8', local_files_only: true });
    tjsOurs = await tjs.AutoModel.from_pretrained('bert-base-ours-int8', { dtype: 'q8', local_files_only: true });
  }
  const tjsFeeds = (rows: number[][]) => {
    const { data, dims } = int64Rows(rows);
    return {
      input_ids: new tjs.Tensor('int64', data, dims),
      attention_mask: new tjs.Tensor('int64', new BigInt64Array(data.length).fill(1n), dims),
      token_type_ids: new tjs.Tensor('int64', new BigInt64Array(data.length), dims),
    };
  };
  // Agreement of the outputs on the 8x128 batch (random weights: a check that the variants compute the same network).
  const refOut = await fp32.predict({ input_ids: batches[8] });
  const first = Object.keys(refOut)[0]!;
  const ref = refOut[first]!;
  const ours8 = await int8.predict({ input_ids: batches[8] });
  const ours4 = await int4.predict({ input_ids: batches[8] });
  console.log(`BERT-base 8x128 '${first}' cosine vs fp32: ours int8 ${cosineSimilarity(ref.data as Float32Array, ours8[first]!.data as Float32Array).toFixed(5)}, int4 ${cosineSimilarity(ref.data as Float32Array, ours4[first]!.data as Float32Array).toFixed(5)}`);
  if (tjsModel) {
    const t = await tjsModel(tjsFeeds(batches[8]));
    console.log(`BERT-base 8x128 '${first}' cosine vs fp32: transformers.js q8 ${cosineSimilarity(ref.data as Float32Array, t[first].data).toFixed(5)}`);
  }

  for (const b of [1, 8] as const) {
    const ids = batches[b];
    const variants: Record<string, () => Promise<unknown>> = {
      'ours fp32': () => fp32.predict({ input_ids: ids }),
      'ours int8': () => int8.predict({ input_ids: ids }),
      'ours int8 (plain ONNX ops)': () => int8Onnx.predict({ input_ids: ids }),
      'ours int4 (MatMulNBits)': () => int4.predict({ input_ids: ids }),
    };
    if (tjsModel) {
      const feeds = tjsFeeds(ids);
      variants['transformers.js q8'] = () => tjsModel(feeds);
      variants['transformers.js running our int8 file'] = () => tjsOurs(feeds);
    }
    const ms = await timeRounds(b === 1 ? ROUNDS_1 : ROUNDS_8, variants);
    for (const [k, v] of Object.entries(ms)) console.log(`BERT-base ${b}x128  ${k.padEnd(40)} ${v.toFixed(1).padStart(8)} ms`);
    console.log(`  (load average ${load()})`);
    result[`bert_${b}x128_fp32_ms`] = +ms['ours fp32']!.toFixed(1);
    result[`bert_${b}x128_int8_ms`] = +ms['ours int8']!.toFixed(1);
    result[`bert_${b}x128_int8_plain_onnx_ms`] = +ms['ours int8 (plain ONNX ops)']!.toFixed(1);
    result[`bert_${b}x128_int4_ms`] = +ms['ours int4 (MatMulNBits)']!.toFixed(1);
    result[`bert_${b}x128_tjs_q8_ms`] = tjsModel ? +ms['transformers.js q8']!.toFixed(1) : null;
    result[`bert_${b}x128_vs_tjs_q8`] = tjsModel ? +(ms['ours int8']! / ms['transformers.js q8']!).toFixed(3) : null;
    result[`bert_${b}x128_int8_vs_fp32`] = +(ms['ours int8']! / ms['ours fp32']!).toFixed(3);
  }
  await tjsModel?.dispose();
  await tjsOurs?.dispose();
  await clearSessionCache();
}

// ---- GPT-2-small greedy decoding -----------------------------------------------------------------
if (only.has('gpt2')) {
  const hf = { model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_ctx: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: null };
  const t0 = performance.now();
  const fp32: Model = buildModel(hf, { seed: 2, application: 'lm' });
  console.log(`GPT-2-small built (seeded random) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const int8 = quantize(fp32, { mode: 'dynamic-int8' });
  const int4 = quantize(fp32, { mode: 'int4' });
  const r = new Random(3);
  const prompt = [Array.from({ length: 16 }, () => r.int(50000))];
  // Single-token steps run on a 1-thread session (decodeThreads; best for fp32's memory-bound GEMV):
  // int8 is also timed with 2, as its weights are a quarter of the bytes.
  const ours = async (m: Model, decodeThreads?: number) => {
    const lm = decoderFor(m, decodeThreads ? { decodeThreads } : {});
    await greedy(lm, prompt, { maxNewTokens: 2 });
    const t = performance.now();
    const out = await greedy(lm, prompt, { maxNewTokens: NEW_TOKENS });
    if (out[0]!.length !== NEW_TOKENS) throw new Error('generation stopped early');
    return { ms: (performance.now() - t) / NEW_TOKENS, tokens: out[0]! };
  };
  let tjsModel: Tjs | null = null;
  if (tjs) {
    writeTjsDir('gpt2-q8', hf, ortIntegerOpsQ8(tjsGpt2Graph(fp32)));
    tjsModel = await tjs.AutoModelForCausalLM.from_pretrained('gpt2-q8', { dtype: 'q8', local_files_only: true });
  }
  const tjsGenerate = async (n: number) => {
    const { data, dims } = int64Rows(prompt);
    const out = await tjsModel.generate({
      input_ids: new tjs.Tensor('int64', data, dims), attention_mask: new tjs.Tensor('int64', new BigInt64Array(data.length).fill(1n), dims),
      max_new_tokens: n, min_new_tokens: n, do_sample: false,
    });
    return Array.from(out.data as BigInt64Array, Number).slice(prompt[0]!.length);
  };
  const rounds = quick ? 1 : 3;
  const f32: number[] = [], q8: number[] = [], q8t2: number[] = [], q4: number[] = [], tq8: number[] = [];
  let oursTokens: number[] = [], fp32Tokens: number[] = [], tjsTokens: number[] = [], int4Tokens: number[] = [];
  if (tjsModel) await tjsGenerate(2);
  for (let i = 0; i < rounds; i++) {
    const a = await ours(fp32); f32.push(a.ms); fp32Tokens = a.tokens;
    const b = await ours(int8); q8.push(b.ms); oursTokens = b.tokens;
    q8t2.push((await ours(int8, 2)).ms);
    const c = await ours(int4); q4.push(c.ms); int4Tokens = c.tokens;
    if (tjsModel) {
      const t = performance.now();
      tjsTokens = await tjsGenerate(NEW_TOKENS);
      tq8.push((performance.now() - t) / NEW_TOKENS);
    }
  }
  const same = (a: number[], b: number[]) => a.filter((x, i) => x === b[i]).length / a.length;
  console.log(`GPT-2-small greedy, 16-token prompt, ${NEW_TOKENS} new tokens (ms/token, prompt pass included; median of ${rounds}):`);
  console.log(`  ours fp32            ${median(f32).toFixed(1)} ms/token`);
  console.log(`  ours int8            ${median(q8).toFixed(1)} ms/token   (same tokens as fp32: ${(100 * same(oursTokens, fp32Tokens)).toFixed(0)}%)`);
  console.log(`  ours int8, 2 threads ${median(q8t2).toFixed(1)} ms/token   (decoderFor(model, { decodeThreads: 2 }))`);
  console.log(`  ours int4            ${median(q4).toFixed(1)} ms/token   (same tokens as fp32: ${(100 * same(int4Tokens, fp32Tokens)).toFixed(0)}%)`);
  if (tjsModel) console.log(`  transformers.js q8   ${median(tq8).toFixed(1)} ms/token   (same tokens as our fp32: ${(100 * same(tjsTokens, fp32Tokens)).toFixed(0)}%)`);
  console.log(`  (load average ${load()})`);
  result.gpt2_fp32_ms_per_token = +median(f32).toFixed(2);
  result.gpt2_int8_ms_per_token = +median(q8).toFixed(2);
  result.gpt2_int8_2threads_ms_per_token = +median(q8t2).toFixed(2);
  result.gpt2_int4_ms_per_token = +median(q4).toFixed(2);
  result.gpt2_tjs_q8_ms_per_token = tjsModel ? +median(tq8).toFixed(2) : null;
  result.gpt2_ms_per_token_vs_tjs_q8 = tjsModel ? +(median(q8) / median(tq8)).toFixed(3) : null;
  await tjsModel?.dispose();
  await clearSessionCache();
}

// ---- MLM top-1 agreement on a trained model ------------------------------------------------------
if (only.has('mlm')) {
  // --mlm-model DIR: another trained MLM directory (default the shipped one).
  const dir = process.argv.includes('--mlm-model') ? process.argv[process.argv.indexOf('--mlm-model') + 1]! : new URL('../models/chinese-small', import.meta.url).pathname;
  const csl = '/work/shared/data/corpora/csl/dev.tsv';
  if (!existsSync(join(dir, 'config.json')) || !existsSync(csl)) {
    console.log(`MLM agreement skipped: needs ${dir} and ${csl}`);
    result.mlm_top1_agreement = null;
  } else {
    const fp32 = buildModel(dir, { application: 'mlm' });
    const tokenizer = await loadTokenizer(dir);
    const mask = tokenizer.tokenToId('[MASK]')!;
    // CSL rows are title \t abstract \t ...: the abstracts.
    const abstracts = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[1] ?? l);
    // Batches of 16 abstracts, 15% of the tokens (not [CLS]/[SEP]) masked, seeded; rows = the masked positions.
    const maskedBatches = (texts: string[], seed: number) => {
      const r = new Random(seed);
      const batches = [];
      for (let i = 0; i < texts.length; i += 16) {
        const ids = texts.slice(i, i + 16).map((t) => tokenizer.encode(t, undefined, { maxlen: 128 }).ids);
        const len = Math.max(...ids.map((x) => x.length));
        const rows: number[] = [];
        const input_ids = ids.map((row, b) => {
          const out = row.map((id, j) => {
            if (j === 0 || j === row.length - 1 || r.next() >= 0.15) return id;
            rows.push(b * len + j);
            return mask;
          });
          return [...out, ...Array(len - out.length).fill(0)];
        });
        const attention_mask = ids.map((row) => [...row.map(() => 1), ...Array(len - row.length).fill(0)]);
        batches.push({ input_ids, attention_mask, rows });
      }
      return batches;
    };
    const batches = maskedBatches(abstracts(csl).slice(0, quick ? 64 : 256), 11);
    const dump = process.argv.includes('--mlm-dump') ? process.argv[process.argv.indexOf('--mlm-dump') + 1]! : undefined;
    if (dump) {
      // For bench/_int8_simulate.py: these batches, and calibration batches from 128 CSL train abstracts.
      const train = abstracts(csl.replace('dev.tsv', 'train.tsv')).slice(0, 128);
      writeFileAtomic(dump, JSON.stringify({ eval: batches, calibration: maskedBatches(train, 12) }));
      console.log(`MLM batches written to ${dump}`);
    }
    const int8 = quantize(fp32, { mode: 'dynamic-int8' });
    const int8Emb = quantize(fp32, { mode: 'dynamic-int8', embeddings: true });
    const weightOnly = quantize(fp32, { mode: 'weight-only-int8' });
    const int4 = quantize(fp32, { mode: 'int4' });
    const counts = { same: 0, sameEmb: 0, sameWeightOnly: 0, same4: 0, masked: 0, allSame: 0, all: 0, cos: [] as number[], cos4: [] as number[], decided: 0, sameDecided: 0, flipGaps: [] as number[], flipPairs: new Map<string, number>() };
    const argmaxAt = (x: Float32Array, row: number, V: number) => { let best = row * V; for (let v = best + 1; v < (row + 1) * V; v++) if (x[v]! > x[best]!) best = v; return best - row * V; };
    // fp32's top-1 minus top-2 logit at a row: where it is a near-tie, any change of the weights may flip the pick.
    const gapAt = (x: Float32Array, row: number, V: number) => {
      let b1 = -Infinity, b2 = -Infinity;
      for (let v = row * V; v < (row + 1) * V; v++) { const y = x[v]!; if (y > b1) { b2 = b1; b1 = y; } else if (y > b2) b2 = y; }
      return b1 - b2;
    };
    const NEAR_TIE = 0.1;
    for (const { input_ids, attention_mask, rows } of batches) {
      const len = input_ids[0]!.length;
      const a = (await fp32.predict({ input_ids, attention_mask })).logits!.data as Float32Array;
      const b = (await int8.predict({ input_ids, attention_mask })).logits!.data as Float32Array;
      const e = (await int8Emb.predict({ input_ids, attention_mask })).logits!.data as Float32Array;
      const w = (await weightOnly.predict({ input_ids, attention_mask })).logits!.data as Float32Array;
      const f = (await int4.predict({ input_ids, attention_mask })).logits!.data as Float32Array;
      const V = a.length / (input_ids.length * len);
      counts.same += top1Agreement(a, b, V, rows) * rows.length;
      counts.sameEmb += top1Agreement(a, e, V, rows) * rows.length;
      counts.sameWeightOnly += top1Agreement(a, w, V, rows) * rows.length;
      counts.same4 += top1Agreement(a, f, V, rows) * rows.length;
      counts.cos4.push(cosineSimilarity(a, f));
      counts.masked += rows.length;
      for (const p of rows) {
        const gap = gapAt(a, p, V), same = top1Agreement(a.subarray(p * V, (p + 1) * V), b.subarray(p * V, (p + 1) * V), V) === 1;
        if (gap >= NEAR_TIE) { counts.decided++; if (same) counts.sameDecided++; }
        if (!same) {
          counts.flipGaps.push(gap);
          const pair = `${tokenizer.idToToken(argmaxAt(a, p, V))} -> ${tokenizer.idToToken(argmaxAt(b, p, V))}`;
          counts.flipPairs.set(pair, (counts.flipPairs.get(pair) ?? 0) + 1);
        }
      }
      const real = attention_mask.flatMap((m, bi) => m.map((x, j) => (x ? bi * len + j : -1))).filter((x) => x >= 0);
      counts.allSame += top1Agreement(a, b, V, real) * real.length;
      counts.all += real.length;
      counts.cos.push(cosineSimilarity(a, b));
    }
    const agreement = counts.same / counts.masked;
    console.log(`MLM top-1 agreement int8 vs fp32, ${dir}, ${quick ? 64 : 256} CSL dev abstracts: ${(100 * agreement).toFixed(2)}% of ${counts.masked} masked positions ` +
      `(${(100 * counts.sameEmb / counts.masked).toFixed(2)}% with int8 embeddings too, weight-only-int8 ${(100 * counts.sameWeightOnly / counts.masked).toFixed(2)}%); all ${counts.all} positions ${(100 * counts.allSame / counts.all).toFixed(2)}%; ` +
      `logit cosine (min over batches) ${Math.min(...counts.cos).toFixed(5)}; int4 (MatMulNBits): ${(100 * counts.same4 / counts.masked).toFixed(2)}% of masked positions, cosine (min) ${Math.min(...counts.cos4).toFixed(5)}`);
    result.mlm_top1_agreement = +agreement.toFixed(4);
    result.mlm_top1_agreement_int8_embeddings = +(counts.sameEmb / counts.masked).toFixed(4);
    result.mlm_top1_agreement_weight_only = +(counts.sameWeightOnly / counts.masked).toFixed(4);
    result.mlm_logit_cosine_min = +Math.min(...counts.cos).toFixed(5);
    const flips = counts.flipGaps.sort((x, y) => x - y);
    console.log(`  where fp32's top-1 leads its top-2 by >= ${NEAR_TIE} logit (${(100 * counts.decided / counts.masked).toFixed(1)}% of masked positions): int8 agrees on ${(100 * counts.sameDecided / counts.decided).toFixed(2)}%; ` +
      `the ${flips.length} flips sit at fp32 gaps of median ${(flips[Math.floor(flips.length / 2)] ?? 0).toFixed(3)}, max ${(flips[flips.length - 1] ?? 0).toFixed(3)} logit`);
    console.log(`  the most frequent flips (fp32's pick -> int8's): ${[...counts.flipPairs].sort((x, y) => y[1] - x[1]).slice(0, 12).map(([k, n]) => `${k} ${n}`).join(', ')}`);
    result.mlm_top1_agreement_decided = +(counts.sameDecided / counts.decided).toFixed(4);
    result.mlm_decided_share = +(counts.decided / counts.masked).toFixed(4);
    result.mlm_top1_agreement_int4 = +(counts.same4 / counts.masked).toFixed(4);
    result.mlm_logit_cosine_min_int4 = +Math.min(...counts.cos4).toFixed(5);
  }
}

// ---- the xiangqi player: the same move? -----------------------------------------------------------
if (only.has('xiangqi')) {
  const model = loadPlayerModel();
  const fp32 = await Player.create(model);
  const int8 = await Player.create(model, { quantize: { mode: 'dynamic-int8' } });
  const int4 = await Player.create(model, { quantize: { mode: 'int4' } });
  const r = new Random(5);
  let same = 0, same4 = 0, n = 0, games = 0;
  const cos: number[] = [];
  while (n < (quick ? 20 : 100)) {
    const pos = Position.start();
    games++;
    for (let ply = 0; ply < 40 && n < (quick ? 20 : 100); ply++) {
      const [a, b] = [await fp32.analyse(pos), await int8.analyse(pos)];
      if (!a.length) break;
      if (a[0]!.iccs === b[0]!.iccs) same++;
      if (a[0]!.iccs === (await int4.analyse(pos))[0]!.iccs) same4++;
      const byMove = new Map(b.map((m) => [m.iccs, m.logProb]));
      cos.push(cosineSimilarity(a.map((m) => m.logProb), a.map((m) => byMove.get(m.iccs)!)));
      n++;
      // Vary the games: mostly the model's move, sometimes another of its top three.
      pos.play(a[Math.min(a.length - 1, r.next() < 0.3 ? 1 + r.int(2) : 0)]!.move);
    }
  }
  console.log(`xiangqi player (models/xiangqi), ${n} positions from ${games} games: int8 picks the fp32 top move in ${(100 * same / n).toFixed(1)}%; move log-prob cosine (min) ${Math.min(...cos).toFixed(5)}; int4: ${(100 * same4 / n).toFixed(1)}%`);
  result.xiangqi_move_agreement = +(same / n).toFixed(4);
  result.xiangqi_move_agreement_int4 = +(same4 / n).toFixed(4);
  await clearSessionCache();
}

// ---- sampling vs greedy (bench/sampling.ts, run here so that the issue's JSON line holds it) --------
if (only.has('sampling')) {
  const script = new URL('./sampling.ts', import.meta.url).pathname;
  const child = spawnSync(process.execPath, ['--import', 'tsx', script, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status !== 0) throw new Error(`bench/sampling.ts failed (exit ${child.status})`);
  const lines = child.stdout.trim().split('\n');
  for (const l of lines.slice(0, -1)) console.log(`sampling: ${l}`);
  const figures = JSON.parse(lines[lines.length - 1]!) as Record<string, number>;
  for (const k of ['sampling_vs_greedy', 'sampling_vs_greedy_cpu', 'full_sort_sampling_vs_greedy']) result[k] = figures[k] ?? null;
}

result.load_average_end = load();
console.log(JSON.stringify(result));
