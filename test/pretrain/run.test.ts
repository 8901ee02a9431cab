// Pretraining runs on a tiny model and text written in-test: the gathered head is the 'mlm' model's
// head, held-out accuracy improves, a resumed run is bit-for-bit the uninterrupted one, and the
// exported directory loads with buildModel / loadTokenizer and scores the same, and a run started
// from it (init) continues where it ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { compile } from '../../src/runtime/session.ts';
import { buildModel } from '../../src/models/build.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { SafetensorsReader } from '../../src/checkpoint/safetensors.ts';
import { bertConfigJson, evaluateMlm, gatheredMlm, parseConfig } from '../../src/training/pretrain/model.ts';
import { maskedBatch, packRows } from '../../src/training/pretrain/data.ts';
import { betterHeldOut, DEFAULT_SETTINGS, pretrain, type PretrainSettings } from '../../src/training/pretrain/run.ts';
import { evaluateModelDir, exportRun } from '../../src/training/pretrain/export.ts';

const LINES = ['床前明月光', '疑是地上霜', '举头望明月', '低头思故乡', '春眠不觉晓', '处处闻啼鸟', '夜来风雨声', '花落知多少', '白日依山尽', '黄河入海流'];

/** A folder of TXT documents (one per line): random runs of consecutive poem lines, so every character is predictable from its neighbours. */
function writeCorpus(dir: string, docs = 400): { corpus: string; vocab: string } {
  const r = new Random(5);
  const lines: string[] = [];
  for (let d = 0; d < docs; d++) {
    const start = r.int(LINES.length), n = 2 + r.int(4);
    lines.push(Array.from({ length: n }, (_, i) => LINES[(start + i) % LINES.length]).join('，') + `。${d}`);
  }
  mkdirSync(join(dir, 'corpus'));
  writeFileSync(join(dir, 'corpus', 'poems.txt'), lines.join('\n') + '\n');
  const chars = [...new Set(LINES.join('') + '，。0123456789')].sort();
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '[unused1]', ...chars, 'rare'].join('\n') + '\n');
  return { corpus: join(dir, 'corpus'), vocab: join(dir, 'vocab.txt') };
}

function settings(corpus: string, vocab: string, steps: number): PretrainSettings {
  return {
    ...DEFAULT_SETTINGS, sources: [{ format: 'txt', path: corpus, split: 'line' }], vocab, minCount: 1,
    size: { layers: 2, hidden: 32, heads: 2, maxPosition: 32 }, maxlen: 32, batchSize: 8, steps, learningRate: 3e-3, warmup: 5,
    dropout: 0, heldOutPermille: 150, evalRows: 32,
  };
}

const ctl = (out: string, o: { stopAt?: number; resume?: boolean; evalEvery?: number } = {}) => ({ out, resume: false, checkpointMinutes: 1e9, evalEvery: 1000, logEvery: 10, quiet: true, handleSignals: false, ...o });

const tensors = (file: string) => {
  const r = new SafetensorsReader(file);
  try {
    return new Map(r.list().map((i) => [i.name, Buffer.from((r.read(i.name).data as Float32Array).buffer)]));
  } finally {
    r.close();
  }
};

test('the gathered MLM head computes the mlm application\'s logits at the masked positions', async () => {
  const raw = bertConfigJson({ layers: 2, hidden: 32, heads: 2, maxPosition: 16 }, 50, 0);
  const model = buildModel(raw, { application: 'mlm', seed: 3 });
  const ids = [[2, 7, 9, 4, 11, 3, 0, 0], [2, 5, 6, 7, 8, 9, 10, 3]];
  const mask = ids.map((row) => row.map((id) => (id === 0 ? 0 : 1)));
  const full = (await model.predict({ input_ids: ids, attention_mask: mask })).logits!.data as Float32Array; // (2, 8, 50)
  const store = new ParamStore();
  for (const n of model.weightNames()) store.set(n, model.store.get(n)!);
  const { logits } = gatheredMlm(new Scope(store), parseConfig(raw));
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const positions = [1, 3, 12, 14];
  const i64 = (shape: number[], v: number[]) => ({ dtype: 'int64' as const, shape, data: BigInt64Array.from(v.map(BigInt)) });
  const out = (await exe.run({ input_ids: i64([2, 8], ids.flat()), attention_mask: i64([2, 8], mask.flat()), token_type_ids: i64([2, 8], new Array(16).fill(0)), mlm_positions: i64([4], positions) })).logits!.data as Float32Array;
  await exe.release();
  positions.forEach((p, k) => {
    for (let v = 0; v < 50; v++) assert.ok(Math.abs(out[k * 50 + v]! - full[p * 50 + v]!) < 1e-4, `position ${p} token ${v}`);
  });
});

