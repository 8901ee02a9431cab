// int8 quantization (runtime/quantize.ts, quantize(model)): the rewrite, closeness to fp32 per family,
// saving and loading, plain-ORT export, the xiangqi player's choices, and the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildModel, quantize, type Model } from '../../src/models/index.ts';
import { lower, type LoweredModel } from '../../src/runtime/lower.ts';
import { INT4_BLOCK, quantizeInt4, quantizeLowered, QuantizeError, type QuantizeReport } from '../../src/runtime/quantize.ts';
import { decoderFor, generatorFor } from '../../src/generation/forModel.ts';
import { greedy } from '../../src/generation/decode.ts';
import { cosineSimilarity, top1Agreement } from '../../src/metrics/agreement.ts';
import { ConfigError } from '../../src/models/config.ts';
import { Position } from '../../src/xiangqi/board.ts';
import { Player } from '../../src/xiangqi/player/player.ts';
import { loadPlayerModel } from '../../src/xiangqi/player/model.ts';

const BERT = { model_type: 'bert', vocab_size: 300, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128, max_position_embeddings: 64, type_vocab_size: 2 };
const GPT2 = { model_type: 'gpt2', vocab_size: 300, n_positions: 64, n_ctx: 64, n_embd: 64, n_layer: 2, n_head: 4 };
const T5 = { model_type: 't5', vocab_size: 300, d_model: 64, d_kv: 16, d_ff: 128, num_layers: 2, num_heads: 4, relative_attention_num_buckets: 8, decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 };
const IDS = [[2, 15, 27, 39, 101, 77, 250, 3], [2, 44, 45, 46, 47, 3, 0, 0]];
const MASK = [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0, 0]];

const f32 = (t: { data: unknown }) => t.data as Float32Array;
const withTemp = (fn: (dir: string) => Promise<void>) => async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-int8-'));
  try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
};
function lowered(model: Model): LoweredModel {
  return lower(model.outputs, { params: 'initializers', paramValue: (n) => model.store.get(n), name: 'test' });
}

test('dynamic-int8 rewrites every weight MatMul to int8 weights with per-column scales and drops the fp32 kernels', () => {
  const model = buildModel(BERT, { seed: 1, application: 'mlm' });
  const fp32 = lowered(model);
  let report: QuantizeReport | undefined;
  const q = quantizeLowered(fp32, { mode: 'dynamic-int8' }, (r) => { report = r; });
  const weightMatmuls = fp32.nodes.filter((n) => n.opType === 'MatMul').length - 4; // 2 layers x (QK^T, PV) are activation x activation
  assert.equal(report!.matmuls, weightMatmuls);
  const dq = q.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul');
  assert.equal(dq.length, weightMatmuls);
  assert.ok(dq.every((n) => n.domain === 'com.microsoft'));
  for (const n of dq) {
    const w = q.initializers.find((i) => i.name === n.ins[1])!;
    const s = q.initializers.find((i) => i.name === n.ins[2])!;
    assert.equal(w.tensor.dtype, 'int8');
    assert.equal(s.tensor.dtype, 'float32');
    assert.deepEqual(s.tensor.shape, [w.tensor.shape[1]], 'one scale per output column');
    assert.ok((w.tensor.data as Int8Array).some((v) => v === 127 || v === -127), 'each column reaches the int8 range');
  }
  // No 2-D float kernel is left except the word embedding table (read by Gather; not quantized by default).
  const floats2d = q.initializers.filter((i) => i.isParam && i.tensor.dtype === 'float32' && i.tensor.shape.length === 2).map((i) => i.name);
  assert.ok(floats2d.every((n) => /embeddings/.test(n)), `fp32 2-D weights left: ${floats2d.join(', ')}`);
  assert.ok(report!.bytesAfter < report!.bytesBefore);
  // The input model is unchanged (the fp32 original stays usable).
  assert.equal(fp32.nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul').length, 0);
  // With embeddings: the Gather tables are int8 too, and the graph holds no 2-D fp32 weight at all.
  const qe = quantizeLowered(fp32, { mode: 'dynamic-int8', embeddings: true }, (r) => { report = r; });
  assert.ok(report!.gathers >= 2);
  assert.equal(qe.initializers.filter((i) => i.isParam && i.tensor.dtype === 'float32' && i.tensor.shape.length === 2).length, 0);
  // weight-only: DequantizeLinear (per axis 1) before fp32 MatMuls.
  const qw = quantizeLowered(fp32, { mode: 'weight-only-int8' });
  assert.equal(qw.nodes.filter((n) => n.opType === 'DequantizeLinear' && n.attrs.axis === 1).length, weightMatmuls);
  // int4: MatMulNBits over 4-bit blocks along K, 8x smaller than the fp32 kernels.
  const q4 = quantizeLowered(fp32, { mode: 'int4' }, (r) => { report = r; });
  const nbits = q4.nodes.filter((n) => n.opType === 'MatMulNBits' && n.domain === 'com.microsoft');
  assert.equal(nbits.length, weightMatmuls);
  for (const n of nbits) {
    const b = q4.initializers.find((i) => i.name === n.ins[1])!.tensor;
    assert.deepEqual(b.shape, [n.attrs.N, Math.ceil((n.attrs.K as number) / INT4_BLOCK), INT4_BLOCK / 2]);
    assert.equal(b.dtype, 'uint8');
  }
});

test('quantizeInt4: blocks along K, zero point 8, low nibble first, K padded with zeros; round trip within half a step', () => {
  const K = 40, N = 3; // 2 blocks, the second holding 8 values and 24 of padding
  const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % N)));
  const { q, scale, blocks } = quantizeInt4(w, K, N);
  assert.equal(blocks, 2);
  assert.equal(q.length, N * blocks * INT4_BLOCK / 2);
  const at = (k: number, n: number) => {
    const byte = q[(n * blocks + Math.floor(k / INT4_BLOCK)) * (INT4_BLOCK / 2) + ((k % INT4_BLOCK) >> 1)]!;
    return (k % 2 ? byte >> 4 : byte & 15) - 8;
  };
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const s = scale[n * blocks + Math.floor(k / INT4_BLOCK)]!;
      assert.ok(Math.abs(at(k, n) * s - w[k * N + n]!) <= s / 2 + 1e-6, `w[${k}, ${n}]`);
    }
    for (let k = K; k < blocks * INT4_BLOCK; k++) assert.equal(at(k, n), 0, 'padding is zero');
  }
});

