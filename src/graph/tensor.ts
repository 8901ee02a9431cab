/**
 * The IR: symbolic tensors. A `Tensor` is one output of one `Node`; a graph is whatever the outputs
 * you ask for reach. Dims are numbers or dim expressions over named dynamic dims ("batch", "seq",
 * "batch*seq", "past+seq"), which the runtime resolves from the shapes of the graph's inputs.
 */
import type { DType, HostTensor } from './dtype.ts';

export type Dim = number | string;
export type Shape = readonly Dim[];
export type AttrValue = number | string | boolean | number[] | Dim[] | HostTensor | null | undefined;
export type Attrs = Record<string, AttrValue>;

let nextId = 0;

export class Node {
  readonly id = nextId++;
  output!: Tensor;
  constructor(
    readonly op: string,
    readonly inputs: readonly Tensor[],
    readonly attrs: Attrs,
  ) {}
}

export class Tensor {
  constructor(
    readonly node: Node,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}
  get rank(): number {
    return this.shape.length;
  }
  get op(): string {
    return this.node.op;
  }
  /** Name of a graph input or parameter leaf, if this is one. */
  get leafName(): string | undefined {
    return this.node.op === 'input' || this.node.op === 'param' ? (this.node.attrs.name as string) : undefined;
  }
  toString(): string {
    return `Tensor(${this.node.op}${this.leafName ? ' ' + this.leafName : ''}, ${this.dtype}, ${formatShape(this.shape)})`;
  }
}

/** Every tensor computed on the way to `roots` (the roots included), each once. */
export function reachableTensors(roots: Iterable<Tensor>): Tensor[] {
  const seen = new Set<Tensor>();
  const stack = [...roots];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push(...t.node.inputs);
  }
  return [...seen];
}

export function formatShape(shape: Shape): string {
  return `[${shape.map(String).join(', ')}]`;
}

/** A build-time error that names the op and the offending shapes or dtypes. */
export class GraphError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'GraphError';
  }
}

// ---- dim arithmetic -------------------------------------------------------------------------

const isNum = (d: Dim): d is number => typeof d === 'number';

/** Parenthesise a dim expression when embedding it in a product. */
function factor(d: Dim): string {
  return isNum(d) || /^[A-Za-z_][\w]*$/.test(d) || /^[\w*]+$/.test(d) ? String(d) : `(${d})`;
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  // Canonical form for products of plain names and numbers, so batch*seq == seq*batch.
  const parts = `${factor(a)}*${factor(b)}`.split('*');
  if (parts.every((p) => /^(\d+|[A-Za-z_]\w*)$/.test(p))) {
    let num = 1;
    const names: string[] = [];
    for (const p of parts) if (/^\d+$/.test(p)) num *= Number(p); else names.push(p);
    names.sort();
    return [...(num !== 1 ? [String(num)] : []), ...names].join('*');
  }
  return `${factor(a)}*${factor(b)}`;
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  // Canonical form for sums of products, so past+seq == seq+past.
  const expr = `${a}+${b}`;
  if (/^[\w*+]+$/.test(expr)) {
    let num = 0;
    const terms: string[] = [];
    for (const t of expr.split('+')) if (/^\d+$/.test(t)) num += Number(t); else terms.push(t);
    terms.sort();
    return num ? [...terms, String(num)].join('+') : terms.join('+');
  }
  return `${a}+${factor(b)}`;
}

export function dimSub(a: Dim, b: Dim): Dim {
  if (isNum(a) && isNum(b)) return a - b;
  if (b === 0) return a;
  if (a === b) return 0;
  // A term of a canonical sum cancels: (past+seq) - past = seq.
  if (!isNum(a) && /^[\w*+]+$/.test(a) && /^[\w*]+$/.test(String(b))) {
    const terms = a.split('+'), at = terms.indexOf(String(b));
    if (at >= 0) return terms.filter((_, i) => i !== at).reduce<Dim>((sum, t) => dimAdd(sum, /^\d+$/.test(t) ? Number(t) : t), 0);
  }
  return `${a}-${factor(b)}`;
}

export function dimProduct(dims: Shape): Dim {
  return dims.reduce<Dim>((p, d) => dimMul(p, d), 1);
}

/** Named atoms a dim expression depends on. */
export function dimAtoms(d: Dim): string[] {
  return isNum(d) ? [] : (d.match(/[A-Za-z_]\w*/g) ?? []);
}

/** Evaluate a dim given values for its atoms (used to check feeds and size buffers). */
export function evalDim(d: Dim, env: Record<string, number>): number {
  if (isNum(d)) return d;
  const expr = d.replace(/[A-Za-z_]\w*/g, (name) => {
    const v = env[name];
    if (v === undefined) throw new Error(`dim '${name}' has no value (it appears in no fed input)`);
    return String(v);
  });
  if (!/^[\d+\-*() ]+$/.test(expr)) throw new Error(`bad dim expression '${d}'`);
  return Function(`return (${expr});`)() as number;
}

export function normalizeAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(op, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Right-aligned numpy broadcasting; throws naming the op and both shapes. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new GraphError(op, `shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dim ${i}: ${da} vs ${db})`);
  }
  return out;
}