test('a tiny MLM run improves held-out accuracy; resume is bit-for-bit; the export loads and scores the same', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-run-'));
  try {
    const { corpus, vocab } = writeCorpus(dir);
    const s = settings(corpus, vocab, 80);
    const full = await pretrain(s, ctl(join(dir, 'full'), { evalEvery: 40 }));
    assert.equal(full.step, 80);
    const log = readFileSync(join(dir, 'full', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const evals = log.filter((l) => 'heldout_acc' in l);
    assert.deepEqual(evals.map((e) => e.step), [0, 40, 80]);
    assert.ok(evals[2].heldout_acc > evals[0].heldout_acc + 0.2, `held-out accuracy ${evals.map((e) => e.heldout_acc.toFixed(3)).join(' -> ')}`);
    for (const e of evals) assert.ok(Number.isFinite(e.heldout_mask_acc) && e.heldout_mask_acc >= 0 && e.heldout_mask_acc <= 1, `the log has the accuracy at [MASK]: ${e.heldout_mask_acc}`);
    assert.ok(log.some((l) => l.step === 80 && l.tokens_per_s > 0 && l.loss > 0), 'training rows in the log');

    // Same run, stopped at 35 and resumed: identical weights and optimizer state at 80.
    const half = await pretrain(s, ctl(join(dir, 'half'), { stopAt: 35, evalEvery: 40 }));
    assert.equal(half.stopped, 'stop-at');
    await assert.rejects(pretrain(s, ctl(join(dir, 'half'))), /already exists here/);
    const resumed = await pretrain(null, ctl(join(dir, 'half'), { resume: true, evalEvery: 40 }));
    assert.equal(resumed.step, 80);
    const a = tensors(join(dir, 'full', 'checkpoint.safetensors')), b = tensors(join(dir, 'half', 'checkpoint.safetensors'));
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `${name} differs after resume`);

    // Export (fp16) -> model directory that buildModel and loadTokenizer read; held-out accuracy re-measured.
    const out = join(dir, 'model');
    await exportRun(join(dir, 'full'), out, { which: 'last', dtype: 'float16' });
    const tok = await loadTokenizer(out);
    assert.equal(tok.keepTokens?.length, tok.vocabSize);
    assert.equal(tok.tokenToId('rare'), undefined, 'the trimmed vocabulary dropped a token the text never uses');
    const model = buildModel(out, { application: 'mlm' });
    const enc = tok.encode('床前明[MASK]光');
    const logits = (await model.predict({ input_ids: [enc.ids] })).logits!;
    assert.deepEqual(logits.shape, [1, enc.ids.length, tok.vocabSize]);
    const again = await evaluateModelDir(out);
    assert.ok(Math.abs(again.accuracy - evals[2].heldout_acc) < 0.02, `re-measured ${again.accuracy} vs logged ${evals[2].heldout_acc} (fp16)`);

    // Continued pretraining from the export: the run starts where the export scores, and trains on from there.
    const cont = join(dir, 'continued');
    const size = { ...s.size, intermediate: 4 * s.size.hidden };
    await pretrain({ ...s, init: out, size, vocab: out, seed: 2, steps: 20 }, ctl(cont, { evalEvery: 1000 }));
    const contLog = readFileSync(join(cont, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(contLog.find((l) => l.step === 0 && 'heldout_acc' in l).heldout_acc, again.accuracy, 'step 0 scores the init model');
    const lossAt10 = (l: any[]) => l.find((x) => x.step === 10 && 'loss' in x).loss as number;
    // It trains on from the fresh run's end (loss 3.63 at step 80 there), well below the fresh run's step 10 (4.07).
    const lastLoss = log.filter((l) => 'loss' in l).at(-1).loss as number;
    assert.ok(lossAt10(contLog) < lossAt10(log) - 0.25 && Math.abs(lossAt10(contLog) - lastLoss) < 0.1, `continued loss ${lossAt10(contLog)} vs fresh ${lossAt10(log)} at step 10, ${lastLoss} at its end`);
    assert.deepEqual((await loadTokenizer(cont)).keepTokens, tok.keepTokens, 'the run keeps the init model\'s vocabulary');
    const reexport = join(dir, 'model2');
    await exportRun(cont, reexport, { which: 'last', dtype: 'float32' });
    assert.deepEqual((await loadTokenizer(reexport)).keepTokens, tok.keepTokens);
    // What the run cannot continue is refused, naming the problem.
    await assert.rejects(pretrain({ ...s, init: out, size: { ...size, hidden: 64 }, vocab: out }, ctl(join(dir, 'bad1'))), /is not the size of the init model/);
    await assert.rejects(pretrain({ ...s, init: out, size, vocab: out, objective: 'electra' }, ctl(join(dir, 'bad2'))), /init applies to objective 'mlm' only/);
    const encoderDir = join(dir, 'encoder');
    buildModel(out, { application: 'encoder' }).save(encoderDir, { tokenizer: tok });
    await assert.rejects(pretrain({ ...s, init: encoderDir, size, vocab: out }, ctl(join(dir, 'bad3'))), /init model .*encoder: .*missing 5 tensors the model needs \(hf naming\): 'cls\.predictions\.transform\.dense\.weight'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('betterHeldOut: higher accuracy wins; a tie in accuracy goes to the lower loss', () => {
  const best = { accuracy: 0.2314, loss: 4.97 };
  assert.equal(betterHeldOut({ accuracy: 0.2315, loss: 5.5 }, best), true);
  assert.equal(betterHeldOut({ accuracy: 0.2313, loss: 4.0 }, best), false);
  assert.equal(betterHeldOut({ accuracy: 0.2314, loss: 4.96 }, best), true);
  assert.equal(betterHeldOut({ accuracy: 0.2314, loss: 4.97 }, best), false);
  assert.equal(betterHeldOut({ accuracy: 0, loss: 9 }, { accuracy: -1, loss: Infinity }), true); // the first evaluation
});

test('evaluateMlm: the accuracy at [MASK] alone equals the accuracy over a batch labelled only where the input is [MASK]', async () => {
  const config = parseConfig(bertConfigJson({ layers: 1, hidden: 32, heads: 2, maxPosition: 32 }, 40, 0));
  const store = new ParamStore(3);
  const docs = { ids: Int32Array.from({ length: 200 }, (_, i) => 5 + ((i * 7) % 35)), wordStart: new Uint8Array(200).fill(1), offsets: Int32Array.from([0, 90, 200]) };
  const packed = packRows(docs, [0, 1], 32, { cls: 2, sep: 3, pad: 0, mask: 4 });
  const batch = maskedBatch(packed, [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6], { rate: 0.3, maxPredictions: 10, maskId: 4, randomIds: Int32Array.from({ length: 35 }, (_, i) => 5 + i) });
  // A huge output bias makes token 12 every prediction, so each figure is a count of labels.
  await evaluateMlm(config, store, [batch]); // declares the weights
  const bias = store.get('mlm/output_bias')!;
  (bias.data as Float32Array)[12] = 1e4;
  const all = await evaluateMlm(config, store, [batch], { maskId: 4 });
  const plain = await evaluateMlm(config, store, [batch]);
  assert.equal(all.accuracy, plain.accuracy, 'the mask id changes no other figure');
  assert.equal(plain.maskedAccuracy, undefined, 'no mask id, no figure at [MASK]');
  const ids = batch.input_ids!.data as BigInt64Array, positions = batch.mlm_positions!.data as BigInt64Array;
  const onlyMasked = BigInt64Array.from(batch.mlm_labels!.data as BigInt64Array, (y, i) => (y !== -100n && ids[Number(positions[i])] === 4n ? y : -100n));
  const expected = await evaluateMlm(config, store, [{ ...batch, mlm_labels: { ...batch.mlm_labels!, data: onlyMasked } }]);
  assert.ok(expected.tokens > 0 && expected.tokens < all.tokens, `${expected.tokens} of ${all.tokens} chosen positions are [MASK]`);
  assert.equal(all.maskedTokens, expected.tokens);
  assert.equal(all.maskedTokens, [...ids].filter((id) => id === 4n).length, 'every [MASK] in the input is a chosen position (random replacements exclude it)');
  assert.equal(all.maskedAccuracy, expected.accuracy);
  const twelves = [...onlyMasked].filter((y) => y === 12n).length;
  assert.ok(twelves > 0, 'some [MASK]ed label is 12');
  assert.equal(all.maskedAccuracy, twelves / expected.tokens);
});
