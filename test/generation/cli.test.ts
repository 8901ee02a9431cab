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
