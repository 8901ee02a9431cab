// Shared by the checkpoint tests: seeded random tensors of every dtype and temp directories.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { allocate, floatToBf16, floatToHalf, sizeOf, type DType, type HostTensor } from '../../src/graph/dtype.ts';

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-ckpt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random numbers in [-1, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}

export function randomTensor(dtype: DType, shape: number[], seed: number): HostTensor {
  const r = rng(seed);
  const n = sizeOf(shape);
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) {
    const x = r();
    switch (dtype) {
      case 'float16': data[i] = floatToHalf(x); break;
      case 'bfloat16': data[i] = floatToBf16(x); break;
      case 'int64': (data as BigInt64Array)[i] = BigInt(Math.round(x * 2 ** 50)); break;
      case 'int32': data[i] = Math.round(x * 2 ** 30); break;
      case 'int8': data[i] = Math.round(x * 127); break;
      case 'uint8': data[i] = Math.round((x + 1) * 127); break;
      case 'bool': data[i] = x > 0 ? 1 : 0; break;
      default: data[i] = x;
    }
  }
  return { dtype, shape, data };
}

/** One tensor of each dtype, including a scalar and an empty tensor. */
export function sampleTensors(): [string, HostTensor][] {
  return [
    ['bert/embeddings/word_embeddings', randomTensor('float32', [7, 5], 1)],
    ['layer.0.half', randomTensor('float16', [3, 4], 2)],
    ['layer.0.bf16', randomTensor('bfloat16', [4, 3], 3)],
    ['double', randomTensor('float64', [2, 2, 2], 4)],
    ['global_step', randomTensor('int64', [], 5)],
    ['ids', randomTensor('int64', [6], 6)],
    ['int32', randomTensor('int32', [5], 7)],
    ['int8', randomTensor('int8', [9], 8)],
    ['uint8', randomTensor('uint8', [9], 9)],
    ['mask', randomTensor('bool', [2, 3], 10)],
    ['empty', randomTensor('float32', [0, 4], 11)],
    ['名字/unicode', randomTensor('float32', [2], 12)],
  ];
}

/** The tensors of test/fixtures/checkpoint/snappy_tiny.ckpt (see make_snappy_fixture.ts). */
export function snappyFixtureTensors(): [string, HostTensor][] {
  const tensors: [string, HostTensor][] = [];
  // Repetitive names compress well, so Snappy emits literals and back-references.
  for (let i = 0; i < 60; i++) {
    tensors.push([`bert/encoder/layer_${i % 12}/attention/output/dense/kernel/adam_${i % 2 ? 'm' : 'v'}_${i}`, randomTensor(i % 3 ? 'float32' : 'float16', [i % 4, 2], 100 + i)]);
  }
  return tensors;
}
