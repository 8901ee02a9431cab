/**
 * Engine benchmark: BERT-base-shaped forward (1x128, 8x128) through our graph vs the same network
 * written directly in ONNX; training steps (2-layer LM, 12-layer BERT-base MLM with peak RSS); and,
 * where /usr/bin/python3 has torch, the same networks in PyTorch in the same run.
 *   npm run bench -- engine [--quick]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { add, gather, input, matmul, reshape, slice, transpose } from '../src/graph/ops.ts';
import { crossEntropy } from '../src/graph/composite.ts';
import type { HostTensor } from '../src/graph/dtype.ts';
import type { Tensor } from '../src/graph/tensor.ts';
import { attention } from '../src/nn/attention.ts';
import { dense, embedding, feedForward, layerNorm } from '../src/nn/layers.ts';
import { ParamStore, Scope, initializers } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { gpt2 } from '../src/models/gpt2.ts';
import { compile } from '../src/runtime/session.ts';
import { Trainer } from '../src/training/trainer.ts';
import { adamW } from '../src/training/optimizers.ts';
import { ProtoWriter } from '../src/runtime/protobuf.ts';

const quick = process.argv.includes('--quick');
const H = 768, L = 12, HEADS = 12, FFN = 3072, VOCAB = 21128, T = 128;

/** Post-LN BERT encoder (as in the paper) built from our layers. */
function bertEncoder(scope: Scope, ids: Tensor, layers = L): Tensor {
  const { output: tok } = embedding(scope.child('embeddings'), ids, VOCAB, H, 'word_embeddings');
  const pos = scope.child('embeddings').param('position_embeddings', [512, H], initializers.truncatedNormal());
  let h = layerNorm(scope.child('embeddings/LayerNorm'), add(tok, reshape(slice(pos, 0, 0, 'seq'), [1, 'seq', H])));
  for (let i = 0; i < layers; i++) {
    const s = scope.child(`layer_${i}`);
    h = layerNorm(s.child('attention/LayerNorm'), add(h, attention(s.child('attention'), h, { heads: HEADS }).output));
    h = layerNorm(s.child('output/LayerNorm'), add(h, feedForward(s, h, { innerSize: FFN })));
  }
  return h;
}

function ids(batch: number, seq: number, vocab: number, seed = 1): HostTensor {
  const r = new Random(seed);
  return { dtype: 'int64', shape: [batch, seq], data: BigInt64Array.from({ length: batch * seq }, () => BigInt(r.int(vocab))) };
}

