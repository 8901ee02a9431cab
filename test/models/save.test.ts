// The model directory: Model.save(dir) -> buildModel(dir) + loadTokenizer(dir) in a fresh process,
// bit for bit; custom heads; Hugging Face classifier configs; refused options and keys; atomic saves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { buildModel, type Model } from '../../src/models/index.ts';
import { loadTokenizer, trimTokenizer, WordPieceTokenizer } from '../../src/tokenizers/index.ts';
import { readCase, REFERENCE_DIR } from './helpers.ts';
import { MEAN_HEAD } from './save-heads.ts';

const here = dirname(fileURLToPath(import.meta.url));
const ref = (name: string) => join(REFERENCE_DIR, name);
const cfg = (name: string) => JSON.parse(readFileSync(join(ref(name), 'config.json'), 'utf8')) as Record<string, unknown>;
const sha = (t: HostTensor) => createHash('sha256').update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex');
// 64 tokens, as the reference BERT's vocabulary: [MASK] is id 4 as in its inputs.
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'abcdefghijklmnopqrstuvwxyz'.split(''), ...Array.from({ length: 33 }, (_, i) => `w${i}`)];

function withTemp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bert4ts-save-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

/** buildModel(dir) for each case in one fresh node process. */
function reloadElsewhere(cases: { dir: string; inputs: Record<string, unknown>; text?: string }[], heads = true) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'save-child.ts'), ...(heads ? [] : ['--no-heads']), JSON.stringify(cases)], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, results: r.status === 0 ? JSON.parse(r.stdout) : [] };
}

async function fingerprint(model: Model, inputs: Record<string, any>) {
  const out = await model.predict(inputs);
  return {
    outputs: Object.fromEntries(Object.entries(out).map(([n, t]) => [n, { shape: t.shape, sha: sha(t) }])),
    weights: Object.fromEntries(model.store.names().sort().map((n) => [n, sha(model.store.get(n)!)])),
  };
}

