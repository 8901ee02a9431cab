// T5 / T5.1.1 / mT5 against the independent PyTorch reference fixtures, both checkpoint namings,
// keepTokens, KV-cached decoding, relative position buckets and config errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, writeTfCheckpoint, type CheckpointReader } from '../../src/checkpoint/index.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { input } from '../../src/graph/ops.ts';
import type { Tensor } from '../../src/graph/tensor.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { compile } from '../../src/runtime/session.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam } from '../../src/training/optimizers.ts';
import type { BuildOptions, Naming, WeightMapping } from '../../src/models/family.ts';
import { buildModel, registerFamily } from '../../src/models/build.ts';
import { parseT5Config, relativePositionBucket, t5Decoder, t5Encoder, t5Family, type LayerCache, type T5Config } from '../../src/models/t5.ts';

const FIXTURES = new URL('../fixtures/reference/', import.meta.url).pathname;
const CASES = ['t5-1.0', 't5.1.1', 'mt5'] as const;
const TOLERANCE = 1e-4;

interface Fixture {
  family: string;
  application: string;
  inputs: Record<string, number[][]>;
  outputs: Record<string, { shape: number[]; data: number[] }>;
  loss: number;
}

function loadCase(name: string): { config: T5Config; rawConfig: Record<string, unknown>; io: Fixture; checkpoint: string } {
  const dir = join(FIXTURES, name);
  const rawConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const io = JSON.parse(readFileSync(join(dir, 'io.json'), 'utf8')) as Fixture;
  return { config: parseT5Config(rawConfig, io.family), rawConfig, io, checkpoint: join(dir, 'model.safetensors') };
}

function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.shape as [number, number];
  const src = t.data as Float32Array;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return { dtype: t.dtype, shape: [c, r], data: out };
}

function takeRows(t: HostTensor, rows: number[]): HostTensor {
  const width = t.shape[1]!;
  const src = t.data as Float32Array;
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(src.subarray(r * width, (r + 1) * width), i * width));
  return { dtype: t.dtype, shape: [rows.length, width], data: out };
}

/**
 * A minimal loader for these tests: transpose to our layout, then keep rows. Checks that the map
 * uses every tensor in the file (nothing silently ignored).
 */
function loadWeights(reader: CheckpointReader, mappings: WeightMapping[], store: ParamStore): void {
  const used = new Set<string>();
  for (const m of mappings) {
    assert.ok(reader.has(m.theirs), `checkpoint lacks '${m.theirs}' (for '${m.ours}')`);
    let t = reader.read(m.theirs);
    if (m.transpose) t = transpose2d(t);
    if (m.rows) t = takeRows(t, m.rows);
    store.set(m.ours, t);
    used.add(m.theirs);
  }
  const unused = reader.list().map((i) => i.name).filter((n) => !used.has(n));
  assert.deepEqual(unused, [], 'tensors in the checkpoint that the weight map does not use');
}

function feed(io: Fixture, names: string[], remap: (id: number) => number = (id) => id): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const name of names) {
    const rows = io.inputs[name]!;
    const isIds = name === 'input_ids' || name === 'decoder_input_ids' || name === 'labels';
    const flat = rows.flat().map((v) => (isIds && v >= 0 ? remap(v) : v));
    feeds[name] = { dtype: 'int64', shape: [rows.length, rows[0]!.length], data: BigInt64Array.from(flat.map(BigInt)) };
  }
  return feeds;
}

async function runSeq2seq(config: T5Config, store: ParamStore, feeds: Record<string, HostTensor>, options: BuildOptions = {}): Promise<Record<string, HostTensor>> {
  const built = t5Family.build(new Scope(store), config, 'seq2seq', options);
  const exe = await compile(built.outputs, { params: 'initializers', paramValue: (n) => store.get(n) });
  try {
    return await exe.run(feeds);
  } finally {
    await exe.release();
  }
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { diff: number; at: number } {
  assert.equal(actual.length, expected.length, 'element count');
  let diff = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= diff)) { diff = d; at = i; } // NaN counts as the worst
  }
  return { diff, at };
}

function assertClose(name: string, actual: HostTensor, expected: { shape: number[]; data: number[] }): void {
  assert.deepEqual(actual.shape, expected.shape, `${name} shape`);
  const { diff, at } = maxAbsDiff(actual.data as Float32Array, expected.data);
  assert.ok(diff <= TOLERANCE, `${name}: max |diff| ${diff} at ${at} (${(actual.data as Float32Array)[at]} vs ${expected.data[at]})`);
}

