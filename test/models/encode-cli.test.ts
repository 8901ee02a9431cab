// `bert4ts encode`. Its own file: it swaps process.stdout.write, which the test runner also reports through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { readCase, REFERENCE_DIR, sharedPath } from './helpers.ts';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [], err: string[] = [];
  const orig = process.stdout.write.bind(process.stdout), origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (out.push(s), true) : (orig as any)(s, ...rest));
  (process.stderr as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (err.push(s), true) : (origErr as any)(s, ...rest));
  try {
    return { code: await main(['encode', ...argv]), stdout: out.join(''), stderr: err.join('') };
  } finally {
    (process.stdout as any).write = orig;
    (process.stderr as any).write = origErr;
  }
}

test('bert4ts encode --ids: MLM top prediction at [MASK] is the reference argmax; bad usage exits 2, failure 1', async () => {
  const ref = readCase('bert-mlm');
  const ids = (ref.inputs.input_ids as number[][])[0]!;
  const maskAt = ids.indexOf(4);
  assert.ok(maskAt >= 0, 'the reference row has a [MASK] (id 4)');
  const r = await run(['--model', join(REFERENCE_DIR, 'bert-mlm'), '--application', 'mlm', '--ids', ids.join(','), '--mask-id', '4', '--top', '3']);
  assert.equal(r.code, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim());
  assert.deepEqual(line.shape, [1, ids.length, 32]);
  const masked = ids.flatMap((id, t) => (id === 4 ? [t] : []));
  assert.deepEqual(line.predictions.map((p: { position: number }) => p.position), masked);
  const logits = ref.outputs.logits!;
  const V = logits.shape[2]!;
  const row = logits.data.slice(maskAt * V, (maskAt + 1) * V);
  const argmax = row.indexOf(Math.max(...row));
  assert.equal(line.predictions[0].top[0].id, argmax);
  assert.equal(line.predictions[0].top.length, 3);

  assert.equal((await run(['--model', join(REFERENCE_DIR, 'bert-mlm'), '--ids', '1,x'])).code, 2);
  assert.equal((await run(['--ids', '1,2'])).code, 2);
  assert.equal((await run(['--model', join(REFERENCE_DIR, 'bert-mlm')])).code, 2);
  const missing = await run(['--model', join(REFERENCE_DIR, 'no-such-model'), '--ids', '1,2']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no-such-model/);
  assert.equal((await run(['--help'])).code, 0);
});

const bertTiny = sharedPath('checkpoints', 'tf', 'keras_bert_tiny');
test('bert4ts encode TEXT: tokenizes with the model directory vocab, keeps a literal [MASK]', { skip: bertTiny ? false : 'needs ../shared/data/checkpoints/tf/keras_bert_tiny' }, async () => {
  const mlm = await run(['--model', bertTiny!, '--application', 'mlm', 'all work and [MASK] play']);
  assert.equal(mlm.code, 0, mlm.stderr);
  const line = JSON.parse(mlm.stdout.trim());
  assert.deepEqual(line.tokens, ['[CLS]', 'all', 'work', 'and', '[MASK]', 'play', '[SEP]']);
  assert.deepEqual(line.predictions.map((p: { position: number }) => p.position), [4]);
  const enc = await run(['--model', bertTiny!, '--values', '3', 'all work', 'no play']);
  const lines = enc.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[0].shape, [1, 4, 4]);
  assert.equal(lines[1].first.length, 3);
  assert.notDeepEqual(lines[0].first, lines[1].first);
});
