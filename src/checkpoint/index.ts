/**
 * Checkpoint files in the formats users have: safetensors (also sharded), TensorFlow tensor
 * bundles, PyTorch `pytorch_model.bin` (also sharded), and ONNX initializers. `openCheckpoint`
 * detects the format; every reader reads one tensor at a time from disk. Names are kept as stored:
 * mapping them to a model is the job of the per-family name maps in src/models.
 */
import { existsSync, readdirSync, statSync } from '../util/node/fs.ts';
import { basename, dirname, join } from '../util/node/path.ts';
import type { HostTensor } from '../graph/dtype.ts';
import { FileError } from '../util/files.ts';
import { CheckpointError, describe, RandomAccessFile, readSmallFile, type CheckpointFormat, type CheckpointReader, type TensorInfo } from './io.ts';
import { OnnxReader } from './onnx.ts';
import { PytorchReader } from './pytorch.ts';
import { SafetensorsReader } from './safetensors.ts';
import { resolveTfPrefix, TfCheckpointReader } from './tf.ts';

export { CheckpointError, type CheckpointFormat, type CheckpointReader, type TensorInfo, type TensorSource } from './io.ts';
export { SafetensorsReader, writeSafetensors } from './safetensors.ts';
export { TfCheckpointReader, writeTfCheckpoint } from './tf.ts';
export { PytorchReader, writePytorchBin } from './pytorch.ts';
export { OnnxReader } from './onnx.ts';
export { castFloat, checkOutputs, convertCheckpoint, formatFromPath, type ConvertOptions, type ConvertResult, type FloatDType } from './convert.ts';

export interface OpenOptions {
  /** TF checkpoints: check each tensor's crc32c when read (default true). */
  verifyChecksums?: boolean;
}

/** Open a checkpoint file, TF prefix (`x.ckpt`), sharded `*.index.json`, or a model directory. */
export function openCheckpoint(path: string, options: OpenOptions = {}): CheckpointReader {
  if (!resolveTfPrefix(path)) {
    if (!existsSync(path)) throw new CheckpointError(path, 'no such file or directory (nor a TF checkpoint prefix with a .index file)');
    // One level only: what a directory names must be a file (a symlink loop cannot recurse).
    if (statSync(path).isDirectory()) path = findInDirectory(path);
  }
  const tfPrefix = resolveTfPrefix(path);
  if (tfPrefix) return new TfCheckpointReader(tfPrefix, options);
  if (path.endsWith('.index.json')) return new ShardedReader(path);
  return openFile(path);
}

function openFile(path: string): CheckpointReader {
  const head = readFileHead(path);
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return new PytorchReader(path); // 'PK\3\4'
  // The name first: a safetensors header length can start with any byte, 0x80 (pickle) included.
  if (path.endsWith('.safetensors')) return new SafetensorsReader(path);
  if (path.endsWith('.onnx')) return new OnnxReader(path);
  if (head.length >= 9 && head[8] === 0x7b) return new SafetensorsReader(path); // header length, then '{'
  if (head[0] === 0x80 || /\.(bin|pt|pth)$/.test(path)) return new PytorchReader(path); // a pickle: legacy torch.save
  throw new CheckpointError(path, 'unrecognized checkpoint format (expected safetensors, a TF checkpoint prefix, a torch.save file or .onnx)');
}

function readFileHead(path: string): Uint8Array {
  const f = new RandomAccessFile(path);
  try {
    return f.read(0, Math.min(16, f.size));
  } finally {
    f.close();
  }
}

/** Shard indexes and TF state files are small; this bounds what a corrupt one can make us read. */
const MAX_SMALL_FILE = 256 << 20;

/** Files a model directory may hold, in order of preference. */
const DIRECTORY_CANDIDATES = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];

