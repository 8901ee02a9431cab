/**
 * The player's network: a small GPT-2 over the player's vocabulary (vocab.ts), its weights in one
 * safetensors file whose metadata carries the config, so `model.safetensors` alone is a complete model.
 */
import type * as Url from 'node:url';
import { existsSync, renameSync, statSync, unlinkSync } from '../../util/node/fs.ts';
import { join } from '../../util/node/path.ts';
import { tryBuiltin } from '../../util/node/builtin.ts';
import { assertRegularFile, tempPathFor } from '../../util/files.ts';
import { toFloat32, type HostTensor } from '../../graph/dtype.ts';
import { ParamStore } from '../../nn/params.ts';
import { SafetensorsReader, writeSafetensors } from '../../checkpoint/safetensors.ts';
import type { NamedBytes } from '../../checkpoint/io.ts';
import { castFloat } from '../../checkpoint/convert.ts';
import type { GPT2Config } from '../../models/gpt2.ts';
import { FORMATS, isContextFormat, VOCAB, type ContextFormat } from './vocab.ts';
import { positionWindowMoves } from './dataset.ts';

/** The default network for a format: the shipped model's size (4.8 M parameters). */
export function defaultConfig(format: ContextFormat): GPT2Config {
  return { vocabSize: FORMATS[format].vocabSize, hiddenSize: 256, numLayers: 6, numHeads: 4, intermediateSize: 1024, maxPosition: FORMATS[format].defaultMaxPosition };
}

export interface PlayerModel {
  config: GPT2Config;
  format: ContextFormat;
  store: ParamStore;
  /** Free-form facts saved with the weights (training step, figures). */
  metadata: Record<string, string>;
}

export class ModelFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFileError';
  }
}

const shipped = new URL('../../../models/xiangqi/model.safetensors', import.meta.url);
/** Shipped weights, relative to the repository root (in a browser bundle, a URL beside the bundle: unused there). */
export const SHIPPED_MODEL = shipped.protocol === 'file:' ? tryBuiltin<typeof Url>('node:url')?.fileURLToPath(shipped) ?? decodeURIComponent(shipped.pathname) : shipped.href;

/**
 * Load a model from a safetensors file or a directory holding model.safetensors, or from the file's
 * bytes (`{ name, bytes }`, as a browser has them). Weights become float32.
 */
export function loadPlayerModel(path: string | NamedBytes = SHIPPED_MODEL): PlayerModel {
  let file: string;
  if (typeof path === 'string') {
    file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.safetensors') : path;
    if (!existsSync(file)) {
      throw new ModelFileError(`no model file at ${file}: train one with \`bert4ts xiangqi train --corpus games.jsonl --out <dir>\` or pass --model <file>`);
    }
    try {
      assertRegularFile(file);
    } catch (e) {
      throw new ModelFileError((e as Error).message);
    }
  } else file = path.name;
  const reader = new SafetensorsReader(typeof path === 'string' ? file : path);
  try {
    const raw = reader.metadata.config;
    if (!raw) throw new ModelFileError(`${file} has no "config" in its metadata: not a bert4ts xiangqi player model`);
    const config = parseConfig(file, raw);
    const format = reader.metadata.contextFormat ?? 'moves';
    if (!isContextFormat(format)) throw new ModelFileError(`${file}: unknown contextFormat "${format}" (expected ${Object.keys(FORMATS).join(', ')})`);
    const vocab = VOCAB.slice(0, FORMATS[format].vocabSize).join(' ');
    if (reader.metadata.vocab && reader.metadata.vocab !== vocab) {
      throw new ModelFileError(`${file} was trained with a different vocabulary (${reader.metadata.vocab})`);
    }
    // `train --history`: the plies of moves the model saw after its board, the player's default (Player.historyPlies).
    const history = reader.metadata.history;
    if (history !== undefined) {
      const most = format === 'moves' ? -1 : positionWindowMoves(format, config.maxPosition) - 1;
      const plies = Number(history);
      if (history.trim() === '' || !Number.isInteger(plies) || plies < 0 || plies > most) {
        throw new ModelFileError(`${file}: the "history" metadata must be ${most < 0 ? 'absent for a moves-format model' : `an integer from 0 to ${most}`}, got "${history}"`);
      }
    }
    const store = new ParamStore();
    for (const info of reader.list()) store.set(info.name, toFloat32(reader.read(info.name)));
    return { config, format, store, metadata: { ...reader.metadata } };
  } finally {
    reader.close();
  }
}

/** The config from a model's metadata, every size checked: it decides how much is allocated and built. */
export function parseConfig(file: string, raw: string | undefined): GPT2Config {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(raw ?? '');
  } catch (e) {
    throw new ModelFileError(`${file}: the "config" metadata is not JSON (${(e as Error).message})`);
  }
  const limits = { vocabSize: 1 << 16, hiddenSize: 1 << 14, numLayers: 256, numHeads: 1 << 10, maxPosition: 1 << 16, intermediateSize: 1 << 16 };
  for (const [key, max] of Object.entries(limits)) {
    const v = c?.[key];
    if (v === undefined && key === 'intermediateSize') continue;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > max) throw new ModelFileError(`${file}: config "${key}" must be an integer from 1 to ${max}, got ${JSON.stringify(v)}`);
  }
  return c as unknown as GPT2Config;
}

/** Write the weights (optionally as float16) with config and vocabulary in the metadata. */
export function savePlayerModel(path: string, model: { config: GPT2Config; format: ContextFormat; store: ParamStore }, o: { dtype?: 'float32' | 'float16'; metadata?: Record<string, string> } = {}): void {
  if (model.config.vocabSize !== FORMATS[model.format].vocabSize) {
    throw new Error(`a ${model.format}-format model has a vocabulary of ${FORMATS[model.format].vocabSize} tokens, this config has vocabSize ${model.config.vocabSize}`);
  }
  const dtype = o.dtype ?? 'float32';
  const names = model.store.names().filter((n) => !n.startsWith('opt/')).sort();
  const tensors: [string, HostTensor][] = names.map((n) => [n, castFloat(model.store.get(n)!, dtype)]);
  const vocab = VOCAB.slice(0, model.config.vocabSize).join(' ');
  // Temp file + rename: a crash mid-write leaves the previous model whole.
  const tmp = tempPathFor(path);
  try {
    writeSafetensors(tmp, tensors, { format: 'bert4ts-xiangqi', contextFormat: model.format, config: JSON.stringify(model.config), vocab, ...o.metadata });
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}
