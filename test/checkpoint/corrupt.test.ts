// Corrupted and truncated files of every format must fail with a CheckpointError naming the file
// (never a RangeError, TypeError or hang), or read: a flipped data byte can be undetectable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CheckpointError, openCheckpoint, writePytorchBin, writeSafetensors, writeTfCheckpoint } from '../../src/checkpoint/index.ts';
import { rng, sampleTensors, tempDir } from './helpers.ts';

const FIXTURES = new URL('../fixtures/checkpoint/', import.meta.url).pathname;

test('fuzz: random byte changes and truncations give CheckpointErrors naming the file', () => {
  const dir = tempDir();
  const tensors = sampleTensors();
  writeSafetensors(join(dir, 'a.safetensors'), tensors);
  writeTfCheckpoint(join(dir, 'a.ckpt'), tensors);
  writePytorchBin(join(dir, 'a.bin'), tensors);
  copyFileSync(join(FIXTURES, 'torch_state_legacy.bin'), join(dir, 'legacy.bin'));
  copyFileSync(join(FIXTURES, 'model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(join(FIXTURES, 'model.onnx.data'), join(dir, 'model.onnx.data'));
  // [file to damage, what to open]
  const targets = [
    ['a.safetensors', 'a.safetensors'], ['a.ckpt.index', 'a.ckpt'], ['a.ckpt.data-00000-of-00001', 'a.ckpt'],
    ['a.bin', 'a.bin'], ['legacy.bin', 'legacy.bin'], ['model.onnx', 'model.onnx'],
  ];
  const random = rng(2026);
  const uniform = (n: number) => Math.floor(((random() + 1) / 2) * n);
  let failures = 0;
  for (const [damaged, opened] of targets) {
    const original = readFileSync(join(dir, damaged!));
    for (let k = 0; k < 120; k++) {
      let bytes = Buffer.from(original);
      if (k % 2) bytes = bytes.subarray(0, uniform(bytes.length));
      else for (let j = 0, n = 1 + uniform(3); j < n; j++) bytes[uniform(bytes.length)] = uniform(256);
      writeFileSync(join(dir, damaged!), bytes);
      try {
        const r = openCheckpoint(join(dir, opened!));
        try {
          for (const { name } of r.list()) r.read(name);
        } finally {
          r.close();
        }
      } catch (e) {
        failures++;
        assert.ok(e instanceof CheckpointError, `${damaged} case ${k}: ${(e as Error).stack}`);
        assert.ok(e.message.includes(basename(opened!)), e.message);
      }
    }
    writeFileSync(join(dir, damaged!), original);
  }
  assert.ok(failures > 300, `most damage is detected (${failures} of 720)`);
});
