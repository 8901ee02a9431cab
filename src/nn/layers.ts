/**
 * Layers as plain functions over the IR: (scope, inputs, options) -> tensor. Weight names follow
 * Google's BERT checkpoints (kernel/bias/gamma/beta) so name maps to checkpoints stay short.
 */
import { dropout as dropoutOp, rmsNorm as rmsNormOp } from '../graph/composite.ts';
import { add, gather, gelu, layerNorm as layerNormOp, matmul, mul, relu, reshape, sigmoid, tanh, transpose } from '../graph/ops.ts';
import { GraphError, formatShape, type Tensor } from '../graph/tensor.ts';
import { initializers, type Init, type Scope } from './params.ts';

export type Activation = 'linear' | 'gelu' | 'gelu_tanh' | 'relu' | 'tanh' | 'swish';

export function activate(x: Tensor, activation: Activation): Tensor {
  switch (activation) {
    case 'linear': return x;
    case 'gelu': return gelu(x);
    case 'gelu_tanh': return gelu(x, 'tanh');
    case 'relu': return relu(x);
    case 'tanh': return tanh(x);
    case 'swish': return mul(x, sigmoid(x)); // = SiLU
    default: {
      // Exhaustive: a new Activation without a case is a type error here; a bad string from JS is refused.
      const unknown: never = activation;
      throw new GraphError('activate', `unknown activation '${unknown}' (valid: linear, gelu, gelu_tanh, relu, tanh, swish)`);
    }
  }
}

export interface DenseOptions {
  bias?: boolean;
  activation?: Activation;
  kernelInit?: Init;
}

/** y = act(x W + b), W stored [in, out]. */
export function dense(scope: Scope, x: Tensor, units: number, options: DenseOptions = {}): Tensor {
  const inDim = x.shape[x.rank - 1];
  if (typeof inDim !== 'number') throw new GraphError('dense', `last dim of ${formatShape(x.shape)} must be static`);
  const w = scope.param('kernel', [inDim, units], options.kernelInit ?? initializers.truncatedNormal(0.02));
  let y = matmul(x, w);
  if (options.bias ?? true) y = add(y, scope.param('bias', [units], initializers.zeros()));
  return activate(y, options.activation ?? 'linear');
}

/** Embedding lookup; returns the output and the table (for tied output layers). */
export function embedding(scope: Scope, ids: Tensor, vocabSize: number, dim: number, name = 'embeddings'): { output: Tensor; table: Tensor } {
  const table = scope.param(name, [vocabSize, dim], initializers.truncatedNormal(0.02));
  return { output: gather(table, ids), table };
}

export function layerNorm(scope: Scope, x: Tensor, epsilon = 1e-12): Tensor {
  const c = x.shape[x.rank - 1] as number;
  return layerNormOp(x, scope.param('gamma', [c], initializers.ones()), scope.param('beta', [c], initializers.zeros()), epsilon);
}

export function rmsNorm(scope: Scope, x: Tensor, epsilon = 1e-6): Tensor {
  const c = x.shape[x.rank - 1] as number;
  return rmsNormOp(x, scope.param('scale', [c], initializers.ones()), epsilon);
}

export function dropout(scope: Scope, x: Tensor, rate: number): Tensor {
  return dropoutOp(x, rate, scope.nextDropoutSeed(), scope.training);
}

export interface FeedForwardOptions {
  innerSize: number;
  activation?: Activation;
  dropout?: number;
  bias?: boolean;
}

/** Position-wise FFN: dense(inner, act) -> dense(hidden). */
export function feedForward(scope: Scope, x: Tensor, options: FeedForwardOptions): Tensor {
  const hidden = x.shape[x.rank - 1] as number;
  const h = dense(scope.child('intermediate'), x, options.innerSize, { activation: options.activation ?? 'gelu', bias: options.bias });
  return dense(scope.child('output'), dropout(scope, h, options.dropout ?? 0), hidden, { bias: options.bias });
}

/** [B, T, H*D] -> [B, H, T, D] */
export function splitHeads(x: Tensor, heads: number): Tensor {
  const [b, t, c] = x.shape;
  if (typeof c !== 'number' || c % heads !== 0) throw new GraphError('splitHeads', `last dim of ${formatShape(x.shape)} is not divisible by ${heads} heads`);
  return transpose(reshape(x, [b!, t!, heads, c / heads]), [0, 2, 1, 3]);
}

/** [B, H, T, D] -> [B, T, H*D] */
export function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape;
  return reshape(transpose(x, [0, 2, 1, 3]), [b!, t!, (h as number) * (d as number)]);
}


