// Tiny seeded player models for tests (random weights: legal but aimless play).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { input } from '../../src/graph/ops.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { gpt2, type GPT2Config } from '../../src/models/gpt2.ts';
import { savePlayerModel, type PlayerModel } from '../../src/xiangqi/player/model.ts';
import { FORMATS, type ContextFormat } from '../../src/xiangqi/player/vocab.ts';
import type { ValueHead } from '../../src/xiangqi/player/value.ts';
import { Random } from '../../src/util/random.ts';

export const TINY: GPT2Config = { vocabSize: FORMATS.position.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, maxPosition: 128 };

/** Seeded random weights; the vocabulary follows the format unless `config` sets another. */
export function tinyModel(seed = 1, config: GPT2Config = TINY, format: ContextFormat = 'position'): PlayerModel {
  if (config === TINY) config = { ...TINY, vocabSize: FORMATS[format].vocabSize };
  const store = new ParamStore(seed);
  gpt2(new Scope(store), config, { ids: input('ids', 'int64', ['batch', 'seq']) }); // creates the seeded weights
  return { config, format, store, metadata: {} };
}

/** A tiny model written to a fresh temp dir; returns the file path. */
export function tinyModelFile(seed = 1): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bert4ts-xq-')), 'model.safetensors');
  savePlayerModel(path, tinyModel(seed));
  return path;
}

/** A head with random weights over the tiny model's hidden size (aimless, but a real head). */
export function randomHead(size = TINY.hiddenSize, seed = 3): ValueHead {
  const r = new Random(seed);
  return { inputSize: size, hiddenSize: 0, mean: new Float32Array(size), scale: new Float32Array(size).fill(1), w1: Float32Array.from({ length: size * 3 }, () => r.normal()), b1: new Float32Array(3), metadata: {} };
}
