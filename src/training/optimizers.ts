/**
 * Optimizers as graph builders: given a parameter, its gradient and its state tensors, return the
 * updated parameter and state. They run inside the training step graph, so forward, backward and
 * update are one ORT run.
 */
import { add, div, mul, sqrt, sub } from '../graph/ops.ts';
import type { Tensor } from '../graph/tensor.ts';
import { asSchedule, type Schedule } from './schedules.ts';

export interface OptimizerConfig {
  kind: 'sgd' | 'adam' | 'adamw';
  learningRate: number | Schedule;
  /** SGD momentum (0 = plain SGD). */
  momentum?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Adam: L2 added to the gradient; AdamW: decoupled decay lr * wd * p. */
  weightDecay?: number;
  /** Parameters exempt from weight decay (default: biases and norm scales/offsets). */
  excludeFromWeightDecay?: (name: string) => boolean;
}

export const sgd = (learningRate: number | Schedule, momentum = 0): OptimizerConfig => ({ kind: 'sgd', learningRate, momentum });
export const adam = (learningRate: number | Schedule, o: Partial<OptimizerConfig> = {}): OptimizerConfig => ({ kind: 'adam', learningRate, ...o });
export const adamW = (learningRate: number | Schedule, o: Partial<OptimizerConfig> = {}): OptimizerConfig => ({ kind: 'adamw', learningRate, weightDecay: 0.01, ...o });

/** Biases, LayerNorm gamma/beta and RMSNorm scales: the usual weight-decay exclusions. */
export const defaultDecayExclusion = (name: string): boolean => /(^|\/)(bias|gamma|beta|scale)$|layer_?norm|LayerNorm|_bias$/.test(name);

/** Names of the state slots each optimizer keeps per parameter. */
export function stateSlots(o: OptimizerConfig): string[] {
  if (o.kind === 'sgd') return o.momentum ? ['momentum'] : [];
  return ['m', 'v'];
}

/** Host-side scalars fed each step: learning rate and Adam's bias corrections. */
export function stepScalars(o: OptimizerConfig, step: number): Record<string, number> {
  const lr = asSchedule(o.learningRate)(step);
  const t = step + 1;
  return {
    lr,
    biasCorrection1: 1 / (1 - (o.beta1 ?? 0.9) ** t),
    biasCorrection2: 1 / (1 - (o.beta2 ?? 0.999) ** t),
  };
}

export interface UpdateInputs {
  name: string;
  param: Tensor;
  grad: Tensor;
  state: Record<string, Tensor>;
  lr: Tensor;
  biasCorrection1: Tensor;
  biasCorrection2: Tensor;
}

export function applyUpdate(o: OptimizerConfig, u: UpdateInputs): { param: Tensor; state: Record<string, Tensor> } {
  const exclude = o.excludeFromWeightDecay ?? defaultDecayExclusion;
  const decay = o.weightDecay && !exclude(u.name) ? o.weightDecay : 0;
  if (o.kind === 'sgd') {
    if (!o.momentum) return { param: sub(u.param, mul(u.lr, u.grad)), state: {} };
    const buf = add(mul(u.state.momentum!, o.momentum), u.grad);
    return { param: sub(u.param, mul(u.lr, buf)), state: { momentum: buf } };
  }
  const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.epsilon ?? 1e-8;
  const g = o.kind === 'adam' && decay ? add(u.grad, mul(u.param, decay)) : u.grad;
  const m = add(mul(u.state.m!, b1), mul(g, 1 - b1));
  const v = add(mul(u.state.v!, b2), mul(mul(g, g), 1 - b2));
  const stepDir = div(mul(m, u.biasCorrection1), add(sqrt(mul(v, u.biasCorrection2)), eps));
  let param = sub(u.param, mul(u.lr, stepDir));
  if (o.kind === 'adamw' && decay) param = sub(param, mul(mul(u.lr, decay), u.param));
  return { param, state: { m, v } };
}

/** Depth of a weight for layer-wise decay: 'embeddings', the index of its transformer layer, or undefined (heads, pooler). */
export function layerOf(name: string): number | 'embeddings' | undefined {
  const m = /(?:^|\/)(?:layer_|block_|h)(\d+)(?:\/|$)/.exec(name);
  if (m) return Number(m[1]);
  return /(^|\/)(embeddings?|embeddings_project|wte|wpe|shared)(\/|$)/.test(name) ? 'embeddings' : undefined;
}

/**
 * ELECTRA's layer-wise learning-rate decay, as a Trainer `lrMultiplier`: layer i of L (from 0)
 * trains at decay^(L - i) of the rate, the embeddings at decay^(L + 1), everything above the layers
 * (heads, pooler) at the full rate. `depth` finds each weight's layer (default: `layerOf`, which reads
 * BERT's `layer_i`, T5's `block_i` and GPT-2's `hi` scope names).
 */
export function layerwiseDecay(decay: number, numLayers: number, depth: (name: string) => number | 'embeddings' | undefined = layerOf): (name: string) => number {
  if (!(decay > 0 && decay <= 1)) throw new RangeError(`layerwiseDecay: decay must be in (0, 1], got ${decay}`);
  if (!(Number.isInteger(numLayers) && numLayers > 0)) throw new RangeError(`layerwiseDecay: numLayers must be a positive integer, got ${numLayers}`);
  return (name) => {
    const d = depth(name);
    if (d === undefined) return 1;
    if (d !== 'embeddings' && !(d >= 0 && d < numLayers)) throw new RangeError(`layerwiseDecay: '${name}' is in layer ${d}, outside the ${numLayers} layers`);
    return decay ** (d === 'embeddings' ? numLayers + 1 : numLayers - d);
  };
}
