// bert4ts evaluate: a saved fine-tuned model's test metric, fp32 and int8 side by side. The fp32
// figure equals what the task scored in training; the CRF tagger's length comes from its head; bad
// modes and models that are no task model are errors naming them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/index.ts';
import { classifyTask, finetune, prepareModel, tagTask, type ClassifyRow, type TagRow } from '../../src/tasks/finetune.ts';
import { evaluateModes, parseEvalModes } from '../../src/tasks/evaluate.ts';

const bin = join(dirname(fileURLToPath(import.meta.url)), '../../bin/bert4ts.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, 'evaluate', ...args], { encoding: 'utf8' });

function files(): { dir: string; config: string; vocab: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-evaluate-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'我们在北京上海公园人好坏电影'].join('\n') + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 19, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64, type_vocab_size: 2 }));
  return { dir, config: join(dir, 'config.json'), vocab: join(dir, 'vocab.txt') };
}

test('parseEvalModes: lists, all, and unknown modes named', () => {
  assert.deepEqual(parseEvalModes('fp32, dynamic-int8,fp32'), ['fp32', 'dynamic-int8']);
  assert.deepEqual(parseEvalModes('all'), ['fp32', 'dynamic-int8', 'weight-only-int8', 'int4']);
  assert.throws(() => parseEvalModes('fp32,int2'), /unknown mode 'int2' \(valid: fp32, dynamic-int8, weight-only-int8, int4, or all\)/);
  assert.throws(() => parseEvalModes(' , '), /give one or more of/);
});

test('evaluate: a CRF tagger and a classifier, fp32 as trained and int8 beside it; errors name the problem', async () => {
  const { dir, config, vocab } = files();
  try {
    const tags: TagRow[] = Array.from({ length: 32 }, (_, i) => (i % 2 ? { text: '我们在北京公园', tags: ['O', 'O', 'O', 'B-LOC', 'I-LOC', 'O', 'O'] } : { text: '人在上海公园', tags: ['O', 'O', 'B-LOC', 'I-LOC', 'O', 'O'] }));
    const t = await prepareModel({ config, vocab, charLevel: true, seed: 1, task: (tok) => tagTask(tok, ['O', 'B-LOC', 'I-LOC'], { maxlen: 16, crf: true }) });
    const r = await finetune({ model: t.model, task: t.task, train: tags, dev: tags, epochs: 3, batchSize: 8, lr: 3e-3, progress: false });
    t.model.save(join(dir, 'tagger'), { tokenizer: t.tokenizer });
    writeFileSync(join(dir, 'tags.jsonl'), tags.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const e = cli('--model', join(dir, 'tagger'), '--test', join(dir, 'tags.jsonl'), '--quantize', 'all');
    assert.equal(e.status, 0, e.stderr);
    const out = JSON.parse(e.stdout.trim().split('\n').at(-1)!);
    assert.equal(out.task, 'tag-crf');
    assert.equal(out.rows, 32);
    assert.deepEqual(out.scores.map((s: { mode: string }) => s.mode), ['fp32', 'dynamic-int8', 'weight-only-int8', 'int4']);
    assert.deepEqual(out.scores[0].metrics, r.dev);
    for (const s of out.scores) assert.ok(Math.abs(s.metrics.f1 - r.dev.f1!) <= 0.1, JSON.stringify(out));
    for (const s of out.scores.slice(1)) assert.ok(s.agreement.items >= 0.9 && s.agreement.rows <= s.agreement.items + 1e-9, JSON.stringify(out));
    assert.match(e.stderr, /^dynamic-int8 +f1 .*same prediction as fp32 on [\d.]+% of rows, [\d.]+% of characters/m);
    const bad = cli('--model', join(dir, 'tagger'), '--test', join(dir, 'tags.jsonl'), '--maxlen', '32');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /CRF tagger \(crf-16x3\) is unrolled over 16 tokens/);

    // The library path the CLI runs: the same model in each mode, fp32 first.
    const rows: ClassifyRow[] = Array.from({ length: 24 }, (_, i) => ({ text: i % 2 ? '电影好' : '电影坏', label: i % 2 ? 'pos' : 'neg' }));
    const c = await prepareModel({ config, vocab, seed: 1, task: (tok) => classifyTask(tok, ['neg', 'pos'], 16) });
    const trained = await finetune({ model: c.model, task: c.task, train: rows, dev: rows, epochs: 4, batchSize: 8, lr: 3e-3, progress: false });
    c.model.save(join(dir, 'classifier'), { tokenizer: c.tokenizer });
    const scores = await evaluateModes(buildModel(join(dir, 'classifier')), ['fp32', 'dynamic-int8'], c.task, rows);
    assert.deepEqual(scores[0]!.metrics, trained.dev);
    assert.equal(scores[1]!.mode, 'dynamic-int8');
    assert.equal(scores[0]!.agreement, undefined);
    assert.ok(scores[1]!.agreement!.rows >= 0.9 && scores[1]!.agreement!.items === undefined, JSON.stringify(scores));
    writeFileSync(join(dir, 'rows.tsv'), rows.map((x) => `${x.text}\t${x.label}`).join('\n') + '\n');
    const mode = cli('--model', join(dir, 'classifier'), '--test', join(dir, 'rows.tsv'), '--quantize', 'fp32,int2');
    assert.equal(mode.status, 2);
    assert.match(mode.stderr, /unknown mode 'int2'/);
    writeFileSync(join(dir, 'other.tsv'), '电影好\tmaybe\n');
    const label = cli('--model', join(dir, 'classifier'), '--test', join(dir, 'other.tsv'));
    assert.equal(label.status, 1);
    assert.match(label.stderr, /other\.tsv: row 1: label 'maybe' is not in the label set \(neg, pos\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
