/**
 * Primitive registry. Each primitive is defined once, with its shape/dtype rule, its ONNX lowering
 * and its VJP side by side (see ops.ts). Everything else in the library composes primitives.
 */
import type { DType, HostTensor } from './dtype.ts';
import { Node, Tensor, type Attrs, type Dim, type Shape } from './tensor.ts';

/** What a lowering rule may ask of the ONNX builder (implemented in src/runtime/lower.ts). */
export interface OnnxBuilder {
  /** Emit one ONNX node; returns its output value names. */
  node(opType: string, inputs: string[], attrs?: Record<string, OnnxAttr>, outputs?: number, domain?: string): string[];
  /** An int64 1-D constant. */
  ints(values: number[]): string;
  /** A scalar constant of `dtype`. */
  scalar(value: number, dtype: DType): string;
  /** A constant tensor. */
  constant(t: HostTensor): string;
  /** int64 [1] holding the runtime value of a dim expression. */
  dim(d: Dim): string;
  /** int64 [rank] holding a runtime shape. */
  shape(dims: Shape): string;
  /** ONNX element type code of a dtype. */
  dtypeCode(dtype: DType): number;
}

export type OnnxAttr = number | string | number[] | { floats: number[] } | { float: number } | HostTensor;

export interface PrimRule {
  /** Output dtype and shape from input tensors and attributes; throw GraphError on mismatch. */
  shape(inputs: readonly Tensor[], attrs: Attrs): { dtype: DType; shape: Shape };
  /** Emit ONNX nodes computing the output from input value names; return the output name. */
  onnx(b: OnnxBuilder, inputs: string[], attrs: Attrs, node: Node): string;
  /**
   * Gradients of the inputs given the output's gradient `g` (in the output's shape; the walker
   * reduces broadcast dims). `needs[i]` says whether input i wants a gradient. Return null where
   * the input is not differentiable. Omit for ops with no gradient (comparisons, integer ops).
   */
  vjp?(g: Tensor, inputs: readonly Tensor[], out: Tensor, attrs: Attrs, needs: readonly boolean[]): (Tensor | null)[];
}

export const PRIMS = new Map<string, PrimRule>();

/** Register a primitive and return the function that applies it. */
export function defPrim<A extends unknown[]>(
  name: string,
  rule: PrimRule,
  signature: (apply: (inputs: Tensor[], attrs?: Attrs) => Tensor) => (...args: A) => Tensor,
): (...args: A) => Tensor {
  if (PRIMS.has(name)) throw new Error(`primitive '${name}' defined twice`);
  PRIMS.set(name, rule);
  return signature((inputs, attrs = {}) => applyPrim(name, inputs, attrs));
}

export function applyPrim(name: string, inputs: Tensor[], attrs: Attrs = {}): Tensor {
  const rule = PRIMS.get(name);
  if (!rule) throw new Error(`unknown primitive '${name}'`);
  for (const [i, x] of inputs.entries()) {
    if (!(x instanceof Tensor)) throw new TypeError(`${name}: input ${i} is not a Tensor (got ${typeof x})`);
  }
  const { dtype, shape } = rule.shape(inputs, attrs);
  const node = new Node(name, inputs, attrs);
  const out = new Tensor(node, dtype, shape);
  node.output = out;
  return out;
}
