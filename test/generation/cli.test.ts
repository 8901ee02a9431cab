import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildModel } from '../../src/models/build.ts';
import { decoderFor } from '../../src/generation/forModel.ts';
import { beamSearch, greedy } from '../../src/generation/decode.ts';

const MODEL = 'test/fixtures/reference/gpt2-lm';
const run = (...args: string[]) => spawnSync(process.execPath, ['bin/bert4ts.js', 'generate', ...args], { encoding: 'utf8' });

test('bert4ts generate: greedy and beam search from a checkpoint directory, as the API computes them', async () => {
  const model = buildModel(MODEL, { checkpoint: MODEL });
  const lm = decoderFor(model);
  const g = await greedy(lm, [[1, 2, 3]], { maxNewTokens: 6 });
  const b = await beamSearch(lm, [[1, 2, 3]], { maxNewTokens: 6, beamSize: 3, nBest: 2 });
  const r1 = run('--model', MODEL, '--prompt-ids', '1,2,3', '--max-new-tokens', '6', '--json');
  assert.equal(r1.status, 0, r1.stderr);
  assert.deepEqual(JSON.parse(r1.stdout).ids, g[0]);
  const r2 = run('--model', MODEL, '--prompt-ids', '1,2,3', '--max-new-tokens', '6', '--beam', '3', '--n-best', '2', '--json');
  assert.equal(r2.status, 0, r2.stderr);
  const lines = r2.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.ids), b[0]!.map((h) => h.ids));
  assert.ok(Math.abs(lines[0].logProb - b[0]![0]!.logProb) < 1e-6);
  const noRepeat = await greedy(lm, [[1, 2, 3]], { maxNewTokens: 12, noRepeatNgramSize: 2 });
  assert.notDeepEqual(noRepeat, await greedy(lm, [[1, 2, 3]], { maxNewTokens: 12 }), 'this model repeats itself when let');
  const r3 = run('--model', MODEL, '--prompt-ids', '1,2,3', '--max-new-tokens', '12', '--no-repeat-ngram', '2', '--json');
  assert.equal(r3.status, 0, r3.stderr);
  assert.deepEqual(JSON.parse(r3.stdout).ids, noRepeat[0]);
});

test('bert4ts generate: usage errors exit 2, bad ids exit 1 with the reason', () => {
  const noModel = run('--prompt-ids', '1');
  assert.equal(noModel.status, 2);
  assert.match(noModel.stderr, /--model <dir> is required/);
  const both = run('--model', MODEL, '--greedy', '--sample', '--prompt-ids', '1');
  assert.equal(both.status, 2);
  const bad = run('--model', MODEL, '--prompt-ids', '1,999');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /id 999 outside the vocabulary \[0, 80\)/);
});

test('bert4ts generate: option values out of range are usage errors (exit 2) that name the option', () => {
  for (const [args, message] of [
    [['--sample', '--top-p', '5'], /--top-p must be a number > 0 and <= 1, got "5"/],
    [['--sample', '--n', '0'], /--n must be an integer from 1 to 256, got "0"/],
    [['--max-new-tokens=-5'], /--max-new-tokens must be an integer >= 1, got "-5"/],
    [['--beam', '2', '--n-best', '3'], /--n-best 3 exceeds --beam 2/],
    [['--top-k', '5'], /--top-k applies to sampling; add --sample/],
    [['--prompt-ids', '1', '--end-ids=-1'], /--end-ids: '-1' is not a non-negative integer id/],
    [['--no-repeat-ngram', '0'], /--no-repeat-ngram must be an integer >= 1, got "0"/],
  ] as const) {
    const r = run('--model', MODEL, ...((args as readonly string[]).includes('--prompt-ids') ? [] : ['--prompt-ids', '1']), ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});

test('bert4ts: names of Object.prototype are unknown commands, not crashes', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const r = spawnSync(process.execPath, ['bin/bert4ts.js', name], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`unknown command '${name}'`));
  }
});