function findInDirectory(dir: string): string {
  for (const name of DIRECTORY_CANDIDATES) if (existsSync(join(dir, name))) return join(dir, name);
  // TF: the `checkpoint` state file names the latest prefix; else a single *.index.
  const state = join(dir, 'checkpoint');
  if (existsSync(state)) {
    const m = /model_checkpoint_path:\s*"([^"]+)"/.exec(new TextDecoder().decode(readSmallFile(state, MAX_SMALL_FILE, 'TF checkpoint state file')));
    if (m) {
      const prefix = m[1]!.startsWith('/') ? m[1]! : join(dir, m[1]!);
      if (existsSync(prefix + '.index')) return prefix;
      const local = join(dir, basename(m[1]!)); // the state file may hold the original absolute path
      if (existsSync(local + '.index')) return local;
    }
  }
  const files = readdirSync(dir);
  const pick = (suffix: string): string | undefined => {
    const found = files.filter((f) => f.endsWith(suffix) && !f.endsWith('.index.json'));
    if (found.length > 1) throw new CheckpointError(dir, `several ${suffix} checkpoints (${found.join(', ')}): pass one of them`);
    return found[0] && join(dir, found[0]);
  };
  const tf = pick('.index');
  if (tf) return tf;
  if (existsSync(join(dir, 'variables', 'variables.index'))) return join(dir, 'variables', 'variables');
  const found = pick('.safetensors') ?? pick('.onnx');
  if (found) return found;
  const h5 = files.find((f) => f.endsWith('.h5'));
  const hint = h5 ? `; ${h5} is Keras HDF5, which bert4ts does not read: save it as safetensors or a TF checkpoint first` : '';
  throw new CheckpointError(dir, `no checkpoint found (looked for ${DIRECTORY_CANDIDATES.join(', ')}, a TF *.index, *.safetensors, *.onnx)${hint}`);
}

/** `model.safetensors.index.json` / `pytorch_model.bin.index.json`: `{ weight_map: { tensor: shard file } }`. */
export class ShardedReader implements CheckpointReader {
  readonly format: CheckpointFormat;
  private readonly shards = new Map<string, CheckpointReader>();
  private readonly where = new Map<string, CheckpointReader>();

  constructor(readonly path: string) {
    let index: { weight_map?: unknown };
    try {
      // JSON.parse is not recursive in V8, so deep nesting cannot overflow the stack.
      index = JSON.parse(new TextDecoder().decode(readSmallFile(path, MAX_SMALL_FILE, 'shard index')));
    } catch (e) {
      if (e instanceof CheckpointError || e instanceof FileError) throw e;
      throw new CheckpointError(path, `not a valid shard index: ${(e as Error).message}`);
    }
    const weightMap = index?.weight_map;
    if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap)) throw new CheckpointError(path, 'shard index has no weight_map object');
    // A Map, not the parsed object: tensor names such as 'constructor' must not find Object.prototype.
    const map = new Map<string, string>();
    const examples = new Map<string, string>();
    for (const [name, file] of Object.entries(weightMap)) {
      if (typeof file !== 'string') throw new CheckpointError(path, `weight_map values must be shard file names, got ${describe(file)}`, name);
      map.set(name, file);
      if (!examples.has(file)) examples.set(file, name);
    }
    const files = [...examples.keys()].sort();
    this.format = files.every((f) => f.endsWith('.safetensors')) ? 'safetensors' : 'pytorch';
    try {
      for (const file of files) {
        const full = join(dirname(path), file);
        const example = examples.get(file);
        if (file.split(/[\\/]/).includes('..')) throw new CheckpointError(path, `shard '${file}' leaves the checkpoint directory`, example);
        if (!existsSync(full)) throw new CheckpointError(full, `missing shard listed in ${basename(path)}`, example);
        this.shards.set(file, this.format === 'safetensors' ? new SafetensorsReader(full) : new PytorchReader(full));
      }
      for (const [file, reader] of this.shards) for (const { name } of reader.list()) if (map.get(name) === file || !map.has(name)) this.where.set(name, reader);
      for (const [name, file] of map) {
        if (!this.where.has(name)) throw new CheckpointError(join(dirname(path), file), `${basename(path)} places the tensor here but the shard does not hold it`, name);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  list(): TensorInfo[] {
    const out: TensorInfo[] = [];
    for (const reader of this.shards.values()) for (const info of reader.list()) if (this.where.get(info.name) === reader) out.push(info);
    return out;
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  files(): string[] {
    return [this.path, ...[...this.shards.values()].flatMap((r) => r.files())];
  }

  read(name: string): HostTensor {
    const reader = this.where.get(name);
    if (!reader) throw new CheckpointError(this.path, 'no such tensor in any shard', name);
    return reader.read(name);
  }

  skipped(): { name: string; reason: string }[] {
    return [...this.shards.values()].flatMap((r) => r.skipped());
  }

  close(): void {
    for (const r of this.shards.values()) r.close();
  }
}
