// Its own file: it swaps process.stdout.write, which the test runner also reports through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, writeSafetensors } from '../../src/checkpoint/index.ts';
import { main } from '../../src/cli/main.ts';
import { sampleTensors, tempDir } from './helpers.ts';

test('bert4ts convert: converts by output extension, prints a JSON line; bad usage exits 2, failure 1', async () => {
  const dir = tempDir();
  writeSafetensors(join(dir, 'in.safetensors'), sampleTensors());
  const out: string[] = [];
  const orig = process.stdout.write.bind(process.stdout), origErr = process.stderr.write.bind(process.stderr);
  // Capture the command's text; pass the runner's own (binary) reporting through.
  (process.stdout as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (out.push(s), true) : (orig as any)(s, ...rest));
  (process.stderr as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (out.push(s), true) : (origErr as any)(s, ...rest));
  let codes: number[];
  try {
    codes = [
      await main(['convert', join(dir, 'in.safetensors'), join(dir, 'out.ckpt'), '--quiet']),
      await main(['convert', join(dir, 'in.safetensors'), join(dir, 'out.weird')]),
      await main(['convert', join(dir, 'in.safetensors'), join(dir, 'x.bin'), '--dtype', 'int4']),
      await main(['convert', join(dir, 'missing.safetensors'), join(dir, 'x.bin')]),
      await main(['convert', '--help']),
    ];
  } finally {
    (process.stdout as any).write = orig;
    (process.stderr as any).write = origErr;
  }
  assert.deepEqual(codes, [0, 2, 2, 1, 0]);
  const result = JSON.parse(out.find((s) => s.startsWith('{"input"'))!);
  assert.equal(result.format, 'tf');
  assert.equal(result.tensors, sampleTensors().length);
  assert.match(out.join(''), /cannot tell the output format/);
  assert.match(out.join(''), /--dtype must be float32, float16 or bfloat16, got "int4"/);
  assert.match(out.join(''), /missing\.safetensors: no such file/);
  const r = openCheckpoint(join(dir, 'out.ckpt'));
  for (const [name, t] of sampleTensors()) assert.deepEqual(r.read(name), t);
});

test('bert4ts convert: an output that is the input (also through a symlink) exits 2 before anything is written', async () => {
  const dir = tempDir();
  const input = join(dir, 'in.safetensors');
  writeSafetensors(input, sampleTensors());
  symlinkSync(input, join(dir, 'link.safetensors'));
  const before = readFileSync(input);
  const out: string[] = [];
  const origErr = process.stderr.write.bind(process.stderr);
  (process.stderr as any).write = (s: unknown, ...rest: unknown[]) => (typeof s === 'string' ? (out.push(s), true) : (origErr as any)(s, ...rest));
  let codes: number[];
  try {
    codes = [
      await main(['convert', input, input, '--quiet']),
      await main(['convert', input, join(dir, 'link.safetensors'), '--quiet']),
      await main(['convert', join(dir, 'link.safetensors'), input, '--quiet']),
    ];
  } finally {
    (process.stderr as any).write = origErr;
  }
  assert.deepEqual(codes, [2, 2, 2]);
  assert.match(out.join(''), /in\.safetensors: output is the input .*; writing it would destroy the input/);
  assert.deepEqual(readFileSync(input), before);
});
