// examples/custom-head.ts runs and keeps its promise (belongs in test/examples.test.ts; kept here by file ownership).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

test('examples/custom-head.ts trains a registered head, saves the model directory and rebuilds it with the same answer', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/custom-head.ts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const trained = /^trained: 'a good film' -> (\w+) \(p = ([\d.]+)\)$/m.exec(r.stdout);
  assert.ok(trained, r.stdout);
  assert.match(r.stdout, /^saved config\.json, model\.safetensors, tokenizer_config\.json, vocab\.txt to /m);
  assert.match(r.stdout, new RegExp(`^reloaded \\(head mean-pool, tokenizer 11 tokens\\): 'a good film' -> ${trained[1]} \\(p = ${trained[2]!.replace('.', '\\.')}\\)$`, 'm'));
});
