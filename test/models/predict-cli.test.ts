// `bert4ts predict` on saved directories, and `bert4ts encode` on a fine-tuned classifier. Its own
// file: it swaps process.stdout.write, which the test runner also reports through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { spansFromTags } from '../../src/cli/predict.ts';
import { buildModel } from '../../src/models/index.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/index.ts';
import { REFERENCE_DIR } from './helpers.ts';
import { MEAN_HEAD } from './save-heads.ts';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'abcdefghijklmnopqrstuvwxyz'.split(''), ...Array.from({ length: 33 }, (_, i) => `w${i}`)];
const tokenizer = new WordPieceTokenizer(VOCAB);
const bert = (name: string) => join(REFERENCE_DIR, name);

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string; lines: any[] }> {
  const out: string[] = [], err: string[] = [];
  const orig = process.stdout.write.bind(process.stdout), origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (out.push(s), true) : (orig as any)(s, ...rest));
  (process.stderr as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (err.push(s), true) : (origErr as any)(s, ...rest));
  try {
    const code = await main(argv);
    const stdout = out.join('');
    return { code, stdout, stderr: err.join(''), lines: code === 0 && argv.every((a) => a !== '--help') ? stdout.trim().split('\n').map((l) => JSON.parse(l)) : [] };
  } finally {
    (process.stdout as any).write = orig;
    (process.stderr as any).write = origErr;
  }
}

test('spansFromTags: BIO, BIOES and bare labels over character offsets; special tokens end a span', () => {
  const text = 'ann met bob lee';
  const offsets: [number, number][] = [[0, 0], [0, 3], [4, 7], [8, 11], [12, 15], [0, 0]];
  assert.deepEqual(spansFromTags(text, ['O', 'B-PER', 'O', 'B-PER', 'I-PER', 'O'], offsets), [
    { start: 0, end: 3, label: 'PER', text: 'ann' }, { start: 8, end: 15, label: 'PER', text: 'bob lee' }]);
  assert.deepEqual(spansFromTags(text, ['O', 'S-PER', 'O', 'B-PER', 'E-PER', 'O'], offsets).map((s) => s.text), ['ann', 'bob lee']);
  assert.deepEqual(spansFromTags(text, ['O', 'B-PER', 'B-PER', 'I-LOC', 'I-LOC', 'I-LOC'], offsets).map((s) => `${s.label}:${s.text}`), ['PER:ann', 'PER:met', 'LOC:bob lee']);
  assert.deepEqual(spansFromTags(text, ['PER', 'PER', 'PER', 'O', 'LOC', 'LOC'], offsets).map((s) => `${s.label}:${s.text}`), ['PER:ann met', 'LOC:lee']);
});

test('bert4ts predict: classifier labels, tagger spans, MLM masks, encoder vector, custom head; errors exit 1 naming the file, usage 2', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bert4ts-predict-'));
  try {
    const config = join(bert('bert-encoder'), 'config.json');
    buildModel(config, { checkpoint: bert('bert-encoder'), labels: ['neg', 'pos'], tokenizer }).save(join(tmp, 'cls'));
    buildModel(config, { checkpoint: bert('bert-encoder'), application: 'tagger', labels: ['O', 'B-X', 'I-X'], seed: 1, tokenizer }).save(join(tmp, 'tag'));
    buildModel(join(bert('bert-mlm'), 'config.json'), { checkpoint: bert('bert-mlm'), application: 'mlm', tokenizer }).save(join(tmp, 'mlm'));
    buildModel(config, { checkpoint: bert('bert-encoder'), tokenizer }).save(join(tmp, 'enc'));
    buildModel(config, { checkpoint: bert('bert-encoder'), head: MEAN_HEAD, labels: ['x', 'y', 'z'], tokenizer }).save(join(tmp, 'head'));

    const cls = await run(['predict', '--model', join(tmp, 'cls'), 'a b c', 'w1 w2']);
    assert.equal(cls.code, 0, cls.stderr);
    assert.equal(cls.lines.length, 2);
    for (const line of cls.lines) {
      assert.ok(['neg', 'pos'].includes(line.label));
      assert.deepEqual(Object.keys(line.probabilities), ['neg', 'pos']);
      assert.ok(Math.abs(line.probabilities.neg + line.probabilities.pos - 1) < 1e-5);
      assert.equal(line.label, line.probabilities.neg > line.probabilities.pos ? 'neg' : 'pos');
    }
    const tag = await run(['predict', '--model', join(tmp, 'tag'), 'a bb c w3']);
    assert.equal(tag.code, 0, tag.stderr);
    assert.ok(Array.isArray(tag.lines[0].spans));
    for (const s of tag.lines[0].spans) assert.equal(s.text, 'a bb c w3'.slice(s.start, s.end));
    const mlm = await run(['predict', '--model', join(tmp, 'mlm'), '--top', '2', 'a [MASK] c']);
    assert.equal(mlm.code, 0, mlm.stderr);
    assert.deepEqual(mlm.lines[0].predictions.map((p: any) => p.position), [2]);
    assert.equal(mlm.lines[0].predictions[0].top.length, 2);
    const enc = await run(['predict', '--model', join(tmp, 'enc'), '--values', '3', 'a b']);
    assert.equal(enc.code, 0, enc.stderr);
    assert.equal(enc.lines[0].dim, 32);
    assert.equal(enc.lines[0].vector.length, 3);
    const head = await run(['predict', '--model', join(tmp, 'head'), 'a b']);
    assert.equal(head.code, 0, head.stderr);
    assert.deepEqual(Object.keys(head.lines[0].probabilities), ['x', 'y', 'z']);

    assert.equal((await run(['predict', 'a b'])).code, 2);
    assert.equal((await run(['predict', '--model', join(tmp, 'cls')])).code, 2);
    assert.equal((await run(['predict', '--model', join(tmp, 'cls'), '--top', 'x', 'a'])).code, 2);
    assert.equal((await run(['predict', '--help'])).code, 0);
    unlinkSync(join(tmp, 'cls', 'model.safetensors'));
    const missing = await run(['predict', '--model', join(tmp, 'cls'), 'a b']);
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(join(tmp, 'cls', 'model.safetensors')), missing.stderr);
    unlinkSync(join(tmp, 'enc', 'vocab.txt'));
    const noVocab = await run(['predict', '--model', join(tmp, 'enc'), 'a b']);
    assert.equal(noVocab.code, 1);
    assert.match(noVocab.stderr, /enc/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('bert4ts encode runs a fine-tuned Hugging Face classifier directory: every tensor used, label printed', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bert4ts-encode-cls-'));
  try {
    buildModel(join(bert('bert-encoder'), 'config.json'), { checkpoint: bert('bert-encoder'), numClasses: 2, seed: 2 }).saveCheckpoint(join(tmp, 'model.safetensors'));
    const config = JSON.parse(readFileSync(join(bert('bert-encoder'), 'config.json'), 'utf8'));
    writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...config, architectures: ['BertForSequenceClassification'], id2label: { 0: 'no', 1: 'yes' } }));
    writeFileSync(join(tmp, 'vocab.txt'), VOCAB.join('\n') + '\n');
    const r = await run(['encode', '--model', tmp, 'a b c']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /unused/);
    assert.ok(['no', 'yes'].includes(r.lines[0].label));
    assert.equal(r.lines[0].logits.length, 2);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