test('encoder and MLM outputs stay close to fp32 (cosine >= 0.99, top-1 agreement) in every mode', async () => {
  const model = buildModel(BERT, { seed: 3, application: 'mlm' });
  const ref = await model.predict({ input_ids: IDS, attention_mask: MASK });
  for (const options of [{ mode: 'dynamic-int8' }, { mode: 'dynamic-int8', embeddings: true }, { mode: 'weight-only-int8' }, { mode: 'int4' }] as const) {
    const q = quantize(model, options);
    assert.deepEqual(q.options.quantize, options);
    const out = await q.predict({ input_ids: IDS, attention_mask: MASK });
    const cos = cosineSimilarity(f32(ref.logits!), f32(out.logits!));
    assert.ok(cos >= 0.99, `${JSON.stringify(options)}: cosine ${cos}`);
    assert.ok(top1Agreement(f32(ref.logits!), f32(out.logits!), 300) >= 0.9, JSON.stringify(options));
    assert.notDeepEqual(f32(out.logits!), f32(ref.logits!), 'the quantized model really runs int8');
  }
  assert.equal(model.options.quantize, undefined, 'quantize() leaves the fp32 model as it was');
  const again = await model.predict({ input_ids: IDS, attention_mask: MASK });
  assert.deepEqual(f32(again.logits!), f32(ref.logits!));
  assert.equal(quantize(quantize(model, { mode: 'dynamic-int8' }), null).options.quantize, undefined);
});

test('weight-only-int8 keeps fp32 activations: ORT\'s MatMulNBits fusion must not quantize them', async () => {
  // With graph optimisation 'basic' the DequantizeLinear + MatMul pairs run as written (int8 weights, fp32
  // products); at 'all' ORT fuses them, and at its default accuracy level would quantize x to int8 too.
  const x = { input_ids: IDS, attention_mask: MASK };
  const unfused = await quantize(buildModel(BERT, { seed: 3, application: 'mlm', runtime: { optimization: 'basic' } }), { mode: 'weight-only-int8' }).predict(x);
  const fused = await quantize(buildModel(BERT, { seed: 3, application: 'mlm' }), { mode: 'weight-only-int8' }).predict(x);
  const a = f32(unfused.logits!), b = f32(fused.logits!);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst < 1e-4, `fused weight-only differs from DequantizeLinear + fp32 MatMul by up to ${worst}`);
});