const SEQ2SEQ_INPUTS = ['input_ids', 'attention_mask', 'decoder_input_ids', 'labels'];

function storeFor(name: string, naming: Naming = 'hf', options: BuildOptions = {}): ParamStore {
  const { config, checkpoint } = loadCase(name);
  const store = new ParamStore(0);
  const reader = openCheckpoint(checkpoint);
  try {
    loadWeights(reader, t5Family.weightMap(config, 'seq2seq', naming, options), store);
  } finally {
    reader.close();
  }
  return store;
}

for (const name of CASES) {
  test(`${name}: seq2seq matches the PyTorch reference (encoder and decoder states, logits, loss) within 1e-4`, async () => {
    const { config, io } = loadCase(name);
    assert.equal(io.application, 'seq2seq');
    const out = await runSeq2seq(config, storeFor(name), feed(io, SEQ2SEQ_INPUTS));
    for (const key of ['encoder_last_hidden_state', 'last_hidden_state', 'logits']) assertClose(`${name} ${key}`, out[key]!, io.outputs[key]!);
    const loss = (out.loss!.data as Float32Array)[0]!;
    assert.ok(Math.abs(loss - io.loss) <= TOLERANCE, `${name} loss ${loss} vs ${io.loss}`);
  });
}

test('buildModel: loads each fixture directory (naming detected) and matches the reference', async () => {
  registerFamily(t5Family); // idempotent; buildModel may already know the family
  for (const name of CASES) {
    const { io } = loadCase(name);
    const dir = join(FIXTURES, name);
    const model = buildModel(dir, { checkpoint: join(dir, 'model.safetensors') });
    assert.equal((model.config as T5Config).version, io.family); // model_type 't5' + gated FFN reads as T5.1.1
    assert.equal(model.application, 'seq2seq');
    assert.equal(model.loadReport!.naming, 'hf');
    assert.deepEqual(model.loadReport!.unexpected, []);
    const out = await model.predict(feed(io, SEQ2SEQ_INPUTS));
    for (const key of ['encoder_last_hidden_state', 'last_hidden_state', 'logits']) assertClose(`buildModel ${name} ${key}`, out[key]!, io.outputs[key]!);
    assert.ok(Math.abs((out.loss!.data as Float32Array)[0]! - io.loss) <= TOLERANCE);
  }
  assert.throws(() => buildModel({ ...loadCase('mt5').rawConfig, feed_forward_proj: 'gated-tanhshrink' }), /config object: unsupported feed_forward_proj/);
});

test('config: versions, tying and FFN are read from the HF configs', () => {
  const t5 = loadCase('t5-1.0').config;
  assert.equal(t5.version, 't5');
  assert.equal(t5.tieWordEmbeddings, true);
  assert.deepEqual([t5.activation, t5.gated], ['relu', false]);
  const v11 = loadCase('t5.1.1').config;
  assert.deepEqual([v11.version, v11.tieWordEmbeddings, v11.activation, v11.gated], ['t5.1.1', false, 'gelu_new', true]);
  const mt5 = loadCase('mt5').config;
  assert.deepEqual([mt5.version, mt5.numLayers, mt5.numDecoderLayers, mt5.relativeAttentionNumBuckets], ['mt5', 2, 3, 32]);
  // An HF 't5' config with a gated FFN is T5.1.1 (google/t5-v1_1-*): it gets the 1.1 checkpoint names.
  assert.equal(parseT5Config(loadCase('t5.1.1').rawConfig, 't5').version, 't5.1.1');
});

test('config: a bert4keras-style mT5 config parses to the same architecture as the HF one', () => {
  const hf = loadCase('mt5').config;
  const b4k = parseT5Config({
    hidden_dropout_prob: 0.1, hidden_size: 16, initializer_range: 0.02, intermediate_size: 40, num_attention_heads: 4,
    attention_head_size: 8, num_hidden_layers: 2, num_decoder_layers: 3, vocab_size: 96, hidden_act: ['gelu', 'linear'],
  }, 'mt5');
  assert.deepEqual(b4k, hf);
});

