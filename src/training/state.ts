/**
 * A training run on disk, so that it can stop and resume exactly. A directory holds `trainer.json`
 * (step, micro-batch, seed, best-so-far, and the names of the files below) and safetensors files
 * for the weights, the optimizer/EMA slots and the best weights. Every save writes new files under
 * a fresh tag and then replaces `trainer.json` atomically: a crash at any point leaves the last
 * complete state readable (at worst with unreferenced files beside it, removed by the next save).
 */
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from '../util/node/fs.ts';
import { join } from '../util/node/path.ts';
import { openCheckpoint, writeSafetensors, type CheckpointReader } from '../checkpoint/index.ts';
import type { HostTensor } from '../graph/dtype.ts';
import { writeFileAtomic } from '../util/files.ts';
import { TrainingError } from './errors.ts';

export interface BestSoFar {
  metric: string;
  mode: 'min' | 'max';
  value: number;
  step: number;
  /** Evaluations since the best one (early stopping's patience counter). */
  wait: number;
}

export interface TrainerMeta {
  format: 'bert4ts-trainer';
  version: 1;
  /** Optimizer updates done: the schedule's position. */
  step: number;
  /** Micro-batches done (accumulation's position within an update). */
  micro: number;
  /** Dropout seed of the step graph. */
  seed: number;
  optimizer: string;
  accumulate: number;
  ema: number | null;
  best: BestSoFar | null;
}

/** Named tensors, read one at a time (a restore from disk never holds a second copy of the model). */
export interface TensorSet {
  names: string[];
  get(name: string): HostTensor;
}

export interface TrainerState {
  meta: TrainerMeta;
  /** Every weight the loss graph uses (trainable and frozen). */
  weights: TensorSet;
  /** Optimizer slots (`opt/...`) and moving averages (`ema/...`). */
  slots: TensorSet;
  /** The weights of the best evaluation, when the run keeps them. */
  best: TensorSet | null;
}

export const tensorSet = (entries: Iterable<[string, HostTensor]>): TensorSet => {
  const map = new Map(entries);
  return { names: [...map.keys()], get: (n) => map.get(n)! };
};

const INDEX = 'trainer.json';
const PARTS = ['weights', 'slots', 'best'] as const;
let saves = 0;

export function writeTrainerState(dir: string, state: TrainerState): void {
  mkdirSync(dir, { recursive: true });
  const tag = `${state.meta.step}-${Date.now().toString(36)}-${process.pid}-${saves++}`;
  const files: Partial<Record<(typeof PARTS)[number], string>> = {};
  for (const part of PARTS) {
    const set = state[part];
    if (!set) continue;
    files[part] = `${part}-${tag}.safetensors`;
    writeSafetensors(join(dir, files[part]!), set.names.map((n): [string, HostTensor] => [n, set.get(n)]), { format: 'bert4ts-trainer' });
  }
  writeFileAtomic(join(dir, INDEX), JSON.stringify({ ...state.meta, files }, null, 1) + '\n');
  // Only now are the previous save's files unreferenced.
  const keep = new Set(Object.values(files));
  // Only names of our own tag format: a user's weights-final.safetensors in the same directory stays.
  for (const f of readdirSync(dir)) if (/^(weights|slots|best)-\d+-[0-9a-z]+-\d+-\d+\.safetensors$/.test(f) && !keep.has(f)) unlinkSync(join(dir, f));
}

/** Reads a saved state; `use` gets tensor sets backed by the files, which are closed when it returns. */
export function readTrainerState<T>(dir: string, use: (state: TrainerState) => T): T {
  const index = join(dir, INDEX);
  let raw: TrainerMeta & { files?: Record<string, string> };
  try {
    raw = JSON.parse(readFileSync(index, 'utf8'));
  } catch (e) {
    throw new TrainingError('restore', `${index}: cannot read a saved trainer state (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); save one with trainer.save(dir) or fit({ saveTo })`);
  }
  if (raw?.format !== 'bert4ts-trainer' || raw.version !== 1) throw new TrainingError('restore', `${index}: not a bert4ts trainer state (format ${JSON.stringify(raw?.format)}, version ${JSON.stringify(raw?.version)})`);
  for (const k of ['step', 'micro', 'seed', 'accumulate'] as const) if (!Number.isInteger(raw[k]) || raw[k] < 0) throw new TrainingError('restore', `${index}: '${k}' must be a non-negative integer, got ${JSON.stringify(raw[k])}`);
  const { files = {}, ...meta } = raw;
  const readers: CheckpointReader[] = [];
  try {
    const open = (part: string): TensorSet | null => {
      const f = files[part];
      if (f === undefined) return null;
      if (typeof f !== 'string' || !/^[\w.-]+$/.test(f)) throw new TrainingError('restore', `${index}: bad file name for '${part}': ${JSON.stringify(f)}`);
      const r = openCheckpoint(join(dir, f));
      readers.push(r);
      return { names: r.list().map((i) => i.name), get: (n) => r.read(n) };
    };
    const weights = open('weights'), slots = open('slots');
    if (!weights || !slots) throw new TrainingError('restore', `${index}: names no weights or slots file`);
    return use({ meta, weights, slots, best: open('best') });
  } finally {
    for (const r of readers) r.close();
  }
}