test('GPT-2 decoding with the KV cache runs int8 and follows fp32', async () => {
  const model = buildModel(GPT2, { seed: 5, application: 'lm' });
  const q = quantize(model, { mode: 'dynamic-int8' });
  const ref = await model.predict({ input_ids: IDS });
  const out = await q.predict({ input_ids: IDS });
  assert.ok(cosineSimilarity(f32(ref.logits!), f32(out.logits!)) >= 0.99);
  const prompts = [[5, 9, 200, 31]];
  const a = await greedy(decoderFor(model), prompts, { maxNewTokens: 12 });
  const b = await greedy(decoderFor(q), prompts, { maxNewTokens: 12 });
  const same = a[0]!.filter((t, i) => t === b[0]![i]).length;
  assert.ok(same >= 6, `greedy tokens: fp32 ${a[0]} int8 ${b[0]}`);
  // The decoder's step session is the int8 one: its first step's logits differ from fp32's, slightly.
  const la = (await decoderFor(model).step({ ids: prompts, positions: [[0, 1, 2, 3]], attentionMask: [[1, 1, 1, 1]], cacheIndex: [0] }, decoderFor(model).initialState(1))).logits;
  const lq = (await decoderFor(q).step({ ids: prompts, positions: [[0, 1, 2, 3]], attentionMask: [[1, 1, 1, 1]], cacheIndex: [0] }, decoderFor(q).initialState(1))).logits;
  assert.notDeepEqual(lq, la);
  assert.ok(cosineSimilarity(la, lq) >= 0.99);
});

test('T5 seq2seq (encoder and KV-cached decoder) runs int8 and stays close to fp32', async () => {
  const model = buildModel(T5, { seed: 7 });
  const q = quantize(model, { mode: 'dynamic-int8' });
  const feeds = { input_ids: [[5, 6, 7, 8, 1]], decoder_input_ids: [[0, 9, 10]] };
  const ref = await model.predict(feeds);
  const out = await q.predict(feeds);
  assert.notDeepEqual(f32(out.logits!), f32(ref.logits!));
  assert.ok(cosineSimilarity(f32(ref.logits!), f32(out.logits!)) >= 0.99);
  const ga = await generatorFor(model, [5, 6, 7, 8, 1]);
  const gq = await generatorFor(q, [5, 6, 7, 8, 1]);
  const a = await greedy(ga.lm, [ga.prompt], { maxNewTokens: 6 });
  const b = await greedy(gq.lm, [gq.prompt], { maxNewTokens: 6 });
  assert.ok(a[0]!.filter((t, i) => t === b[0]![i]).length >= 3, `fp32 ${a[0]} int8 ${b[0]}`);
});

test('a quantized model saves and loads as quantized (config records it), bit for bit', withTemp(async (dir) => {
  const model = buildModel(BERT, { seed: 9, application: 'mlm' });
  const q = quantize(model, { mode: 'dynamic-int8', embeddings: true });
  q.save(join(dir, 'q'));
  const config = JSON.parse(readFileSync(join(dir, 'q', 'config.json'), 'utf8'));
  assert.deepEqual(config.bert4ts.quantize, { mode: 'dynamic-int8', embeddings: true });
  const back = buildModel(join(dir, 'q'));
  assert.deepEqual(back.options.quantize, { mode: 'dynamic-int8', embeddings: true });
  const a = await q.predict({ input_ids: IDS });
  const b = await back.predict({ input_ids: IDS });
  assert.deepEqual(f32(b.logits!), f32(a.logits!));
  // The fp32 original saved beside it has no quantization.
  model.save(join(dir, 'fp32'));
  assert.equal(JSON.parse(readFileSync(join(dir, 'fp32', 'config.json'), 'utf8')).bert4ts.quantize, undefined);
  assert.equal(buildModel(join(dir, 'fp32')).options.quantize, undefined);
}));

test('the ONNX export of a quantized model runs in plain onnxruntime and matches predict', withTemp(async (dir) => {
  const model = buildModel(BERT, { seed: 11, application: 'mlm' });
  const q = quantize(model, { mode: 'dynamic-int8', embeddings: true });
  const fp32File = model.exportOnnx(join(dir, 'fp32.onnx'), { externalThreshold: Infinity });
  const file = q.exportOnnx(join(dir, 'int8.onnx'), { externalThreshold: Infinity });
  assert.ok(statSync(file.modelPath).size < 0.6 * statSync(fp32File.modelPath).size, 'int8 weights make the file smaller');
  const session = await ort.InferenceSession.create(file.modelPath);
  const ids = IDS[0]!;
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) {
    const values = name === 'input_ids' ? ids : name === 'attention_mask' ? ids.map(() => 1) : ids.map(() => 0);
    feeds[name] = new ort.Tensor('int64', BigInt64Array.from(values, BigInt), [1, ids.length]);
  }
  const out = await session.run(feeds);
  const expected = await q.predict({ input_ids: [ids] });
  const got = out.logits!.data as Float32Array;
  assert.ok(cosineSimilarity(got, f32(expected.logits!)) > 0.9999);
  await session.release();
}));

