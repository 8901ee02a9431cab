// The README's examples run and print what they promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const run = (file: string) => spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' });

test('examples/train-tiny-lm.ts trains a copier that copies', () => {
  const r = run('examples/train-tiny-lm.ts');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /prompt 314159 -> 314159/);
});

test('examples/fine-tune-classifier.ts trains, evaluates, keeps the best weights and resumes from its saved state', () => {
  const r = run('examples/fine-tune-classifier.ts');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^step 50: dev_loss \S+  accuracy \S+$/m);
  assert.match(r.stdout, /^restored best weights: dev accuracy (0\.9\d*|1)$/m);
  const best = /best dev_loss (\S+) at step (\d+)/.exec(r.stdout)!;
  assert.match(r.stdout, new RegExp(`^resumed at step \\d+, best so far ${best[1]} at step ${best[2]}$`, 'm'));
});

test('examples/custom-head.ts trains a registered head, saves the model directory and rebuilds it with the same answer', () => {
  const r = run('examples/custom-head.ts');
  assert.equal(r.status, 0, r.stderr);
  const trained = /^trained: 'a good film' -> (\w+) \(p = ([\d.]+)\)$/m.exec(r.stdout);
  assert.ok(trained, r.stdout);
  assert.match(r.stdout, /^saved config\.json, model\.safetensors, tokenizer_config\.json, vocab\.txt to /m);
  assert.match(r.stdout, new RegExp(`^reloaded \\(head mean-pool, tokenizer 11 tokens\\): 'a good film' -> ${trained[1]} \\(p = ${trained[2]!.replace('.', '\\.')}\\)$`, 'm'));
});

test('examples/generate.ts decodes greedy, beam, sampled and streamed tokens', () => {
  const r = run('examples/generate.ts');
  assert.equal(r.status, 0, r.stderr);
  for (const label of ['greedy', 'beam', 'sample', 'streamed']) assert.match(r.stdout, new RegExp(`^${label} `, 'm'));
});

test('examples/xiangqi.ts shows the shipped model\'s candidates, replies from a FEN and plays a game', () => {
  const r = run('examples/xiangqi.ts');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^opening candidates: (\S+ \d+\.\d%, ){4}\S+ \d+\.\d%$/m);
  assert.match(r.stdout, /^from 3akab2\/.* w - - 0 1: [a-i]\d[a-i]\d \S{4} \(\d+ ms\)$/m);
  assert.match(r.stdout, /^against the random mover, at most 40 plies: (1-0|0-1|1\/2-1\/2) /m);
});

const tinyBert = '../shared/data/checkpoints/tf/keras_bert_tiny';
test('examples/bert-mlm.ts loads a real TF checkpoint and predicts a masked word', { skip: existsSync(tinyBert) ? false : `${tinyBert} is absent (../shared not present)` }, () => {
  const r = run('examples/bert-mlm.ts');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /loaded 42 weights \(google naming\)/);
  assert.match(r.stdout, /\[MASK\] = '\w+'/);
});

// The task examples on a slice of the shared data (a tiny model, one epoch): the test metric they
// print is reproduced exactly by the saved model reloaded in a fresh process. Full runs: docs/EXAMPLES.md.
const corpora = '../shared/data/corpora';
const quick = ['--limit', '32', '--epochs', '1', '--layers', '1', '--hidden', '64'];
const noData = existsSync(corpora) ? false : `${corpora} is absent (../shared not present)`;
for (const [file, extra, metric] of [
  ['task-sentiment.ts', ['--maxlen', '32'], /^test (accuracy \S+)$/m],
  ['task-csl-title.ts', ['--maxlen', '48'], /^test greedy: (rouge-1 .*)$/m],
  ['task-csl-title.ts', ['--maxlen', '48', '--t5'], /^test greedy: (rouge-1 .*)$/m],
  ['task-punctuation.ts', ['--maxlen', '32', '--crf'], /^test (f1 .*)$/m],
  ['task-spans.ts', ['--maxlen', '32'], /^test (f1 .*)$/m],
] as const) {
  test(`examples/${file} ${extra.join(' ')} trains on a slice, saves, and the reloaded model scores the same on test`, { skip: noData }, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', `examples/${file}`, ...quick, ...extra], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [, figures] = metric.exec(r.stdout) ?? assert.fail(r.stdout);
    const reloaded = /^reloaded .*$/m.exec(r.stdout)?.index ?? assert.fail(`no reload line:\n${r.stdout}`);
    assert.ok(r.stdout.slice(reloaded).includes(figures!), `reloaded scores differ:\n${r.stdout}`);
  });
}

test('examples/long-context-mlm.ts reads 2,048 tokens with the 128-position chinese-small, and says the truncated reading is better untrained', { skip: existsSync('../shared/data/corpora/csl/dev.tsv') ? false : '../shared/data/corpora/csl/dev.tsv is absent (../shared not present)' }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/long-context-mlm.ts', '--rows', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^models\/chinese-small: 4 rows of 2048 tokens from .*dev\.tsv, \d+ masked characters$/m);
  const long = Number(/read 2048 at a time, hierarchical positions \(alpha 0\.4\): MLM accuracy ([\d.]+)%/.exec(r.stdout)![1]);
  const short = Number(/read 128 at a time \(the truncation baseline\): +MLM accuracy ([\d.]+)%/.exec(r.stdout)![1]);
  // Without further training the extended model fills in a [MASK] far worse than at its own length.
  assert.ok(short > 2 * long && long > 0, `long ${long}%, truncated ${short}%`);
});
