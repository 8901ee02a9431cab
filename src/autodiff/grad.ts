/**
 * Reverse-mode autodiff as a graph transformation: walk the graph from `loss` backwards, apply each
 * primitive's VJP, reduce broadcast dims once here (not in every rule) and accumulate fan-out with add.
 */
import { isFloat } from '../graph/dtype.ts';
import { add, expand, reduceSum, reshape, scalar } from '../graph/ops.ts';
import { PRIMS } from '../graph/prim.ts';
import { GraphError, Tensor, formatShape, type Node, type Shape } from '../graph/tensor.ts';

/** Nodes reachable from `outputs`, inputs before users. */
export function topoSort(outputs: readonly Tensor[]): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: [Node, number][] = outputs.map((t) => [t.node, 0]);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i === 0 && seen.has(node)) { stack.pop(); continue; }
    if (i < node.inputs.length) {
      top[1]++;
      const child = node.inputs[i]!.node;
      if (!seen.has(child)) stack.push([child, 0]);
    } else {
      stack.pop();
      if (!seen.has(node)) { seen.add(node); order.push(node); }
    }
  }
  return order;
}

/** Sum `g` down to `shape` over the dims broadcasting added or stretched. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (g.rank === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new GraphError('grad', `gradient ${formatShape(g.shape)} has lower rank than its input ${formatShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const summed = axes.length ? reduceSum(g, axes, true) : g;
  return reshape(summed, shape);
}

/**
 * Gradients of scalar `loss` with respect to each tensor in `wrt`, as new graph tensors. A tensor
 * the loss does not depend on gets zeros.
 */
export function grad(loss: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  if (!seed && loss.rank !== 0) throw new GraphError('grad', `loss must be a scalar, got ${formatShape(loss.shape)}; pass a seed gradient for non-scalar outputs`);
  if (!isFloat(loss.dtype)) throw new GraphError('grad', `loss must be float, got ${loss.dtype}`);
  const order = topoSort([loss]);
  const targets = new Set(wrt.map((t) => t.node));
  // Only nodes on a path from some wrt to the loss need gradients.
  const relevant = new Set<Node>();
  for (const node of order) {
    if (targets.has(node) || node.inputs.some((x) => relevant.has(x.node))) relevant.add(node);
  }
  const grads = new Map<Node, Tensor>();
  grads.set(loss.node, seed ?? scalar(1, loss.dtype));
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    const g = grads.get(node);
    if (!g || node.inputs.length === 0) continue;
    const needs = node.inputs.map((x) => relevant.has(x.node) && isFloat(x.dtype));
    if (!needs.some(Boolean)) continue;
    const rule = PRIMS.get(node.op)!;
    if (!rule.vjp) throw new GraphError(node.op, 'has no gradient, but the loss depends on a parameter through it');
    const gIn = rule.vjp(g, node.inputs, node.output, node.attrs, needs);
    node.inputs.forEach((x, i) => {
      const gi = gIn[i];
      if (!needs[i] || !gi) return;
      const reduced = unbroadcast(gi, x.shape);
      const prev = grads.get(x.node);
      grads.set(x.node, prev ? add(prev, reduced) : reduced);
    });
  }
  return wrt.map((t) => grads.get(t.node) ?? expand(scalar(0, t.dtype), t.shape));
}