async function medianMs(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

const bertFlops = (batch: number) => L * (2 * batch * T * (4 * H * H + 2 * H * FFN) + 4 * batch * T * T * H);

/**
 * The same encoder written directly as ONNX nodes (no engine in between): the yardstick for the
 * engine's own overhead. Weights are the same values.
 */
function directBert(store: ParamStore): Uint8Array {
  const nodes: ProtoWriter[] = [];
  const inits: ProtoWriter[] = [];
  let k = 0;
  const node = (op: string, ins: string[], attrs: [string, number | number[]][] = []): string => {
    const out = `d${k++}`;
    const n = new ProtoWriter();
    ins.forEach((i) => n.string(1, i));
    n.string(2, out).string(4, op);
    for (const [name, v] of attrs) {
      const a = new ProtoWriter().string(1, name);
      if (Array.isArray(v)) a.packedInts(8, v).int(20, 7);
      else if (Number.isInteger(v)) a.int(3, v).int(20, 2);
      else a.float(2, v).int(20, 1);
      n.message(5, a);
    }
    nodes.push(n);
    return out;
  };
  const init = (name: string, t: HostTensor) => {
    const w = new ProtoWriter().packedInts(1, t.shape).int(2, t.dtype === 'int64' ? 7 : 1).string(8, name);
    w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    inits.push(w);
    return name;
  };
  const p = (name: string) => init(name, store.get(name)!);
  const ints = (v: number[]) => init(`i${k++}`, { dtype: 'int64', shape: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
  const f = (v: number) => init(`f${k++}`, { dtype: 'float32', shape: [], data: new Float32Array([v]) });
  const ln = (x: string, s: string) => node('LayerNormalization', [x, p(`${s}/gamma`), p(`${s}/beta`)], [['axis', -1], ['epsilon', 1e-12 + 0.5e-12]]);
  const lin = (x: string, s: string) => node('Add', [node('MatMul', [x, p(`${s}/kernel`)]), p(`${s}/bias`)]);
  const tok = node('Gather', [p('embeddings/word_embeddings'), 'input_ids']);
  const seqLen = node('Shape', ['input_ids'], [['start', 1], ['end', 2]]);
  const pos = node('Slice', [p('embeddings/position_embeddings'), ints([0]), seqLen, ints([0])]);
  let h = ln(node('Add', [tok, pos]), 'embeddings/LayerNorm');
  const heads = (x: string) => node('Transpose', [node('Reshape', [x, ints([0, 0, HEADS, H / HEADS])])], [['perm', [0, 2, 1, 3]]]);
  for (let i = 0; i < L; i++) {
    const s = `layer_${i}`;
    const q = heads(lin(h, `${s}/attention/query`)), kk = heads(lin(h, `${s}/attention/key`)), v = heads(lin(h, `${s}/attention/value`));
    const scores = node('Div', [node('MatMul', [q, node('Transpose', [kk], [['perm', [0, 1, 3, 2]]])]), f(Math.sqrt(H / HEADS))]);
    const ctx = node('Reshape', [node('Transpose', [node('MatMul', [node('Softmax', [scores], [['axis', -1]]), v])], [['perm', [0, 2, 1, 3]]]), ints([0, 0, H])]);
    h = ln(node('Add', [h, lin(ctx, `${s}/attention/output`)]), `${s}/attention/LayerNorm`);
    const inner = lin(h, `${s}/intermediate`);
    const gelu = node('Mul', [node('Mul', [inner, f(0.5)]), node('Add', [node('Erf', [node('Mul', [inner, f(Math.SQRT1_2)])]), f(1)])]);
    h = ln(node('Add', [h, lin(gelu, `${s}/output`)]), `${s}/output/LayerNorm`);
  }
  const graph = new ProtoWriter();
  nodes.forEach((n) => graph.message(1, n));
  graph.string(2, 'direct');
  inits.forEach((i) => graph.message(5, i));
  const dims = (d: (number | string)[]) => { const s = new ProtoWriter(); d.forEach((x) => s.message(1, typeof x === 'number' ? new ProtoWriter().int(1, x) : new ProtoWriter().string(2, x))); return s; };
  const vi = (name: string, type: number, d: (number | string)[]) => new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, new ProtoWriter().int(1, type).message(2, dims(d))));
  graph.message(11, vi('input_ids', 7, ['batch', 'seq']));
  graph.message(12, vi(h, 1, ['batch', 'seq', H]));
  const model = new ProtoWriter().int(1, 8).string(2, 'direct').message(7, graph).message(8, new ProtoWriter().string(1, '').int(2, 17));
  return model.toBytes();
}

async function forwardBench() {
  const store = new ParamStore(0);
  const h = bertEncoder(new Scope(store), input('input_ids', 'int64', ['batch', 'seq']));
  const ours = await compile({ h }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const direct = await ort.InferenceSession.create(directBert(store), { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
  const rows: Record<string, number> = {};
  for (const batch of [1, 8]) {
    const feed = ids(batch, T, VOCAB);
    const reps = quick ? 2 : batch === 1 ? 10 : 4;
    // Same numbers from both: a check that the yardstick is the same network.
    const a = (await ours.run({ input_ids: feed })).h!.data as Float32Array;
    const b = (await direct.run({ input_ids: new ort.Tensor('int64', feed.data as BigInt64Array, feed.shape) }))[direct.outputNames[0]!]!.data as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i += 97) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    const oursMs = await medianMs(() => ours.run({ input_ids: feed }), reps);
    const directMs = await medianMs(() => direct.run({ input_ids: new ort.Tensor('int64', feed.data as BigInt64Array, feed.shape) }), reps);
    const gflops = bertFlops(batch) / oursMs / 1e6;
    console.log(`BERT-base forward ${batch}x${T}: ours ${oursMs.toFixed(1)} ms (${gflops.toFixed(0)} GFLOPS), direct ONNX ${directMs.toFixed(1)} ms, ratio ${(oursMs / directMs).toFixed(3)} (max |diff| ${maxDiff.toExponential(1)})`);
    rows[`bert_forward_${batch}x128_ms`] = oursMs;
    rows[`bert_forward_${batch}x128_gflops`] = gflops;
    rows[`bert_forward_${batch}x128_direct_ms`] = directMs;
    rows[`bert_forward_${batch}x128_vs_direct`] = oursMs / directMs;
  }
  await ours.release();
  await direct.release();
  return rows;
}

async function lmStepBench() {
  const store = new ParamStore(0);
  const config = { vocabSize: 100, hiddenSize: 256, numLayers: 2, numHeads: 4, intermediateSize: 1024, maxPosition: 128 };
  const trainer = await Trainer.create({
    store, optimizer: adamW(1e-3),
    loss: (scope) => crossEntropy(gpt2(scope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits, input('labels', 'int64', ['batch', 'seq'])),
  });
  const batch = { ids: ids(8, 128, 100), labels: ids(8, 128, 100, 2) };
  const ms = await medianMs(() => trainer.trainStep(batch), quick ? 3 : 15);
  console.log(`2-layer LM train step 8x128 (AdamW): ${ms.toFixed(1)} ms`);
  return { lm_train_step_ms: ms };
}

/**
 * BERT-base MLM step, run in a child process so its peak RSS is its own. As in Google's BERT
 * pre-training, the MLM head runs only at the masked positions (max_predictions_per_seq = 20 at
 * 128 tokens), gathered from the flattened sequence output.
 */
async function mlmStepChild() {
  const store = new ParamStore(0);
  const PREDICTIONS = 20;
  const trainer = await Trainer.create({
    store, optimizer: adamW(1e-4),
    loss: (scope) => {
      const h = bertEncoder(scope, input('input_ids', 'int64', ['batch', 'seq']));
      const masked = gather(reshape(h, [-1, H]), input('masked_positions', 'int64', ['predictions'])); // (N, H)
      const t = layerNorm(scope.child('cls/transform/LayerNorm'), dense(scope.child('cls/transform'), masked, H, { activation: 'gelu' }));
      const table = scope.child('embeddings').param('word_embeddings', [VOCAB, H], initializers.truncatedNormal());
      const logits = add(matmul(t, transpose(table, [1, 0])), scope.param('cls/output_bias', [VOCAB], initializers.zeros()));
      return crossEntropy(logits, input('masked_labels', 'int64', ['predictions']));
    },
  });
  const r = new Random(3);
  const positions = BigInt64Array.from({ length: 8 * PREDICTIONS }, (_, i) => BigInt(Math.floor(i / PREDICTIONS) * 128 + ((i % PREDICTIONS) * 6 + 1)));
  const labels = BigInt64Array.from({ length: 8 * PREDICTIONS }, () => BigInt(r.int(VOCAB)));
  const batch = {
    input_ids: ids(8, 128, VOCAB),
    masked_positions: { dtype: 'int64' as const, shape: [8 * PREDICTIONS], data: positions },
    masked_labels: { dtype: 'int64' as const, shape: [8 * PREDICTIONS], data: labels },
  };
  const ms = await medianMs(() => trainer.trainStep(batch), quick ? 1 : 3);
  const rss = (process.resourceUsage().maxRSS * 1024) / 1e9; // decimal GB
  process.stdout.write(JSON.stringify({ bert_mlm_step_ms: ms, bert_mlm_peak_rss_gb: rss }) + '\n');
}

function torchSide(): Record<string, number> | null {
  const py = '/usr/bin/python3';
  if (!existsSync(py) || spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return null;
  const r = spawnSync(py, [new URL('./_engine_torch.py', import.meta.url).pathname], { env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '2' }, encoding: 'utf8' });
  if (r.status !== 0) { console.log(`(PyTorch side failed: ${r.stderr.slice(-300)})`); return null; }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

if (process.argv.includes('--mlm-child')) {
  await mlmStepChild();
} else {
  const figures: Record<string, number> = {};
  Object.assign(figures, await forwardBench());
  Object.assign(figures, await lmStepBench());
  const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--mlm-child', ...(quick ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (child.status === 0) {
    const mlm = JSON.parse(child.stdout.trim().split('\n').pop()!);
    console.log(`BERT-base MLM train step 8x128 (AdamW): ${mlm.bert_mlm_step_ms.toFixed(0)} ms, peak RSS ${mlm.bert_mlm_peak_rss_gb.toFixed(2)} GB (target <= 4 GB)`);
    Object.assign(figures, mlm);
  } else console.log('BERT-base MLM step failed');
  const torch = torchSide();
  if (torch) {
    for (const [k, v] of Object.entries(torch)) {
      figures[`torch_${k}`] = v;
      if (figures[k] !== undefined) console.log(`PyTorch ${k}: ${v.toFixed(1)} ms; ours is ${(v / figures[k]!).toFixed(2)}x faster`);
    }
  } else console.log('PyTorch not available (/usr/bin/python3 with torch): skipping the side-by-side');
  console.log(`targets: LM step <= 65 ms; BERT forward <= 111 ms (1x128) and <= 800 ms (8x128) (transformers.js); <= 1.15x direct ONNX`);
  console.log(JSON.stringify(figures));
}
