/**
 * Convert a checkpoint between formats, keeping tensor names, optionally casting float tensors.
 * Tensors stream one at a time from reader to writer, so a checkpoint larger than memory converts.
 */
import { statSync } from '../util/node/fs.ts';
import { floatToBf16, floatToHalf, isFloat, toFloat32, type DType, type HostTensor } from '../graph/dtype.ts';
import { assertNotInput, FileError } from '../util/files.ts';
import { CheckpointError, type CheckpointFormat, type CheckpointReader, type TensorInfo } from './io.ts';
import { openCheckpoint } from './index.ts';
import { writePytorchBin } from './pytorch.ts';
import { writeSafetensors } from './safetensors.ts';
import { dataFileName, writeTfCheckpoint } from './tf.ts';

export type FloatDType = 'float32' | 'float16' | 'bfloat16';
export type WritableFormat = Exclude<CheckpointFormat, 'onnx'>;

/** Cast a float tensor to another float dtype (round to nearest even); other tensors pass through. */
export function castFloat(t: HostTensor, dtype: FloatDType): HostTensor {
  if (!isFloat(t.dtype) || t.dtype === dtype) return t;
  const f32 = toFloat32(t);
  if (dtype === 'float32') return f32;
  const src = f32.data as Float32Array;
  const out = new Uint16Array(src.length);
  const cast = dtype === 'float16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < src.length; i++) out[i] = cast(src[i]!);
  return { dtype, shape: t.shape, data: out };
}

/** Output format from the path: `.safetensors`, `.bin`/`.pt`/`.pth` (torch), `.ckpt` or `.index` (TF prefix). */
export function formatFromPath(path: string): WritableFormat | undefined {
  if (path.endsWith('.safetensors')) return 'safetensors';
  if (/\.(bin|pt|pth)$/.test(path)) return 'pytorch';
  if (/\.ckpt(-\d+)?$/.test(path) || path.endsWith('.index')) return 'tf';
  return undefined;
}

const tfPrefix = (output: string) => (output.endsWith('.index') ? output.slice(0, -'.index'.length) : output);

/**
 * The files a conversion to `output` would write (a TF prefix writes .index and .data), after
 * checking none of them is a directory or one of the files `reader` reads (through symlinks and
 * hard links too): writing those would destroy the input. Throws a FileError before anything is written.
 */
export function checkOutputs(reader: CheckpointReader, output: string, format: WritableFormat): string[] {
  const outputs = format === 'tf' ? [dataFileName(tfPrefix(output), 0, 1), tfPrefix(output) + '.index'] : [output];
  for (const o of outputs) if (statSync(o, { throwIfNoEntry: false })?.isDirectory()) throw new FileError(o, 'is a directory; name the output file (e.g. out.safetensors)');
  assertNotInput(reader.files(), outputs);
  return outputs;
}

export interface ConvertOptions {
  format?: WritableFormat;
  dtype?: FloatDType;
  /** Called after each tensor is read (for progress). */
  onTensor?: (info: TensorInfo, bytes: number) => void;
}

export interface ConvertResult {
  input: string;
  inputFormat: CheckpointFormat;
  output: string;
  format: WritableFormat;
  tensors: number;
  bytes: number;
  skipped: { name: string; reason: string }[];
}

export function convertCheckpoint(input: string, output: string, options: ConvertOptions = {}): ConvertResult {
  const format = options.format ?? formatFromPath(output);
  if (!format) throw new CheckpointError(output, 'cannot tell the output format from the name: use .safetensors, .bin or .ckpt (TF prefix), or pass a format');
  const reader = openCheckpoint(input);
  try {
    checkOutputs(reader, output, format);
    const target = options.dtype;
    const infos = reader.list().map((i) => ({ ...i, dtype: target && isFloat(i.dtype) ? (target as DType) : i.dtype }));
    const byName = new Map(infos.map((i) => [i.name, i]));
    let bytes = 0;
    const source = {
      list: () => infos,
      read: (name: string) => {
        const t = reader.read(name);
        const out = target ? castFloat(t, target) : t;
        bytes += out.data.byteLength;
        options.onTensor?.(byName.get(name)!, out.data.byteLength);
        return out;
      },
    };
    const prefix = format === 'tf' ? tfPrefix(output) : output;
    if (format === 'safetensors') writeSafetensors(output, source, { format: 'pt' });
    else if (format === 'tf') writeTfCheckpoint(prefix, source);
    else writePytorchBin(output, source);
    return { input: reader.path, inputFormat: reader.format, output: prefix, format, tensors: infos.length, bytes, skipped: reader.skipped() };
  } finally {
    reader.close();
  }
}
