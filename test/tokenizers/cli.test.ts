// The bert4ts tokenize command, run in-process with stdout and stderr captured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { SHARED, sharedSkip } from './helpers.ts';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const o = process.stdout.write.bind(process.stdout), e = process.stderr.write.bind(process.stderr);
  // The CLI writes strings; the test runner's own protocol goes out as bytes and must pass through.
  (process.stdout as any).write = (s: string | Uint8Array, ...rest: any[]) => (typeof s === 'string' ? ((out += s), true) : o(s, ...rest));
  (process.stderr as any).write = (s: string | Uint8Array, ...rest: any[]) => (typeof s === 'string' ? ((err += s), true) : e(s, ...rest));
  try {
    return { code: await main(args), out, err };
  } finally {
    (process.stdout as any).write = o;
    (process.stderr as any).write = e;
  }
}

test('bert4ts tokenize prints one JSON line per text, decodes ids, and rejects bad usage', { skip: sharedSkip }, async () => {
  const r = await cli(['tokenize', '--tokenizer', SHARED + 'gpt2', 'This is some text', 'Hi']);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines[0], { ids: [1212, 318, 617, 2420], tokens: ['This', 'Ġis', 'Ġsome', 'Ġtext'], segments: [0, 0, 0, 0], offsets: [[0, 4], [4, 7], [7, 12], [12, 17]] });
  assert.equal(lines.length, 2);
  const pair = JSON.parse((await cli(['tokenize', '-t', SHARED + 'bert-chinese', '--pair', '世界', '你好'])).out);
  assert.deepEqual(pair.segments, [0, 0, 0, 0, 1, 1, 1]);
  assert.equal((await cli(['tokenize', '-t', SHARED + 'gpt2', '--decode', '[1212,', '318]'])).out, 'This is\n');
  assert.equal((await cli(['tokenize', '-t', SHARED + 'gpt2', '--decode', 'x'])).code, 2);
  assert.equal((await cli(['tokenize', 'text'])).code, 2);
  const bad = await cli(['tokenize', '-t', SHARED + 'gpt2', '--decode', '50257']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /id 50257 at position 0 is out of range/);
  assert.equal((await cli(['tokenize', '-t', join(tmpdir(), 'bert4ts-no-such-tokenizer'), 'x'])).code, 1);
});