test('config: unsupported values and unknown keys are refused by name', () => {
  const raw = loadCase('t5.1.1').rawConfig;
  assert.throws(() => parseT5Config({ ...raw, feed_forward_proj: 'gated-tanhshrink' }, 't5.1.1'), /unsupported feed_forward_proj 'gated-tanhshrink'/);
  assert.throws(() => parseT5Config({ ...raw, feed_forward_proj: 'double-gated-gelu' }, 't5.1.1'), /unsupported feed_forward_proj 'double-gated-gelu'/);
  assert.throws(() => parseT5Config({ ...raw, rotary_dim: 8 }, 't5.1.1'), /unknown key 'rotary_dim'/);
  assert.throws(() => parseT5Config({ ...raw, d_kv: 0 }, 't5.1.1'), /'d_kv' must be a positive integer/);
  assert.throws(() => parseT5Config({ ...raw, relative_attention_max_distance: 8 }, 't5.1.1'), /relative_attention_max_distance.*must exceed/);
  assert.throws(() => parseT5Config({ ...raw, model_type: 'bart' }, 't5.1.1'), /model_type 'bart' is not a T5 model/);
  const { d_model: _, ...noModel } = raw;
  assert.throws(() => parseT5Config(noModel, 't5.1.1'), /missing 'd_model'/);
  assert.throws(() => parseT5Config(raw, 'bart'), /unknown family 'bart'/);
  const config = parseT5Config(raw, 't5.1.1');
  assert.throws(() => t5Family.build(new Scope(new ParamStore()), config, 'mlm', {}), /unknown application 'mlm'/);
  assert.throws(() => t5Family.build(new Scope(new ParamStore()), config, 'encoder', { withPool: true }), /withPool does not apply to T5/);
  assert.throws(() => t5Family.build(new Scope(new ParamStore()), config, 'encoder', { keepTokens: [1, 96] }), /keepTokens holds 96/);
});

test('config: gated-silu builds a SiLU-gated FFN (outputs differ from gated-gelu on the same weights)', async () => {
  const { rawConfig, io } = loadCase('t5.1.1');
  const store = storeFor('t5.1.1');
  const silu = parseT5Config({ ...rawConfig, feed_forward_proj: 'gated-silu' }, 't5.1.1');
  assert.deepEqual([silu.activation, silu.gated], ['silu', true]);
  const out = await runSeq2seq(silu, store, feed(io, SEQ2SEQ_INPUTS));
  const { diff } = maxAbsDiff(out.logits!.data as Float32Array, io.outputs.logits!.data);
  assert.ok(diff > 1e-3 && Number.isFinite(diff), `gated-silu logits moved by ${diff}`);
});

test('weight map: names exactly the parameters each application declares', () => {
  for (const name of CASES) {
    const { config } = loadCase(name);
    for (const application of t5Family.applications) {
      const scope = new Scope(new ParamStore());
      t5Family.build(scope, config, application, {});
      const declared = [...scope.declared.keys()].sort();
      for (const naming of ['hf', 'google'] as const) {
        const mapped = t5Family.weightMap(config, application, naming, {}).map((m) => m.ours).sort();
        assert.deepEqual(mapped, declared, `${name} ${application} ${naming}`);
      }
    }
  }
});

