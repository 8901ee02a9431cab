/**
 * Export a built graph as a standalone ONNX model that plain onnxruntime (and onnx.checker) accept.
 * Weights of `externalThreshold` bytes or more go to `<path>.data` (ONNX external data), which is
 * required past protobuf's 2 GB limit and lets ORT memory-map the weights.
 */
import type { HostTensor } from '../graph/dtype.ts';
import type { Tensor } from '../graph/tensor.ts';
import { lower } from './lower.ts';
import { quantizeLowered, type QuantizeOptions } from './quantize.ts';

export interface ExportOptions {
  /** Bytes at or above which a weight is stored externally (default 1 KiB; Infinity = all inline). */
  externalThreshold?: number;
  name?: string;
  /** Write int8 weights (the same rewrite as a quantized session; DynamicQuantizeMatMul is an ORT contrib op). */
  quantize?: QuantizeOptions;
}

export function exportOnnx(
  outputs: Record<string, Tensor>,
  paramValue: (name: string) => HostTensor | undefined,
  path: string,
  options: ExportOptions = {},
): { modelPath: string; dataPath?: string; inputs: string[]; outputs: string[] } {
  const fp32 = lower(outputs, { params: 'initializers', paramValue, name: options.name ?? 'bert4ts' });
  const model = options.quantize ? quantizeLowered(fp32, options.quantize) : fp32;
  const threshold = options.externalThreshold ?? 1024;
  if (threshold === Infinity && model.weightBytes > 1.9e9) throw new Error(`cannot inline ${(model.weightBytes / 1e9).toFixed(2)} GB of weights in one protobuf; use external data`);
  const files = model.writeFiles(path, threshold);
  return { ...files, inputs: model.inputs.map((i) => i.name), outputs: model.outputs.map((o) => o.name) };
}
