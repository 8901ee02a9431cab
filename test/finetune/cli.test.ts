// bert4ts finetune end to end on tiny files: each task kind trains, keeps the best dev epoch, saves
// a directory that bert4ts predict / generate run; bad input is an error naming the file and row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/bert4ts.js', ...args], { encoding: 'utf8' });
const chars = [...'好坏今天电影很不喜欢我们公园标题北京上海人在'];

function workspace(): { dir: string; config: string[]; file: (name: string, lines: string[]) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-finetune-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...chars].join('\n') + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model_type: 'bert', vocab_size: chars.length + 5, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
    intermediate_size: 64, max_position_embeddings: 64, type_vocab_size: 2,
  }));
  const file = (name: string, lines: string[]) => {
    writeFileSync(join(dir, name), lines.join('\n') + '\n');
    return join(dir, name);
  };
  return { dir, config: ['--config', join(dir, 'config.json'), '--vocab', join(dir, 'vocab.txt')], file };
}

const summary = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

test('finetune --task classify: learns a separable task, keeps the best epoch, and predict runs the saved model', () => {
  const { dir, config, file } = workspace();
  try {
    const rows = Array.from({ length: 48 }, (_, i) => (i % 2 ? `今天电影很好${'我们'.repeat(i % 3)}\tpos` : `今天电影很坏${'人在'.repeat(i % 3)}\tneg`));
    const train = file('train.tsv', rows), dev = file('dev.tsv', rows.slice(0, 16));
    const out = join(dir, 'model');
    const r = cli('finetune', '--task', 'classify', '--train', train, '--dev', dev, '--test', dev, ...config, '--out', out, '--epochs', '6', '--batch-size', '8', '--lr', '3e-3', '--maxlen', '16');
    assert.equal(r.status, 0, r.stderr);
    const s = summary(r.stdout);
    assert.equal(s.test.accuracy, 1, r.stderr);
    assert.equal(s.best.value, 1);
    assert.match(r.stderr, /step \d+: accuracy/);
    const p = cli('predict', '--model', out, '今天电影很好', '今天电影很坏');
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(p.stdout.trim().split('\n').map((l) => JSON.parse(l).label), ['pos', 'neg']);
    rmSync(join(out, 'model.safetensors'));
    const missing = cli('finetune', '--task', 'classify', '--train', train, '--dev', dev, '--base', out, '--out', join(dir, 'again'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /model\.safetensors.*missing: the weights of the saved model/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('finetune --task tag (JSONL, one tag per character) and --task seq2seq: saved models run in predict and generate', () => {
  const { dir, config, file } = workspace();
  try {
    const tagRows = Array.from({ length: 32 }, (_, i) => {
      const city = i % 2 ? '北京' : '上海';
      return JSON.stringify({ text: `我们在${city}公园`, tags: ['O', 'O', 'O', 'B-LOC', 'I-LOC', 'O', 'O'] });
    });
    const tags = file('tags.jsonl', tagRows);
    const out = join(dir, 'tagger');
    const r = cli('finetune', '--task', 'tag', '--train', tags, '--dev', tags, ...config, '--out', out, '--epochs', '8', '--batch-size', '8', '--lr', '3e-3', '--maxlen', '16');
    assert.equal(r.status, 0, r.stderr);
    const s = summary(r.stdout);
    assert.ok(s.dev.f1 > 0.9 && s.dev.span_f1 > 0.9, JSON.stringify(s));
    const p = cli('predict', '--model', out, '我们在北京公园');
    assert.equal(p.status, 0, p.stderr);
    assert.deepEqual(JSON.parse(p.stdout).spans.map((x: { text: string; label: string }) => `${x.label}:${x.text}`), ['LOC:北京']);

    const pairs = file('pairs.tsv', Array.from({ length: 32 }, (_, i) => (i % 2 ? '今天电影很好\t好' : '今天电影很坏\t坏')));
    const s2s = join(dir, 'unilm');
    const g = cli('finetune', '--task', 'seq2seq', '--train', pairs, '--dev', pairs, ...config, '--out', s2s, '--epochs', '12', '--batch-size', '4', '--lr', '3e-3', '--maxlen', '16', '--max-target-len', '4');
    assert.equal(g.status, 0, g.stderr);
    assert.ok(summary(g.stdout).dev['rouge-l'] > 0.9, g.stdout);
    const gen = cli('generate', '--model', s2s, '--prompt', '今天电影很坏', '--json');
    assert.equal(gen.status, 0, gen.stderr);
    assert.equal(JSON.parse(gen.stdout).text, '坏');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('finetune: a missing column, a label outside the set and a missing base model are errors naming the file', () => {
  const { dir, config, file } = workspace();
  try {
    const train = file('train.tsv', ['今天很好\tpos', '今天很坏\tneg']);
    const args = (...more: string[]) => ['finetune', '--task', 'classify', '--train', train, '--out', join(dir, 'm'), ...more];
    const oneColumn = file('dev.tsv', ['今天很好', '今天很坏']);
    let r = cli(...args('--dev', oneColumn, ...config));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${oneColumn}:1: no column 1 \\(the line has 1\\)`));
    const header = file('named.tsv', ['sentence\tlabel', '今天很好\tpos']);
    r = cli('finetune', '--task', 'classify', '--train', header, '--dev', header, '--text-column', 'text', '--label-column', 'label', ...config, '--out', join(dir, 'm'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /named\.tsv:1: the header has no column 'text' \(columns: sentence, label\)/);
    const unknown = file('dev2.tsv', ['今天很好\tpos', '今天\tmaybe']);
    r = cli(...args('--dev', unknown, ...config));
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${unknown}: row 2: label 'maybe' is not in the label set \\(pos, neg\\)`));
    r = cli(...args('--dev', train, '--labels', 'pos', ...config));
    assert.match(r.stderr, /train\.tsv: row 2: label 'neg' is not in the label set \(pos\)/);
    r = cli(...args('--dev', train, '--base', join(dir, 'nowhere')));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /base model directory not found: .*nowhere/);
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    r = cli(...args('--dev', train, '--base', empty));
    assert.match(r.stderr, /empty: no config\.json/);
    const tags = file('tags.tsv', ['今天\tO O O']);
    r = cli('finetune', '--task', 'tag', '--train', tags, '--dev', tags, ...config, '--out', join(dir, 't'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tags\.tsv: row 1: 3 tags for 2 characters/);
    r = cli('finetune', '--task', 'sort', '--train', train, '--dev', train, '--out', join(dir, 'm'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--task must be classify, seq2seq or tag, got 'sort'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