test('the xiangqi player takes the quantization as a runtime option and mostly picks the same moves', async () => {
  const model = loadPlayerModel();
  const fp32 = await Player.create(model);
  const int8 = await Player.create(model, { quantize: { mode: 'dynamic-int8' } });
  const pos = Position.start();
  let same = 0, n = 0;
  for (let ply = 0; ply < 12; ply++) {
    const [a, b] = [await fp32.analyse(pos), await int8.analyse(pos)];
    assert.equal(a.length, b.length);
    if (a[0]!.iccs === b[0]!.iccs) same++;
    n++;
    pos.play(a[0]!.move);
  }
  assert.ok(same / n >= 0.75, `same top move in ${same} of ${n} positions`);
});

test('bad quantization options are refused with errors that name the problem', async () => {
  const model = buildModel(BERT, { seed: 1 });
  assert.throws(() => quantize(model, { mode: 'int8' } as never), (e: Error) => e instanceof QuantizeError && /mode must be 'dynamic-int8' or 'weight-only-int8' or 'int4', got "int8"/.test(e.message));
  assert.throws(() => quantize(model, 'dynamic-int8' as never), /must be an object such as \{ mode: 'dynamic-int8' \}/);
  assert.throws(() => quantize(model, { mode: 'dynamic-int8', perChannel: false } as never), /unknown option 'perChannel'/);
  assert.throws(() => quantize(model, { mode: 'dynamic-int8', embeddings: 'yes' } as never), /embeddings must be true or false/);
  assert.throws(() => buildModel(BERT, { quantize: { mode: 'fp8' } as never }), /buildModel options.quantize: mode must be/);
  assert.throws(() => buildModel(BERT, { runtime: { quantize: { mode: 'dynamic-int8' } } }), /give 'quantize' as a build option/);
  assert.throws(() => buildModel({ ...BERT, bert4ts: { format: 1, family: 'bert', application: 'encoder', weights: 'model.safetensors', quantize: { mode: 'int2' } } }),
    (e: Error) => e instanceof ConfigError && /quantize must be a quantization such as/.test(e.message));
  assert.throws(() => top1Agreement([1, 2], [1, 2, 3], 1), /2 and 3 values/);
});

test('bert4ts convert --quantize writes a quantized model directory; bad modes are usage errors', withTemp(async (dir) => {
  const model = buildModel(BERT, { seed: 13, application: 'mlm' });
  model.save(join(dir, 'fp32'));
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/bert4ts.js', 'convert', ...args], { encoding: 'utf8' });
  const ok = cli('--quantize', 'dynamic-int8', join(dir, 'fp32'), join(dir, 'int8'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout.trim()).quantize, { mode: 'dynamic-int8' });
  assert.deepEqual(buildModel(join(dir, 'int8')).options.quantize, { mode: 'dynamic-int8' });
  assert.equal(buildModel(join(dir, 'fp32')).options.quantize, undefined, 'the input directory is unchanged');
  // bert4ts export --onnx of the quantized directory: int8 weights, and plain onnxruntime runs it.
  const exported = spawnSync(process.execPath, ['bin/bert4ts.js', 'export', '--model', join(dir, 'int8'), '--onnx', join(dir, 'int8.onnx')], { encoding: 'utf8' });
  assert.equal(exported.status, 0, exported.stderr);
  const session = await ort.InferenceSession.create(join(dir, 'int8.onnx'));
  const ids = new ort.Tensor('int64', BigInt64Array.from([2n, 15n, 27n, 3n]), [1, 4]);
  const feeds = Object.fromEntries(session.inputNames.map((n) => [n, n === 'input_ids' ? ids : new ort.Tensor('int64', n === 'attention_mask' ? new BigInt64Array(4).fill(1n) : new BigInt64Array(4), [1, 4])]));
  const logits = (await session.run(feeds)).logits!.data as Float32Array;
  const expected = await buildModel(join(dir, 'int8')).predict({ input_ids: [[2, 15, 27, 3]] });
  assert.ok(cosineSimilarity(logits, f32(expected.logits!)) > 0.9999);
  await session.release();
  const bad = cli('--quantize', 'int2', join(dir, 'fp32'), join(dir, 'x'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--quantize must be dynamic-int8 or weight-only-int8 or int4, got "int2"/);
  const notDir = cli('--quantize', 'dynamic-int8', join(dir, 'fp32', 'model.safetensors'), join(dir, 'y'));
  assert.equal(notDir.status, 2);
  assert.match(notDir.stderr, /needs a model directory/);
}));