/** HF name -> Mesh-TF name and layout, written independently of the family's weight map. */
function toGoogle(hfName: string, t: HostTensor, v11: boolean): [string, HostTensor] {
  const norm = v11 ? 'rms_norm' : 'layer_norm';
  if (hfName === 'shared.weight') return ['shared/embedding', t];
  if (hfName === 'lm_head.weight') return ['decoder/logits/kernel', transpose2d(t)];
  let m = /^(encoder|decoder)\.final_layer_norm\.weight$/.exec(hfName);
  if (m) return [v11 ? `${m[1]}/rms_norm/scale` : `${m[1]}/final_layer_norm/scale`, t];
  m = /^(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.(.*)$/.exec(hfName);
  assert.ok(m, `unexpected HF tensor ${hfName}`);
  const prefix = `${m[1]}/block_${m[2]!.padStart(3, '0')}/layer_${m[3]!.padStart(3, '0')}`;
  const rest = m[4]!;
  if (rest === 'layer_norm.weight') return [`${prefix}/${norm}/scale`, t];
  if (rest === 'SelfAttention.relative_attention_bias.weight') return [`${prefix}/SelfAttention/relative_attention_bias`, transpose2d(t)];
  m = /^(SelfAttention|EncDecAttention)\.([qkvo])\.weight$/.exec(rest);
  if (m) return [`${prefix}/${m[1]}/${m[2]}`, transpose2d(t)];
  m = /^DenseReluDense\.(wi|wi_0|wi_1|wo)\.weight$/.exec(rest);
  assert.ok(m, `unexpected HF tensor ${hfName}`);
  return [`${prefix}/DenseReluDense/${m[1]}/kernel`, transpose2d(t)];
}

for (const name of ['t5-1.0', 'mt5'] as const) {
  test(`${name}: the same weights as a TF checkpoint in Google (Mesh-TF) naming give the same outputs`, async () => {
    const { config, io, checkpoint } = loadCase(name);
    const dir = mkdtempSync(join(tmpdir(), 'bert4ts-t5-'));
    try {
      const hf = openCheckpoint(checkpoint);
      const tensors = hf.list().map((i) => toGoogle(i.name, hf.read(i.name), config.version !== 't5'));
      hf.close();
      writeTfCheckpoint(join(dir, 'model.ckpt'), tensors);
      const store = new ParamStore(0);
      const reader = openCheckpoint(join(dir, 'model.ckpt'));
      try {
        loadWeights(reader, t5Family.weightMap(config, 'seq2seq', 'google', {}), store);
      } finally {
        reader.close();
      }
      const out = await runSeq2seq(config, store, feed(io, SEQ2SEQ_INPUTS));
      for (const key of ['encoder_last_hidden_state', 'last_hidden_state', 'logits']) assertClose(`${name} google ${key}`, out[key]!, io.outputs[key]!);
      // buildModel tells the naming apart by itself.
      registerFamily(t5Family);
      const model = buildModel(join(FIXTURES, name), { checkpoint: join(dir, 'model.ckpt') });
      assert.equal(model.loadReport!.naming, 'google');
      assertClose(`${name} google via buildModel`, (await model.predict(feed(io, SEQ2SEQ_INPUTS), { outputs: ['logits'] })).logits!, io.outputs.logits!);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const name of ['t5-1.0', 't5.1.1'] as const) {
  test(`${name}: keepTokens logits equal the full model's logits at the kept ids`, async () => {
    const { config, io } = loadCase(name);
    const used = [...new Set(SEQ2SEQ_INPUTS.filter((k) => k !== 'attention_mask').flatMap((k) => io.inputs[k]!.flat()).filter((v) => v >= 0))];
    // Kept ids in a shuffled order with a few unused ones, so new id != old id almost everywhere.
    const keep = [...new Set([5, ...used.reverse(), 2, config.vocabSize - 1])];
    const newId = new Map(keep.map((old, i) => [old, i]));
    const options: BuildOptions = { keepTokens: keep };
    const full = await runSeq2seq(config, storeFor(name), feed(io, SEQ2SEQ_INPUTS));
    const trimmed = await runSeq2seq(config, storeFor(name, 'hf', options), feed(io, SEQ2SEQ_INPUTS, (id) => newId.get(id)!), options);
    const V = config.vocabSize, K = keep.length;
    const positions = full.logits!.data.length / V;
    assert.deepEqual(trimmed.logits!.shape, [...full.logits!.shape.slice(0, 2), K]);
    const expected: number[] = [];
    for (let p = 0; p < positions; p++) for (const old of keep) expected.push((full.logits!.data as Float32Array)[p * V + old]!);
    const { diff } = maxAbsDiff(trimmed.logits!.data as Float32Array, expected);
    assert.ok(diff <= 1e-5, `kept logits differ by ${diff}`);
    assertClose('trimmed last_hidden_state', trimmed.last_hidden_state!, { shape: full.last_hidden_state!.shape, data: [...(full.last_hidden_state!.data as Float32Array)] });
  });
}

test('mt5: KV-cached decoding one token at a time gives the full pass logits', async () => {
  const { config, io } = loadCase('mt5');
  const store = storeFor('mt5');
  const feeds = feed(io, SEQ2SEQ_INPUTS);
  const full = await runSeq2seq(config, store, feeds);
  const [B, T] = feeds.decoder_input_ids!.shape as [number, number];
  const S = feeds.input_ids!.shape[1]!;
  const V = config.vocabSize, H = config.numHeads, D = config.dKv, L = config.numDecoderLayers;
  const params = { params: 'initializers' as const, paramValue: (n: string) => store.get(n) };

  // Step 0: encoder + first decoder token, exporting the caches.
  const s0 = new Scope(store);
  const ids = input('input_ids', 'int64', ['batch', 'seq']);
  const mask = input('attention_mask', 'int64', ['batch', 'seq']);
  const firstIds = input('decoder_input_ids', 'int64', ['batch', 1]);
  const encoderHidden = t5Encoder(s0, config, { inputIds: ids, attentionMask: mask });
  const first = t5Decoder(s0, config, { decoderInputIds: firstIds, encoderHidden, encoderAttentionMask: mask });
  const cacheOutputs = (d: { selfCache: LayerCache[]; crossKv?: LayerCache[] }) => Object.fromEntries(d.selfCache.flatMap((c, i) => [[`self_k${i}`, c.k], [`self_v${i}`, c.v]]));
  const firstOutputs: Record<string, Tensor> = { logits: first.logits, ...cacheOutputs(first) };
  first.crossKv.forEach((c, i) => { firstOutputs[`cross_k${i}`] = c.k; firstOutputs[`cross_v${i}`] = c.v; });
  const step0 = await compile(firstOutputs, params);

  // Later steps: one token, the self-attention cache and the cross K/V as inputs (no encoder).
  const s1 = new Scope(store);
  const stepIds = input('decoder_input_ids', 'int64', ['batch', 1]);
  const selfCache = Array.from({ length: L }, (_, i) => ({ k: input(`past_k${i}`, 'float32', ['batch', H, 'past', D]), v: input(`past_v${i}`, 'float32', ['batch', H, 'past', D]) }));
  const crossKv = Array.from({ length: L }, (_, i) => ({ k: input(`cross_k${i}`, 'float32', ['batch', H, 'seq', D]), v: input(`cross_v${i}`, 'float32', ['batch', H, 'seq', D]) }));
  const encMask = input('attention_mask', 'int64', ['batch', 'seq']);
  const next = t5Decoder(s1, config, { decoderInputIds: stepIds, encoderAttentionMask: encMask, selfCache, past: 'past', crossKv });
  assert.equal(next.crossKv[0]!.k, crossKv[0]!.k, 'given cross K/V are passed through, not recomputed');
  // A host cache with spare slots (pastLength) must come with the mask that hides them.
  assert.throws(() => t5Decoder(new Scope(store), config, { decoderInputIds: stepIds, encoderAttentionMask: encMask, selfCache, past: 'past', crossKv, pastLength: input('past_length', 'int64', [1]) }), /pastLength .* needs decoderAttentionMask/);
  const step = await compile({ logits: next.logits, ...cacheOutputs(next) }, params);

  const column = (t: number): HostTensor => {
    const all = feeds.decoder_input_ids!.data as BigInt64Array;
    return { dtype: 'int64', shape: [B, 1], data: BigInt64Array.from({ length: B }, (_, b) => all[b * T + t]!) };
  };
  try {
    const r0 = await step0.run({ input_ids: feeds.input_ids!, attention_mask: feeds.attention_mask!, decoder_input_ids: column(0) });
    assert.deepEqual(r0.cross_k0!.shape, [B, H, S, D]);
    const stepped: Float32Array[] = [r0.logits!.data as Float32Array];
    let cache = Object.fromEntries(Array.from({ length: L }, (_, i) => [[`past_k${i}`, r0[`self_k${i}`]!], [`past_v${i}`, r0[`self_v${i}`]!]]).flat());
    const cross = Object.fromEntries(Array.from({ length: L }, (_, i) => [[`cross_k${i}`, r0[`cross_k${i}`]!], [`cross_v${i}`, r0[`cross_v${i}`]!]]).flat());
    for (let t = 1; t < T; t++) {
      const r = await step.run({ decoder_input_ids: column(t), attention_mask: feeds.attention_mask!, ...cache, ...cross });
      assert.deepEqual(r.self_k0!.shape, [B, H, t + 1, D]);
      stepped.push(r.logits!.data as Float32Array);
      cache = Object.fromEntries(Array.from({ length: L }, (_, i) => [[`past_k${i}`, r[`self_k${i}`]!], [`past_v${i}`, r[`self_v${i}`]!]]).flat());
    }
    // Reassemble [B, T, V] from the per-step [B, 1, V] logits.
    const assembled = new Float32Array(B * T * V);
    stepped.forEach((s, t) => { for (let b = 0; b < B; b++) assembled.set(s.subarray(b * V, (b + 1) * V), (b * T + t) * V); });
    const { diff } = maxAbsDiff(assembled, full.logits!.data as Float32Array);
    assert.ok(diff <= 1e-5, `cached decoding differs from the full pass by ${diff}`);
    assertClose('mt5 cached logits vs reference', { dtype: 'float32', shape: full.logits!.shape, data: assembled }, io.outputs.logits!);
  } finally {
    await step0.release();
    await step.release();
  }
});

test('encoder and decoder applications reproduce the seq2seq parts', async () => {
  const { config, io } = loadCase('t5.1.1');
  const store = storeFor('t5.1.1');
  const params = { params: 'initializers' as const, paramValue: (n: string) => store.get(n) };
  const enc = t5Family.build(new Scope(store), config, 'encoder', {});
  const encExe = await compile(enc.outputs, params);
  const feeds = feed(io, SEQ2SEQ_INPUTS);
  const encOut = await encExe.run({ input_ids: feeds.input_ids!, attention_mask: feeds.attention_mask! });
  await encExe.release();
  assertClose('encoder application', encOut.last_hidden_state!, io.outputs.encoder_last_hidden_state!);
  const dec = t5Family.build(new Scope(store), config, 'decoder', {});
  const decExe = await compile(dec.outputs, params);
  const decOut = await decExe.run({
    encoder_hidden_states: encOut.last_hidden_state!, encoder_attention_mask: feeds.attention_mask!,
    decoder_input_ids: feeds.decoder_input_ids!, labels: feeds.labels!,
  });
  await decExe.release();
  assertClose('decoder application logits', decOut.logits!, io.outputs.logits!);
  assert.ok(Math.abs((decOut.loss!.data as Float32Array)[0]! - io.loss) <= TOLERANCE);
});

test('t5.1.1: trains with the engine (dropout on): loss on a fixed batch falls and the position tables learn', async () => {
  const { config, io } = loadCase('t5.1.1');
  const store = storeFor('t5.1.1');
  const tables = ['encoder', 'decoder'].map((s) => `${s}/block_0/layer_0/SelfAttention/relative_attention_bias`);
  const before = tables.map((n) => Float32Array.from(store.get(n)!.data as Float32Array));
  const trainer = await Trainer.create({
    store, optimizer: adam(1e-2), seed: 3,
    loss: (scope) => t5Family.build(scope, config, 'seq2seq', {}).outputs.loss!,
  });
  const feeds = feed(io, SEQ2SEQ_INPUTS);
  let last = NaN;
  for (let step = 0; step < 40; step++) last = (await trainer.trainStep(feeds)).loss;
  assert.ok(last < io.loss / 4, `loss ${io.loss} -> ${last} after 40 steps`);
  tables.forEach((n, i) => {
    const { diff } = maxAbsDiff(store.get(n)!.data as Float32Array, before[i]!);
    assert.ok(diff > 1e-3, `${n} moved by only ${diff}`);
  });
});

test('relative position buckets: hand-computed values of the default 32 / 128 table', () => {
  const bi = (r: number) => relativePositionBucket(r, true, 32, 128);
  const uni = (r: number) => relativePositionBucket(r, false, 32, 128);
  // Bidirectional: 16 buckets per direction, 8 exact; keys after the query use buckets 16..31.
  assert.deepEqual([0, -1, -7, 1, 7].map(bi), [0, 1, 7, 17, 23]);
  // Log region: 8 + trunc(log(d / 8) / log(16) * 8): d 12 -> 9, 16 -> 10, 127 -> 15; capped at 15 from 128 on.
  assert.deepEqual([-8, -12, -16, -127, -128, -5000].map(bi), [8, 9, 10, 15, 15, 15]);
  assert.deepEqual([8, 16, 5000].map(bi), [24, 26, 31]);
  // Unidirectional: the future is bucket 0; 16 exact; 16 + trunc(log(d / 16) / log(8) * 16): 32 -> 21.
  assert.deepEqual([1, 100, 0, -15, -16, -32, -127, -128, -5000].map(uni), [0, 0, 0, 15, 16, 21, 31, 31, 31]);
});

test('relative position buckets: monotone in distance, within range, direction split when bidirectional', () => {
  for (const [nb, md] of [[8, 16], [16, 32], [32, 128], [64, 256]] as const) {
    for (const bidirectional of [true, false]) {
      let previous = -1;
      for (let d = 0; d <= 3 * md; d++) {
        const b = relativePositionBucket(-d, bidirectional, nb, md);
        assert.ok(b >= previous && b < (bidirectional ? nb / 2 : nb), `${nb}/${md} distance ${d} -> bucket ${b}`);
        if (bidirectional && d > 0) assert.equal(relativePositionBucket(d, true, nb, md), b + nb / 2);
        previous = b;
      }
      assert.equal(previous, (bidirectional ? nb / 2 : nb) - 1, 'far distances share the last bucket');
    }
  }
});
