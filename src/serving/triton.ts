/**
 * A Triton Inference Server model repository for a built model: `<out>/<name>/1/model.onnx` (the
 * inference graph, weights baked in, large ones as external data beside it) and
 * `<out>/<name>/config.pbtxt` (ModelConfig in protobuf text format: platform onnxruntime_onnx,
 * inputs and outputs with the batch dimension left out, dynamic batching, CPU instances).
 * Scaling past one machine is then Triton's job; our own server is stateless for the same reason.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DType } from '../graph/dtype.ts';
import type { Shape } from '../graph/tensor.ts';
import type { Model } from '../models/build.ts';
import { writeFileAtomic } from '../util/files.ts';

const TRITON_TYPE: Record<DType, string> = {
  float32: 'TYPE_FP32', float64: 'TYPE_FP64', float16: 'TYPE_FP16', bfloat16: 'TYPE_BF16', int32: 'TYPE_INT32', int64: 'TYPE_INT64', int8: 'TYPE_INT8', uint8: 'TYPE_UINT8', bool: 'TYPE_BOOL',
};

export interface TritonOptions {
  /** Model name: the directory under `out` (Triton requires them to match). */
  name: string;
  /** Largest batch Triton may form (the first dim of every input and output must be the batch). */
  maxBatchSize?: number;
  /** How long Triton may hold a request to form a batch. */
  maxQueueDelayMicroseconds?: number;
  /** CPU instances of the model. */
  instances?: number;
  /** Class names of a classifier: written to labels.txt and named as the logits' label file. */
  labels?: string[];
}

/** Protobuf text format for one tensor: the batch dim dropped, named (dynamic) dims as -1. */
function tensorEntry(name: string, dtype: DType, shape: Shape, labelFile?: string): string {
  const dims = shape.slice(1).map((d) => (typeof d === 'number' ? d : -1));
  const label = labelFile ? `\n    label_filename: ${JSON.stringify(labelFile)}` : '';
  return `  {\n    name: ${JSON.stringify(name)}\n    data_type: ${TRITON_TYPE[dtype]}\n    dims: [ ${dims.join(', ')} ]${label}\n  }`;
}

export function tritonConfig(model: Model, o: TritonOptions): string {
  const inputs = Object.entries(model.inputs).filter(([n]) => n !== 'labels');
  const outputs = Object.entries(model.outputs).filter(([n]) => n !== 'loss');
  for (const [n, t] of [...inputs, ...outputs]) {
    if (t.shape[0] !== 'batch') throw new Error(`'${n}' ${JSON.stringify(t.shape)} does not start with the batch dimension; Triton's batching needs it first`);
    if (!(t.dtype in TRITON_TYPE)) throw new Error(`'${n}': no Triton type for ${t.dtype}`);
  }
  const maxBatch = o.maxBatchSize ?? 32;
  const preferred = [4, 8, 16, 32].filter((b) => b <= maxBatch);
  return [
    `name: ${JSON.stringify(o.name)}`,
    'platform: "onnxruntime_onnx"',
    `max_batch_size: ${maxBatch}`,
    `input [\n${inputs.map(([n, t]) => tensorEntry(n, t.dtype, t.shape)).join(',\n')}\n]`,
    `output [\n${outputs.map(([n, t]) => tensorEntry(n, t.dtype, t.shape, n === 'logits' && o.labels ? 'labels.txt' : undefined)).join(',\n')}\n]`,
    `dynamic_batching {\n${preferred.length ? `  preferred_batch_size: [ ${preferred.join(', ')} ]\n` : ''}  max_queue_delay_microseconds: ${o.maxQueueDelayMicroseconds ?? 5000}\n}`,
    `instance_group [\n  {\n    count: ${o.instances ?? 1}\n    kind: KIND_CPU\n  }\n]`,
    '',
  ].join('\n');
}

/** Writes the repository entry for `model`; returns the files written. */
export function exportTriton(model: Model, out: string, o: TritonOptions): { config: string; modelPath: string; dataPath?: string } {
  if (!/^[\w.-]+$/.test(o.name)) throw new Error(`model name '${o.name}' must be letters, digits, '_', '-' or '.' (it names a directory)`);
  if (!Number.isInteger(o.maxBatchSize ?? 32) || (o.maxBatchSize ?? 32) < 1) throw new Error(`maxBatchSize must be a positive integer, got ${o.maxBatchSize}`);
  const config = tritonConfig(model, o);
  const version = join(out, o.name, '1');
  mkdirSync(version, { recursive: true });
  const files = model.exportOnnx(join(version, 'model.onnx'));
  const configPath = join(out, o.name, 'config.pbtxt');
  if (o.labels) writeFileAtomic(join(out, o.name, 'labels.txt'), o.labels.join('\n') + '\n');
  writeFileAtomic(configPath, config);
  return { config: configPath, modelPath: files.modelPath, dataPath: files.dataPath };
}