test('save -> buildModel(dir) in a fresh process: BERT MLM, BERT classifier with labels, keepTokens, GPT-2, T5, a custom head — same weights and outputs bit for bit', withTemp(async (tmp) => {
  const tokenizer = new WordPieceTokenizer(VOCAB);
  const mlmCase = readCase('bert-mlm');
  const keep = [0, 1, 2, 3, 4, ...new Set((mlmCase.inputs.input_ids as number[][]).flat().filter((id) => id > 4))].sort((a, b) => a - b);
  const remap = new Map(keep.map((id, k) => [id, k]));
  const encoderInputs = readCase('bert-encoder').inputs;
  const models: [string, Model, Record<string, any>, string?][] = [
    ['mlm', buildModel(join(ref('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: ref('bert-mlm'), tokenizer }), mlmCase.inputs, 'a b c'],
    ['classifier', buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: ref('bert-encoder'), labels: ['neg', 'neutral', 'pos'], seed: 3 }), encoderInputs],
    ['kept', buildModel(join(ref('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: ref('bert-mlm'), keepTokens: keep, tokenizer: trimTokenizer(tokenizer, keep) }),
      { attention_mask: mlmCase.inputs.attention_mask, token_type_ids: mlmCase.inputs.token_type_ids, input_ids: (mlmCase.inputs.input_ids as number[][]).map((r) => r.map((id) => remap.get(id)!)) }, 'a'],
    ['gpt2', buildModel(ref('gpt2-lm'), { checkpoint: ref('gpt2-lm') }), readCase('gpt2-lm').inputs],
    ['t5', buildModel(ref('t5-1.0'), { checkpoint: ref('t5-1.0') }), readCase('t5-1.0').inputs],
    ['head', buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: ref('bert-encoder'), head: MEAN_HEAD, labels: ['x', 'y', 'z'], seed: 4 }), encoderInputs],
  ];
  const cases: { dir: string; inputs: Record<string, any>; text?: string }[] = [];
  const expected: Awaited<ReturnType<typeof fingerprint>>[] = [];
  for (const [name, model, inputs, text] of models) {
    const dir = join(tmp, name);
    model.save(dir);
    cases.push({ dir, inputs, text });
    expected.push(await fingerprint(model, inputs));
  }
  const { status, stderr, results } = reloadElsewhere(cases);
  assert.equal(status, 0, stderr);
  results.forEach((r: any, i: number) => {
    const [name, model] = models[i]!;
    assert.deepEqual(r.outputs, expected[i]!.outputs, `${name}: outputs`);
    assert.deepEqual(r.weights, expected[i]!.weights, `${name}: weights`);
    assert.equal(r.application, model.application, name);
    assert.deepEqual(r.labels, model.labels, name);
    assert.deepEqual(r.report.unexpected, [], `${name}: every saved tensor is used`);
  });
  assert.deepEqual(results[0].tokens, tokenizer.encode('a b c').ids, 'the tokenizer comes back');
  assert.deepEqual(results[1].labels, ['neg', 'neutral', 'pos']);
  assert.deepEqual(results[2].keptTokens, keep);
  assert.deepEqual(results[2].tokenizerKeep, keep, 'keep_tokens.json is saved with the trimmed vocabulary');
  assert.ok(Object.keys(results[5].weights).includes('heads/mean-classifier/out/kernel'));

  // The Hugging Face part of config.json says what the directory holds.
  const classifier = JSON.parse(readFileSync(join(tmp, 'classifier', 'config.json'), 'utf8'));
  assert.deepEqual(classifier.architectures, ['BertForSequenceClassification']);
  assert.deepEqual(classifier.id2label, { 0: 'neg', 1: 'neutral', 2: 'pos' });
  assert.deepEqual(classifier.label2id, { neg: 0, neutral: 1, pos: 2 });
  assert.deepEqual(classifier.bert4ts, { format: 1, family: 'bert', application: 'encoder', weights: 'model.safetensors', numClasses: 3 });
  const kept = JSON.parse(readFileSync(join(tmp, 'kept', 'config.json'), 'utf8'));
  assert.equal(kept.vocab_size, keep.length);
  assert.deepEqual(kept.bert4ts.keepTokens, keep);
  assert.throws(() => buildModel(join(tmp, 'kept'), { keepTokens: [0, 1, 2] }), /already trimmed to \d+ tokens \(bert4ts\.keepTokens\); keepTokens must be omitted or the same list/);
  assert.deepEqual(buildModel(join(tmp, 'kept'), { keepTokens: keep }).keptTokens, keep, 'the same list is accepted (what encode passes from the tokenizer)');
  const head = JSON.parse(readFileSync(join(tmp, 'head', 'config.json'), 'utf8'));
  assert.equal(head.bert4ts.head, 'mean-classifier');
  assert.deepEqual(head.bert4ts.ownNames, ['heads/mean-classifier/out/bias', 'heads/mean-classifier/out/kernel']);

  // Without the head's registration, the error names the head.
  const bare = reloadElsewhere([{ dir: join(tmp, 'head'), inputs: encoderInputs }], false);
  assert.equal(bare.status, 1);
  assert.match(bare.stderr, /head 'mean-classifier' is not registered in this process; import the module that calls registerHead\('mean-classifier'/);
}));

test('options given to buildModel(dir) override the saved ones: a saved MLM runs 1,000 tokens with hierarchicalPosition', withTemp(async (tmp) => {
  const model = buildModel(join(ref('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: ref('bert-mlm') });
  model.save(tmp);
  const long = buildModel(tmp, { application: 'mlm', hierarchicalPosition: true, maxPosition: 2048 });
  assert.equal(long.maxTokens, 32 * 32, 'n^2 positions, maxPosition only caps');
  const ids = Array.from({ length: 1000 }, (_, t) => 5 + (t % 50));
  assert.deepEqual((await long.predict({ input_ids: [ids] })).logits!.shape, [1, 1000, 64]);
  // Saved again, the extension is part of the model.
  long.save(tmp);
  assert.equal(buildModel(tmp).maxTokens, 1024);
  assert.equal(JSON.parse(readFileSync(join(tmp, 'config.json'), 'utf8')).bert4ts.hierarchicalPosition, true);
}));

test('saveSafetensors and saveCheckpoint load back; nothing is dropped (a head, albert_unshared layers that diverged)', withTemp(async (tmp) => {
  const inputs = readCase('bert-encoder').inputs;
  const withHead = buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: ref('bert-encoder'), head: MEAN_HEAD, seed: 9 });
  const want = await fingerprint(withHead, inputs);
  withHead.saveSafetensors(join(tmp, 'ours.safetensors'));
  const ours = buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: join(tmp, 'ours.safetensors'), head: MEAN_HEAD });
  assert.equal(ours.loadReport!.naming, 'bert4ts');
  assert.deepEqual(await fingerprint(ours, inputs), want);
  withHead.saveCheckpoint(join(tmp, 'hf.safetensors'));
  const hf = buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: join(tmp, 'hf.safetensors'), head: MEAN_HEAD });
  assert.equal(hf.loadReport!.naming, 'hf');
  assert.deepEqual(await fingerprint(hf, inputs), want, 'the head weights are in the HF-named file under their own names');

  const albert = {
    model_type: 'albert', vocab_size: 40, embedding_size: 8, hidden_size: 16, num_hidden_layers: 2, num_hidden_groups: 1,
    num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16,
  };
  const unshared = buildModel(albert, { family: 'albert_unshared', application: 'mlm', seed: 2 }); // each layer its own random weights
  const { ownNames } = unshared.namedTensors('hf');
  assert.ok(ownNames.some((n) => n.startsWith('encoder/layer_1/')), 'layer 1 cannot share layer 0\'s HF name');
  unshared.save(join(tmp, 'albert'));
  const back = buildModel(join(tmp, 'albert'));
  const ids = { input_ids: [[3, 7, 9, 12]] };
  assert.deepEqual(await fingerprint(back, ids), await fingerprint(unshared, ids));
  assert.throws(() => buildModel(join(ref('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: ref('bert-mlm'), keepTokens: [0, 1, 2] }).saveCheckpoint(join(tmp, 'x.safetensors')), /use model\.save\(dir\)/i);
}));

test('Hugging Face classifier configs load as classifiers with their labels; a sequence classifier\'s head weights are required', withTemp(async (tmp) => {
  const inputs = readCase('bert-encoder').inputs;
  for (const [arch, application] of [['BertForSequenceClassification', 'encoder'], ['BertForTokenClassification', 'tagger']] as const) {
    const trained = buildModel(join(ref('bert-encoder'), 'config.json'), { checkpoint: ref('bert-encoder'), application, numClasses: 3, seed: 5 });
    const dir = join(tmp, application);
    mkdirSync(dir);
    trained.saveCheckpoint(join(dir, 'model.safetensors'));
    const id2label = application === 'tagger' ? { 0: 'O', 1: 'B-PER', 2: 'I-PER' } : { 0: 'bad', 1: 'ok', 2: 'good' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg('bert-encoder'), architectures: [arch], id2label, label2id: Object.fromEntries(Object.entries(id2label).map(([k, v]) => [v, Number(k)])) }));
    const model = buildModel(dir, { checkpoint: dir });
    assert.equal(model.application, application);
    assert.deepEqual(model.labels, Object.values(id2label));
    assert.deepEqual(model.loadReport!.unexpected, []);
    const out = await model.predict(inputs);
    assert.deepEqual(out.logits!.shape, application === 'tagger' ? [2, (inputs.input_ids as number[][])[0]!.length, 3] : [2, 3]);
    assert.equal(sha(out.logits!), sha((await trained.predict(inputs)).logits!));
  }
  // A classifier config whose weights lack the classifier (RoBERTa's head has other names) is refused, not run on a fresh head.
  writeFileSync(join(tmp, 'encoder', 'config.json'), JSON.stringify({ ...cfg('bert-encoder'), architectures: ['BertForSequenceClassification'], num_labels: 2 }));
  assert.throws(() => buildModel(join(tmp, 'encoder'), { checkpoint: ref('bert-encoder') }), /missing 2 tensors.*'classifier\.weight' \(for classifier\/kernel\)/);
}));

test('RoBERTa and ELECTRA sequence classifiers use Hugging Face\'s head (h[:, 0] -> dense -> tanh / gelu -> out_proj, no pooler) and load from HF configs', withTemp(async (tmp) => {
  for (const [name, arch, act] of [['roberta-encoder', 'RobertaForSequenceClassification', 'tanh'], ['electra-discriminator', 'ElectraForSequenceClassification', 'gelu']] as const) {
    const { labels: _, ...inputs } = readCase(name).inputs as Record<string, any>;
    const trained = buildModel(join(ref(name), 'config.json'), { checkpoint: ref(name), application: 'encoder', numClasses: 3, seed: 7 });
    assert.ok(!trained.store.names().some((n) => n.startsWith('pooler/')), `${name}: no pooler`);
    const dir = join(tmp, name);
    mkdirSync(dir);
    trained.saveCheckpoint(join(dir, 'model.safetensors'));
    const header = readFileSync(join(dir, 'model.safetensors'));
    const names = Object.keys(JSON.parse(header.subarray(8, 8 + Number(header.readBigUInt64LE(0))).toString('utf8')));
    for (const n of ['classifier.dense.weight', 'classifier.dense.bias', 'classifier.out_proj.weight', 'classifier.out_proj.bias']) assert.ok(names.includes(n), `${name}: saved ${n}`);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg(name), architectures: [arch], id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
    const model = buildModel(dir, { checkpoint: dir });
    assert.deepEqual(model.loadReport!.unexpected, []);
    const out = await model.predict(inputs, { outputs: ['logits', 'last_hidden_state'] });
    assert.equal(sha(out.logits!), sha((await trained.predict(inputs)).logits!));
    // The head by hand from h[:, 0]: out_proj(act(dense(h0))).
    const h = out.last_hidden_state!, [B, T, H] = h.shape as [number, number, number];
    const w = (n: string) => model.store.get(n)!.data as Float32Array;
    const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    for (let b = 0; b < B; b++) {
      const h0 = (h.data as Float32Array).subarray(b * T * H, b * T * H + H);
      const x = Array.from({ length: H }, (_, j) => { let v = w('classifier/dense/bias')[j]!; for (let i = 0; i < H; i++) v += h0[i]! * w('classifier/dense/kernel')[i * H + j]!; return act === 'tanh' ? Math.tanh(v) : gelu(v); });
      for (let k = 0; k < 3; k++) {
        let v = w('classifier/out_proj/bias')[k]!;
        for (let i = 0; i < H; i++) v += x[i]! * w('classifier/out_proj/kernel')[i * 3 + k]!;
        assert.ok(Math.abs(v - (out.logits!.data as Float32Array)[b * 3 + k]!) < 1e-4, `${name}: logit ${b},${k}`);
      }
    }
    // A classifier config without the head's weights is refused, not run on a fresh head.
    assert.throws(() => buildModel(dir, { checkpoint: ref(name) }), /missing 4 tensors.*'classifier\.dense\.weight'/);
  }
}));

/** Abramowitz-Stegun 7.1.26 is too coarse for 1e-4; this series/continued-fraction erf is exact to ~1e-12. */
function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 2.5) { let sum = 0, term = t, n = 0; while (Math.abs(term) > 1e-16) { sum += term / (2 * n + 1); n++; term *= -t * t / n; } return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum; }
  let f = 0; for (let k = 60; k >= 1; k--) f = (k / 2) / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
}

test('unknown options, config keys and bad labels are refused by name', () => {
  const config = join(ref('bert-mlm'), 'config.json');
  assert.throws(() => buildModel(config, { attentionKind: 'linear' } as any), /buildModel options: unknown option 'attentionKind' \(valid: family, application, checkpoint, .*numClasses/);
  assert.throws(() => buildModel(config, { runtime: { thread: 2 } } as any), /buildModel options\.runtime: unknown option 'thread' \(valid: threads, externalDataThreshold/);
  assert.throws(() => buildModel(config, { naming: 'tf' as any }), /naming must be 'hf' or 'google'/);
  const base = cfg('bert-mlm');
  assert.throws(() => buildModel({ ...base, bert4ts: { format: 1, family: 'bert', application: 'mlm', weights: 'model.safetensors', heads: 'x' } }), /'bert4ts': unknown key 'heads' \(valid: format, family/);
  assert.throws(() => buildModel({ ...base, bert4ts: { format: 2, family: 'bert', application: 'mlm', weights: 'model.safetensors' } }), /bert4ts'\.format must be 1/);
  assert.throws(() => buildModel({ ...base, bert4ts: { format: 1, family: 'bert', application: 'mlm', weights: '../x' } }), /weights must be a file name in the directory/);
  assert.throws(() => buildModel({ ...base, bert4ts: { format: 1, family: 'bert', application: 'mlm', weights: 'w', keepTokens: [1, -2] } }), /keepTokens must be an array of non-negative integer ids/);
  const classifier = { ...base, architectures: ['BertForSequenceClassification'] };
  assert.throws(() => buildModel({ ...classifier, num_labels: 2, id2label: { 0: 'a', 5: 'b' } }), /id2label has id '5' outside 0\.\.1 \(num_labels 2\)/);
  assert.throws(() => buildModel({ ...classifier, num_labels: 3, id2label: { 0: 'a', 1: 'b' } }), /id2label lacks id 2 \(num_labels 3\)/);
  assert.throws(() => buildModel({ ...classifier, id2label: { 0: 'a', 1: 'b' }, label2id: { a: 0, c: 1 } }), /label2id maps 'c' to 1, but id2label has no such label/);
  assert.throws(() => buildModel({ ...classifier, id2label: { 0: 'a', 1: 'a' } }), /label 'a' is listed twice/);
  assert.throws(() => buildModel(config, { numClasses: 3, labels: ['a', 'b'] }), /2 labels for numClasses 3/);
  assert.throws(() => buildModel(config, { head: 'nope' }), /head 'nope' is not registered in this process \(registered: mean-classifier\)/);
  assert.throws(() => buildModel({ ...cfg('gpt2-lm'), architectures: ['GPT2ForSequenceClassification'] }), /GPT2ForSequenceClassification is not supported/);
});

test('a saved directory with a missing file names it; a failed save leaves nothing that loads; a foreign directory is not overwritten', withTemp(async (tmp) => {
  const model = buildModel(join(ref('bert-mlm'), 'config.json'), { application: 'mlm', checkpoint: ref('bert-mlm') });
  const dir = join(tmp, 'm');
  assert.deepEqual(model.save(dir, { tokenizer: new WordPieceTokenizer(VOCAB) }).sort(), ['config.json', 'model.safetensors', 'tokenizer_config.json', 'vocab.txt']);
  unlinkSync(join(dir, 'model.safetensors'));
  assert.throws(() => buildModel(dir), (e: Error) => e.message.startsWith(join(dir, 'model.safetensors')) && /missing/.test(e.message));
  // A save that fails (a tokenizer saveTokenizer cannot write) leaves the earlier directory, and no temp files beside it.
  model.save(dir);
  const bogus = { ...new WordPieceTokenizer(VOCAB), kind: 'bogus' } as any;
  assert.throws(() => model.save(dir, { tokenizer: bogus }), /cannot save a bogus tokenizer/);
  assert.deepEqual(readdirSync(tmp), ['m']);
  assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors']);
  assert.throws(() => model.save(join(tmp, 'fresh'), { tokenizer: bogus }));
  assert.ok(!existsSync(join(tmp, 'fresh')));
  writeFileSync(join(tmp, 'notes.txt'), 'x');
  assert.throws(() => model.save(tmp), /is not a saved bert4ts model/);
  assert.throws(() => model.save(dir, { tokenizer: trimTokenizer(new WordPieceTokenizer(VOCAB), [0, 1, 2, 3, 4]) }), /tokenizer's keepTokens \(5\) differ from the model's \(none\)/);
  assert.throws(() => model.save(dir, { tokenizers: 1 } as any), /save: unknown option 'tokenizers'/);
  assert.equal((await loadTokenizer(dir).catch((e) => e)).constructor.name, 'TokenizerError', 'no tokenizer was saved last time: loadTokenizer says so');
}));
