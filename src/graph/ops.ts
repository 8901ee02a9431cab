/**
 * Every primitive op: shape/dtype rule, ONNX lowering and VJP, side by side, one definition each.
 * Binary ops broadcast numpy-style and accept plain numbers for scalars.
 */
import { DTYPES, floatToHalf, isFloat, type DType, type HostTensor } from './dtype.ts';
import { defPrim } from './prim.ts';
import {
  GraphError, Tensor, broadcastShapes, dimAdd, dimProduct, dimSub, formatShape, normalizeAxis,
  type Attrs, type Dim, type Shape,
} from './tensor.ts';

const noLowering = (op: string) => () => { throw new Error(`${op} is a leaf; the lowering handles it`); };

// ---- leaves --------------------------------------------------------------------------------

/** A leaf's dtype and shape, refused at build time when unknown or malformed. */
function checkLeaf(op: string, a: Attrs): { dtype: DType; shape: Dim[] } {
  const dtype = a.dtype as DType, shape = a.shape as Dim[];
  if (!DTYPES.includes(dtype)) throw new GraphError(op, `'${a.name}': unknown dtype '${dtype}' (one of ${DTYPES.join(', ')})`);
  for (const d of shape) {
    if (typeof d === 'number' ? !Number.isInteger(d) || d < 0 : !/^[\w+\-*() ]+$/.test(d)) throw new GraphError(op, `'${a.name}': bad dim ${JSON.stringify(d)} in ${formatShape(shape)}`);
  }
  return { dtype, shape };
}

/** A graph input fed at run time. Named dims (strings) are dynamic. */
export const input: (...args: [name: string, dtype: DType, shape: Shape]) => Tensor = defPrim<[name: string, dtype: DType, shape: Shape]>('input', {
  shape: (_, a) => checkLeaf('input', a),
  onnx: noLowering('input'),
}, (apply) => (name, dtype, shape) => apply([], { name, dtype, shape: [...shape] }));

/** A trainable or baked weight; its value is bound by name when the graph is compiled. */
export const param: (...args: [name: string, dtype: DType, shape: readonly number[]]) => Tensor = defPrim<[name: string, dtype: DType, shape: readonly number[]]>('param', {
  shape: (_, a) => checkLeaf('param', a),
  onnx: noLowering('param'),
}, (apply) => (name, dtype, shape) => apply([], { name, dtype, shape: [...shape] }));

export const constant: (...args: [value: HostTensor]) => Tensor = defPrim<[value: HostTensor]>('const', {
  shape: (_, a) => { const v = a.value as HostTensor; return { dtype: v.dtype, shape: v.shape }; },
  onnx: (b, _, a) => b.constant(a.value as HostTensor),
}, (apply) => (value) => apply([], { value }));

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  // float16 is stored as its bits; a value past ±65504 (attention's -1e9 mask fill) becomes ±Infinity.
  const data = dtype === 'float64' ? new Float64Array([value]) : dtype === 'int64' ? new BigInt64Array([BigInt(value)])
    : dtype === 'int32' ? new Int32Array([value]) : dtype === 'bool' ? new Uint8Array([value ? 1 : 0])
    : dtype === 'float16' ? new Uint16Array([floatToHalf(value)]) : new Float32Array([value]);
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16' && dtype !== 'int64' && dtype !== 'int32' && dtype !== 'bool') {
    throw new GraphError('scalar', `unsupported scalar dtype ${dtype}`);
  }
  return constant({ dtype, shape: [], data });
}

// ---- elementwise binary --------------------------------------------------------------------

type Operand = Tensor | number;

function sameDtype(op: string, a: Tensor, b: Tensor): DType {
  if (a.dtype !== b.dtype) throw new GraphError(op, `dtypes differ: ${a.dtype} ${formatShape(a.shape)} vs ${b.dtype} ${formatShape(b.shape)}`);
  return a.dtype;
}

function operands(a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError('at least one operand must be a Tensor');
  const ta = typeof a === 'number' ? scalar(a, (b as Tensor).dtype) : a;
  const tb = typeof b === 'number' ? scalar(b, ta.dtype) : b;
  return [ta, tb];
}

function binary(name: string, onnxOp: string, vjp: NonNullable<Parameters<typeof defPrim>[1]['vjp']> | undefined, outDtype?: DType): (a: Operand, b: Operand) => Tensor {
  return defPrim<[a: Operand, b: Operand]>(name, {
    shape: ([a, b]) => ({ dtype: outDtype ?? sameDtype(name, a!, b!), shape: (sameDtype(name, a!, b!), broadcastShapes(name, a!.shape, b!.shape)) }),
    onnx: (bld, [a, b]) => bld.node(onnxOp, [a!, b!])[0]!,
    vjp,
  }, (apply) => (a, b) => apply(operands(a, b)));
}

export const add = binary('add', 'Add', (g) => [g, g]);
export const sub = binary('sub', 'Sub', (g, _i, _o, _a, needs) => [g, needs[1] ? neg(g) : null]);
export const mul = binary('mul', 'Mul', (g, [a, b], _o, _a, needs) => [needs[0] ? mul(g, b!) : null, needs[1] ? mul(g, a!) : null]);
export const div = binary('div', 'Div', (g, [, b], out, _a, needs) => [
  needs[0] ? div(g, b!) : null,
  needs[1] ? neg(div(mul(g, out), b!)) : null,
]);
export const pow = binary('pow', 'Pow', (g, [a, b], out, _a, needs) => [
  needs[0] ? mul(g, mul(b!, pow(a!, sub(b!, 1)))) : null,
  needs[1] ? mul(g, mul(out, log(a!))) : null,
]);
export const maximum = binary('maximum', 'Max', (g, [a, b], _o, _at, needs) => {
  const aWins = greaterOrEqual(a!, b!);
  const zero = scalar(0, g.dtype);
  return [needs[0] ? where(aWins, g, zero) : null, needs[1] ? where(aWins, zero, g) : null];
});

// comparisons and logic: bool outputs, no gradient
export const equal = binary('equal', 'Equal', undefined, 'bool');
export const less = binary('less', 'Less', undefined, 'bool');
export const greater = binary('greater', 'Greater', undefined, 'bool');
export const lessOrEqual = binary('lessOrEqual', 'LessOrEqual', undefined, 'bool');
export const greaterOrEqual = binary('greaterOrEqual', 'GreaterOrEqual', undefined, 'bool');
export const logicalAnd = binary('and', 'And', undefined, 'bool');
export const logicalOr = binary('or', 'Or', undefined, 'bool');

export const logicalNot: (...args: [x: Tensor]) => Tensor = defPrim<[x: Tensor]>('not', {
  shape: ([x]) => { if (x!.dtype !== 'bool') throw new GraphError('not', `needs bool, got ${x!.dtype}`); return { dtype: 'bool', shape: x!.shape }; },
  onnx: (b, [x]) => b.node('Not', [x!])[0]!,
}, (apply) => (x) => apply([x]));

// ---- elementwise unary ---------------------------------------------------------------------

function unary(name: string, onnxOp: string, vjp: (g: Tensor, x: Tensor, y: Tensor) => Tensor, floatOnly = true): (x: Tensor) => Tensor {
  return defPrim<[x: Tensor]>(name, {
    shape: ([x]) => {
      if (floatOnly && !isFloat(x!.dtype)) throw new GraphError(name, `needs a float tensor, got ${x!.dtype} ${formatShape(x!.shape)}`);
      return { dtype: x!.dtype, shape: x!.shape };
    },
    onnx: (b, [x]) => b.node(onnxOp, [x!])[0]!,
    vjp: (g, [x], y) => [vjp(g, x!, y)],
  }, (apply) => (x) => apply([x]));
}

export const neg = unary('neg', 'Neg', (g) => neg(g), false);
export const exp = unary('exp', 'Exp', (g, _x, y) => mul(g, y));
export const log = unary('log', 'Log', (g, x) => div(g, x));
export const sqrt = unary('sqrt', 'Sqrt', (g, _x, y) => div(mul(g, 0.5), y));
export const tanh = unary('tanh', 'Tanh', (g, _x, y) => mul(g, sub(1, mul(y, y))));
export const erf = unary('erf', 'Erf', (g, x) => mul(g, mul(2 / Math.sqrt(Math.PI), exp(neg(mul(x, x))))));
export const sigmoid = unary('sigmoid', 'Sigmoid', (g, _x, y) => mul(g, mul(y, sub(1, y))));
export const relu = unary('relu', 'Relu', (g, x) => where(greater(x, 0), g, scalar(0, g.dtype)));
export const abs = unary('abs', 'Abs', (g, x) => where(less(x, 0), neg(g), g));

/** GELU, exact (erf) or tanh-approximated, as ONNX Gelu (opset 20) with a VJP for the fused form. */
export const gelu: (...args: [x: Tensor, approximate?: 'none' | 'tanh']) => Tensor = defPrim<[x: Tensor, approximate?: 'none' | 'tanh']>('gelu', {
  shape: ([x]) => { if (!isFloat(x!.dtype)) throw new GraphError('gelu', `needs float, got ${x!.dtype}`); return { dtype: x!.dtype, shape: x!.shape }; },
  // Emitted as its defining formula (opset 17 has no Gelu); ORT's optimizer fuses it back into one kernel.
  onnx: (b, [x], a, node) => {
    const dt = node.output.dtype;
    const c = (v: number) => b.scalar(v, dt);
    let inner: string;
    if (a.approximate === 'tanh') {
      const cube = b.node('Mul', [b.node('Mul', [x!, x!])[0]!, x!])[0]!;
      const u = b.node('Mul', [b.node('Add', [x!, b.node('Mul', [cube, c(0.044715)])[0]!])[0]!, c(Math.sqrt(2 / Math.PI))])[0]!;
      inner = b.node('Tanh', [u])[0]!;
    } else {
      inner = b.node('Erf', [b.node('Mul', [x!, c(Math.SQRT1_2)])[0]!])[0]!;
    }
    const half = b.node('Mul', [x!, c(0.5)])[0]!;
    return b.node('Mul', [half, b.node('Add', [inner, c(1)])[0]!])[0]!;
  },
  vjp: (g, [x], _y, a) => {
    const X = x!;
    if (a.approximate === 'tanh') {
      const c = Math.sqrt(2 / Math.PI);
      const x2 = mul(X, X);
      const t = tanh(mul(c, add(X, mul(0.044715, mul(x2, X)))));
      const dt = mul(mul(0.5, X), mul(sub(1, mul(t, t)), mul(c, add(1, mul(3 * 0.044715, x2)))));
      return [mul(g, add(mul(0.5, add(1, t)), dt))];
    }
    const cdf = mul(0.5, add(1, erf(mul(X, Math.SQRT1_2))));
    const pdf = mul(1 / Math.sqrt(2 * Math.PI), exp(mul(-0.5, mul(X, X))));
    return [mul(g, add(cdf, mul(X, pdf)))];
  },
}, (apply) => (x, approximate = 'none') => apply([x], { approximate }));

export const cast: (...args: [x: Tensor, dtype: DType]) => Tensor = defPrim<[x: Tensor, dtype: DType]>('cast', {
  shape: ([x], a) => ({ dtype: a.dtype as DType, shape: x!.shape }),
  onnx: (b, [x], a) => b.node('Cast', [x!], { to: b.dtypeCode(a.dtype as DType) })[0]!,
  vjp: (g, [x]) => [isFloat(x!.dtype) ? cast(g, x!.dtype) : null],
}, (apply) => (x, dtype) => (x.dtype === dtype ? x : apply([x], { dtype })));

export const where: (...args: [cond: Tensor, a: Operand, b: Operand]) => Tensor = defPrim<[cond: Tensor, a: Operand, b: Operand]>('where', {
  shape: ([c, a, b]) => {
    if (c!.dtype !== 'bool') throw new GraphError('where', `condition must be bool, got ${c!.dtype}`);
    return { dtype: sameDtype('where', a!, b!), shape: broadcastShapes('where', c!.shape, broadcastShapes('where', a!.shape, b!.shape)) };
  },
  onnx: (b, [c, x, y]) => b.node('Where', [c!, x!, y!])[0]!,
  vjp: (g, [c], _o, _a, needs) => {
    const zero = scalar(0, g.dtype);
    return [null, needs[1] ? where(c!, g, zero) : null, needs[2] ? where(c!, zero, g) : null];
  },
}, (apply) => (c, a, b) => apply([c, ...operands(a, b)]));

// ---- matmul --------------------------------------------------------------------------------

/** Batched matrix product [..., m, k] x [..., k, n] -> [..., m, n] with broadcast batch dims. */
export const matmul: (...args: [a: Tensor, b: Tensor]) => Tensor = defPrim<[a: Tensor, b: Tensor]>('matmul', {
  shape: ([a, b]) => {
    const dtype = sameDtype('matmul', a!, b!);
    if (a!.rank < 2 || b!.rank < 2) throw new GraphError('matmul', `needs rank >= 2, got ${formatShape(a!.shape)} x ${formatShape(b!.shape)}`);
    const k1 = a!.shape[a!.rank - 1]!, k2 = b!.shape[b!.rank - 2]!;
    if (k1 !== k2) throw new GraphError('matmul', `inner dims differ: ${formatShape(a!.shape)} x ${formatShape(b!.shape)} (${k1} vs ${k2})`);
    const batch = broadcastShapes('matmul', a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    return { dtype, shape: [...batch, a!.shape[a!.rank - 2]!, b!.shape[b!.rank - 1]!] };
  },
  onnx: (b, [x, y]) => b.node('MatMul', [x!, y!])[0]!,
  vjp: (g, [a, b], _o, _a, needs) => {
    const A = a!, B = b!;
    // A weight [k, n] shared over a batch: fold the batch into rows so dB is one GEMM, not a batched one plus a sum.
    if (B.rank === 2 && A.rank > 2) {
      const k = A.shape[A.rank - 1]!, n = B.shape[1]!;
      const dA = needs[0] ? matmul(g, transpose(B, [1, 0])) : null;
      const dB = needs[1] ? matmul(transpose(reshape(A, [-1, k]), [1, 0]), reshape(g, [-1, n])) : null;
      return [dA, dB];
    }
    return [needs[0] ? matmul(g, swapLast(B)) : null, needs[1] ? matmul(swapLast(A), g) : null];
  },
}, (apply) => (a, b) => apply([a, b]));

function swapLast(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return transpose(x, perm);
}

// ---- reductions ----------------------------------------------------------------------------

function reduceShape(op: string, x: Tensor, axes: number[], keepdims: boolean): Dim[] {
  const norm = axes.map((a) => normalizeAxis(op, a, x.rank));
  return x.shape.flatMap((d, i) => (norm.includes(i) ? (keepdims ? [1] : []) : [d]));
}

function reduction(name: string, onnxOp: string, vjp: (g: Tensor, x: Tensor, y: Tensor, axes: number[]) => Tensor): (x: Tensor, axes?: number | number[], keepdims?: boolean) => Tensor {
  return defPrim<[x: Tensor, axes?: number | number[], keepdims?: boolean]>(name, {
    shape: ([x], a) => ({ dtype: x!.dtype, shape: reduceShape(name, x!, a.axes as number[], a.keepdims as boolean) }),
    onnx: (b, [x], a, node) => {
      const axes = (a.axes as number[]).map((ax) => normalizeAxis(name, ax, node.inputs[0]!.rank));
      // Opset 17: ReduceSum takes axes as an input, the other reductions as an attribute.
      if (onnxOp === 'ReduceSum') return b.node(onnxOp, [x!, b.ints(axes)], { keepdims: a.keepdims ? 1 : 0 })[0]!;
      return b.node(onnxOp, [x!], { axes, keepdims: a.keepdims ? 1 : 0 })[0]!;
    },
    vjp: (g, [x], y, a) => {
      const axes = (a.axes as number[]).map((ax) => normalizeAxis(name, ax, x!.rank));
      // Restore the reduced axes as size 1 so g and y broadcast against x.
      const keep = (t: Tensor) => (a.keepdims ? t : reshape(t, x!.shape.map((d, i) => (axes.includes(i) ? 1 : d))));
      return [vjp(keep(g), x!, keep(y), axes)];
    },
  }, (apply) => (x, axes, keepdims = false) => {
    const list = axes === undefined ? x.shape.map((_, i) => i) : Array.isArray(axes) ? axes : [axes];
    return apply([x], { axes: list, keepdims });
  });
}

export const reduceSum = reduction('reduceSum', 'ReduceSum', (g, x) => expand(g, x.shape));
export const reduceMean = reduction('reduceMean', 'ReduceMean', (g, x, _y, axes) => {
  const count = dimProduct(axes.map((a) => x.shape[a]!));
  const n = typeof count === 'number' ? scalar(count, x.dtype) : cast(dimValue(count), x.dtype);
  return expand(div(g, n), x.shape);
});
export const reduceMax = reduction('reduceMax', 'ReduceMax', (g, x, y, axes) => {
  const hit = cast(equal(x, y), x.dtype);
  return div(mul(g, hit), reduceSum(hit, axes, true));
});

// ---- softmax family ------------------------------------------------------------------------

export const softmax: (...args: [x: Tensor, axis?: number]) => Tensor = defPrim<[x: Tensor, axis?: number]>('softmax', {
  shape: ([x], a) => (normalizeAxis('softmax', a.axis as number, x!.rank), { dtype: x!.dtype, shape: x!.shape }),
  onnx: (b, [x], a) => b.node('Softmax', [x!], { axis: a.axis as number })[0]!,
  vjp: (g, _x, y, a) => [mul(y, sub(g, reduceSum(mul(g, y), a.axis as number, true)))],
}, (apply) => (x, axis = -1) => apply([x], { axis }));

export const logSoftmax: (...args: [x: Tensor, axis?: number]) => Tensor = defPrim<[x: Tensor, axis?: number]>('logSoftmax', {
  shape: ([x], a) => (normalizeAxis('logSoftmax', a.axis as number, x!.rank), { dtype: x!.dtype, shape: x!.shape }),
  onnx: (b, [x], a) => b.node('LogSoftmax', [x!], { axis: a.axis as number })[0]!,
  vjp: (g, _x, y, a) => [sub(g, mul(exp(y), reduceSum(g, a.axis as number, true)))],
}, (apply) => (x, axis = -1) => apply([x], { axis }));

// ---- shape ops -----------------------------------------------------------------------------

/** Reshape to `shape`; one entry may be -1 (inferred, possibly as a dim expression). */
export const reshape: (...args: [x: Tensor, shape: Shape]) => Tensor = defPrim<[x: Tensor, shape: Shape]>('reshape', {
  shape: ([x], a) => {
    const target = a.shape as Dim[];
    const total = dimProduct(x!.shape);
    const inferred = target.filter((d) => d === -1).length;
    if (inferred > 1) throw new GraphError('reshape', `more than one -1 in target ${formatShape(target)}`);
    let out = target;
    if (inferred === 1) {
      const known = dimProduct(target.filter((d) => d !== -1));
      out = target.map((d) => (d === -1 ? divideDim(total, known, x!.shape, target) : d));
    } else if (typeof total === 'number' && typeof dimProduct(target) === 'number' && total !== dimProduct(target)) {
      throw new GraphError('reshape', `cannot reshape ${formatShape(x!.shape)} (${total} elements) to ${formatShape(target)}`);
    }
    return { dtype: x!.dtype, shape: out };
  },
  onnx: (b, [x], _a, node) => b.node('Reshape', [x!, b.shape(node.output.shape)])[0]!,
  vjp: (g, [x]) => [reshape(g, x!.shape)],
}, (apply) => (x, shape) => apply([x], { shape: [...shape] }));

/** total / known for dims: numbers divide; otherwise cancel matching factors of the input shape. */
function divideDim(total: Dim, known: Dim, inShape: Shape, target: Shape): Dim {
  if (typeof total === 'number' && typeof known === 'number') {
    if (known === 0 || total % known !== 0) throw new GraphError('reshape', `cannot reshape ${formatShape(inShape)} to ${formatShape(target)}`);
    return total / known;
  }
  const remaining = [...inShape];
  const knownDims = target.filter((d) => d !== -1);
  let numericKnown = 1;
  for (const d of knownDims) {
    const i = remaining.indexOf(d);
    if (i >= 0) remaining.splice(i, 1);
    else if (typeof d === 'number') numericKnown *= d;
    else throw new GraphError('reshape', `cannot infer -1 in ${formatShape(target)} from ${formatShape(inShape)}`);
  }
  const numericIdx = remaining.findIndex((d) => typeof d === 'number' && d % numericKnown === 0);
  if (numericKnown !== 1) {
    if (numericIdx < 0) throw new GraphError('reshape', `cannot infer -1 in ${formatShape(target)} from ${formatShape(inShape)}`);
    remaining[numericIdx] = (remaining[numericIdx] as number) / numericKnown;
  }
  return dimProduct(remaining);
}

export const transpose: (...args: [x: Tensor, perm: number[]]) => Tensor = defPrim<[x: Tensor, perm: number[]]>('transpose', {
  shape: ([x], a) => {
    const perm = a.perm as number[];
    if (perm.length !== x!.rank || [...perm].sort().some((p, i) => p !== i)) throw new GraphError('transpose', `perm [${perm}] does not fit ${formatShape(x!.shape)}`);
    return { dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) };
  },
  onnx: (b, [x], a) => b.node('Transpose', [x!], { perm: a.perm as number[] })[0]!,
  vjp: (g, _x, _y, a) => {
    const perm = a.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(g, inv)];
  },
}, (apply) => (x, perm) => apply([x], { perm }));

export const concat: (...args: [xs: Tensor[], axis: number]) => Tensor = defPrim<[xs: Tensor[], axis: number]>('concat', {
  shape: (xs, a) => {
    if (xs.length === 0) throw new GraphError('concat', 'no inputs');
    const first = xs[0]!;
    const axis = normalizeAxis('concat', a.axis as number, first.rank);
    let size: Dim = 0;
    for (const x of xs) {
      sameDtype('concat', first, x);
      if (x.rank !== first.rank || x.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        throw new GraphError('concat', `shapes ${formatShape(first.shape)} and ${formatShape(x.shape)} differ off axis ${axis}`);
      }
      size = dimAdd(size, x.shape[axis]!);
    }
    return { dtype: first.dtype, shape: first.shape.map((d, i) => (i === axis ? size : d)) };
  },
  onnx: (b, xs, a) => b.node('Concat', xs, { axis: a.axis as number })[0]!,
  vjp: (g, xs, _y, a, needs) => {
    const axis = normalizeAxis('concat', a.axis as number, g.rank);
    let start: Dim = 0;
    return xs.map((x, i) => {
      const end = dimAdd(start, x.shape[axis]!);
      const r = needs[i] ? slice(g, axis, start, end) : null;
      start = end;
      return r;
    });
  },
}, (apply) => (xs, axis) => (xs.length === 1 ? xs[0]! : apply(xs, { axis })));

/** x[start:end] along `axis` (start/end may be dim expressions; end defaults to the dim). */
export const slice: (...args: [x: Tensor, axis: number, start: Dim, end?: Dim]) => Tensor = defPrim<[x: Tensor, axis: number, start: Dim, end?: Dim]>('slice', {
  shape: ([x], a) => {
    const axis = normalizeAxis('slice', a.axis as number, x!.rank);
    const dim = x!.shape[axis]!;
    const start = a.start as Dim, end = a.end as Dim;
    if (typeof start === 'number' && start < 0) throw new GraphError('slice', `negative start ${start}`);
    if (typeof dim === 'number' && typeof end === 'number' && end > dim) throw new GraphError('slice', `end ${end} beyond dim ${dim} of ${formatShape(x!.shape)}`);
    const len = dimSub(end, start);
    if (typeof len === 'number' && len < 0) throw new GraphError('slice', `end ${end} before start ${start}`);
    return { dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === axis ? len : d)) };
  },
  onnx: (b, [x], a, node) => {
    const axis = normalizeAxis('slice', a.axis as number, node.inputs[0]!.rank);
    return b.node('Slice', [x!, b.dim(a.start as Dim), b.dim(a.end as Dim), b.ints([axis])])[0]!;
  },
  vjp: (g, [x], _y, a) => {
    const axis = normalizeAxis('slice', a.axis as number, x!.rank);
    return [padAxis(g, axis, a.start as Dim, dimSub(x!.shape[axis]!, a.end as Dim))];
  },
}, (apply) => (x, axis, start, end) => {
  const ax = normalizeAxis('slice', axis, x.rank);
  return apply([x], { axis: ax, start, end: end ?? x.shape[ax]! });
});

/** Zero-pad `before`/`after` elements along one axis (the slice VJP). */
export const padAxis: (...args: [x: Tensor, axis: number, before: Dim, after: Dim]) => Tensor = defPrim<[x: Tensor, axis: number, before: Dim, after: Dim]>('padAxis', {
  shape: ([x], a) => ({ dtype: x!.dtype, shape: x!.shape.map((d, i) => (i === a.axis ? dimAdd(dimAdd(a.before as Dim, d), a.after as Dim) : d)) }),
  onnx: (b, [x], a, node) => {
    const rank = node.inputs[0]!.rank, axis = a.axis as number;
    // pads = [begin_0 .. begin_{r-1}, end_0 .. end_{r-1}], zero except on `axis`.
    const parts: string[] = [];
    for (const side of [a.before as Dim, a.after as Dim]) for (let i = 0; i < rank; i++) parts.push(i === axis ? b.dim(side) : b.ints([0]));
    return b.node('Pad', [x!, b.node('Concat', parts, { axis: 0 })[0]!])[0]!;
  },
  vjp: (g, [x], _y, a) => [slice(g, a.axis as number, a.before as Dim, dimAdd(a.before as Dim, x!.shape[a.axis as number]!))],
}, (apply) => (x, axis, before, after) => apply([x], { axis: normalizeAxis('padAxis', axis, x.rank), before, after }));

/**
 * The dims (n, c) that `chunkAxis` splits a dim T into: chunks of c = min(size, T) (`exact`: c = size,
 * a T below it padded to one chunk), n = ⌈T / c⌉ (the same either way). Numbers for a number T;
 * otherwise names derived from T and size, the same for every chunking of the same T (the lowering
 * reads them back from the first op that has them), since dim expressions have no division.
 */
export function chunkDims(t: Dim, size: number, exact = false): [n: Dim, c: Dim] {
  if (typeof t === 'number') { const c = exact ? size : Math.max(1, Math.min(size, t)); return [Math.max(1, Math.ceil(t / c)), c]; }
  const tag = t.replace(/\W/g, (ch) => `_${ch.charCodeAt(0).toString(16)}_`);
  return [`${tag}_chunks${size}`, exact ? size : `${tag}_chunk${size}`];
}

/**
 * Split `axis` (length T) into chunks: (…, T, …) -> (…, n, c, …), c = min(size, T) (`exact`: c = size),
 * n = ⌈T / c⌉, the last chunk zero-padded. VJP: `unchunkAxis` (drops the padding).
 */
export const chunkAxis: (...args: [x: Tensor, axis: number, size: number, exact?: boolean]) => Tensor = defPrim<[x: Tensor, axis: number, size: number, exact?: boolean]>('chunkAxis', {
  shape: ([x], a) => {
    const axis = a.axis as number, size = a.size as number;
    if (!Number.isInteger(size) || size < 1) throw new GraphError('chunkAxis', `chunk size must be a positive integer, got ${size}`);
    return { dtype: x!.dtype, shape: [...x!.shape.slice(0, axis), ...chunkDims(x!.shape[axis]!, size, a.exact as boolean), ...x!.shape.slice(axis + 1)] };
  },
  onnx: (b, [x], a, node) => {
    const { shape, rank } = node.inputs[0]!, axis = a.axis as number;
    const t = b.dim(shape[axis]!);
    const c = a.exact ? b.ints([a.size as number]) : b.node('Min', [t, b.ints([a.size as number])])[0]!;
    const pad = b.node('Mod', [b.node('Sub', [c, b.node('Mod', [t, c])[0]!])[0]!, c])[0]!; // (c − T mod c) mod c
    const pads = [...Array.from({ length: rank }, () => b.ints([0])), ...Array.from({ length: rank }, (_, i) => (i === axis ? pad : b.ints([0])))];
    const padded = b.node('Pad', [x!, b.node('Concat', pads, { axis: 0 })[0]!])[0]!;
    // Reshape's 0 copies the dim before the axis; the dims after it are named.
    const target = [...Array.from({ length: axis }, () => b.ints([0])), b.ints([-1]), c, ...shape.slice(axis + 1).map((d) => b.dim(d))];
    return b.node('Reshape', [padded, b.node('Concat', target, { axis: 0 })[0]!])[0]!;
  },
  vjp: (g, [x], _y, a) => [unchunkAxis(g, a.axis as number, x!.shape[a.axis as number]!, a.size as number, a.exact as boolean)],
}, (apply) => (x, axis, size, exact = false) => apply([x], { axis: normalizeAxis('chunkAxis', axis, x.rank), size, exact }));

/** `chunkAxis`'s inverse: (…, n, c, …) -> (…, length, …), the padding dropped. VJP: `chunkAxis`. */
export const unchunkAxis: (...args: [x: Tensor, axis: number, length: Dim, size: number, exact?: boolean]) => Tensor = defPrim<[x: Tensor, axis: number, length: Dim, size: number, exact?: boolean]>('unchunkAxis', {
  shape: ([x], a) => {
    const axis = a.axis as number, length = a.length as Dim;
    const [n, c] = chunkDims(length, a.size as number, a.exact as boolean);
    if (x!.rank < axis + 2 || x!.shape[axis] !== n || x!.shape[axis + 1] !== c) {
      throw new GraphError('unchunkAxis', `${formatShape(x!.shape)} has no chunks [${n}, ${c}] of length ${length} (size ${a.size}) at axis ${axis}`);
    }
    return { dtype: x!.dtype, shape: [...x!.shape.slice(0, axis), length, ...x!.shape.slice(axis + 2)] };
  },
  onnx: (b, [x], a, node) => {
    const { shape } = node.inputs[0]!, axis = a.axis as number;
    const target = [...Array.from({ length: axis }, () => b.ints([0])), b.ints([-1]), ...shape.slice(axis + 2).map((d) => b.dim(d))];
    const merged = b.node('Reshape', [x!, b.node('Concat', target, { axis: 0 })[0]!])[0]!;
    return b.node('Slice', [merged, b.ints([0]), b.dim(a.length as Dim), b.ints([axis])])[0]!;
  },
  vjp: (g, _x, _y, a) => [chunkAxis(g, a.axis as number, a.size as number, a.exact as boolean)],
}, (apply) => (x, axis, length, size, exact = false) => apply([x], { axis: normalizeAxis('unchunkAxis', axis, x.rank - 1), length, size, exact }));

export const expand: (...args: [x: Tensor, shape: Shape]) => Tensor = defPrim<[x: Tensor, shape: Shape]>('expand', {
  shape: ([x], a) => ({ dtype: x!.dtype, shape: broadcastShapes('expand', x!.shape, a.shape as Dim[]) }),
  onnx: (b, [x], _a, node) => b.node('Expand', [x!, b.shape(node.output.shape)])[0]!,
  vjp: (g) => [g],
}, (apply) => (x, shape) => apply([x], { shape: [...shape] }));

// ---- indexing ------------------------------------------------------------------------------

function checkIndices(op: string, idx: Tensor) {
  if (idx.dtype !== 'int64' && idx.dtype !== 'int32') throw new GraphError(op, `indices must be int64 or int32, got ${idx.dtype}`);
}

/** table[indices] along axis 0 (embedding lookup): [V, ...] x [...idx] -> [...idx, ...]. */
export const gather: (...args: [table: Tensor, indices: Tensor]) => Tensor = defPrim<[table: Tensor, indices: Tensor]>('gather', {
  shape: ([t, i]) => { checkIndices('gather', i!); return { dtype: t!.dtype, shape: [...i!.shape, ...t!.shape.slice(1)] }; },
  onnx: (b, [t, i]) => b.node('Gather', [t!, i!], { axis: 0 })[0]!,
  vjp: (g, [t, i]) => [scatterAddRows(t!.shape, i!, g)],
}, (apply) => (t, i) => apply([t, i]));

/**
 * zeros(shape) with rows `indices` accumulating `updates` — the embedding gradient. Lowered to
 * ScatterElements(reduction=add), which ORT 1.30 sums correctly at any thread count (ScatterND's
 * add does not, see design).
 */
export const scatterAddRows: (...args: [shape: Shape, indices: Tensor, updates: Tensor]) => Tensor = defPrim<[shape: Shape, indices: Tensor, updates: Tensor]>('scatterAddRows', {
  shape: ([i, u], a) => {
    checkIndices('scatterAddRows', i!);
    const shape = a.shape as Dim[];
    const rest = shape.slice(1);
    const want = [...i!.shape, ...rest];
    if (u!.rank !== want.length || u!.shape.some((d, k) => d !== want[k])) {
      throw new GraphError('scatterAddRows', `updates ${formatShape(u!.shape)} do not match indices ${formatShape(i!.shape)} + rows ${formatShape(rest)}`);
    }
    return { dtype: u!.dtype, shape };
  },
  onnx: (b, [i, u], a, node) => {
    const shape = a.shape as Dim[];
    const rowSize = dimProduct(shape.slice(1));
    const idxFlat = b.node('Reshape', [i!, b.shape([-1, 1])])[0]!;
    const idx = b.node('Expand', [idxFlat, b.shape([1, rowSize])])[0]!;
    const upd = b.node('Reshape', [u!, b.shape([-1, rowSize])])[0]!;
    const idx64 = node.inputs[0]!.dtype === 'int64' ? idx : b.node('Cast', [idx], { to: b.dtypeCode('int64') })[0]!;
    const zeros = b.node('ConstantOfShape', [b.shape([shape[0]!, rowSize])], { value: { dtype: node.output.dtype, shape: [1], data: node.output.dtype === 'float64' ? new Float64Array(1) : new Float32Array(1) } })[0]!;
    const out = b.node('ScatterElements', [zeros, idx64, upd], { axis: 0, reduction: 'add' })[0]!;
    return b.node('Reshape', [out, b.shape(shape)])[0]!;
  },
  vjp: (g, [i], _y, _a, needs) => [null, needs[1] ? gather(g, i!) : null],
}, (apply) => (shape, i, u) => apply([i, u], { shape: [...shape] }));

/**
 * Indices [..., k] (int64) of the k largest entries along the last axis, largest first (ONNX TopK's
 * second output). Indices carry no gradient: take the values with `takeAlongAxis`, whose VJP
 * scatters the gradient back to the selected entries.
 */
export const topKIndices: (...args: [x: Tensor, k: number]) => Tensor = defPrim<[x: Tensor, k: number]>('topKIndices', {
  shape: ([x], a) => {
    const k = a.k as number, last = x!.shape[x!.rank - 1];
    if (x!.rank < 1) throw new GraphError('topKIndices', 'needs rank >= 1, got a scalar');
    if (!Number.isInteger(k) || k < 1) throw new GraphError('topKIndices', `k must be a positive integer, got ${k}`);
    if (typeof last === 'number' && k > last) throw new GraphError('topKIndices', `k ${k} exceeds the last dim of ${formatShape(x!.shape)}`);
    return { dtype: 'int64', shape: [...x!.shape.slice(0, -1), k] };
  },
  onnx: (b, [x], a) => b.node('TopK', [x!, b.ints([a.k as number])], { axis: -1, largest: 1, sorted: 1 }, 2)[1]!,
}, (apply) => (x, k) => apply([x], { k }));

let nonZeroCount = 0;

/**
 * Indices (int64 [n]) of the true entries of a 1-D bool mask, in order (ONNX NonZero). n is known
 * only at run time: the output's dim is a fresh symbol, read back from the tensor itself when a later
 * shape needs it. Used to run a head only where a loss has labels. Indices carry no gradient.
 */
export const nonZeroIndices: (...args: [mask: Tensor]) => Tensor = defPrim<[mask: Tensor]>('nonZeroIndices', {
  shape: ([m], a) => {
    if (m!.dtype !== 'bool' || m!.rank !== 1) throw new GraphError('nonZeroIndices', `needs a 1-D bool mask, got ${m!.dtype} ${formatShape(m!.shape)}`);
    return { dtype: 'int64', shape: [a.dim as string] };
  },
  onnx: (b, [m]) => b.node('Reshape', [b.node('NonZero', [m!])[0]!, b.ints([-1])])[0]!, // [1, n] -> [n]
}, (apply) => (mask) => apply([mask], { dim: `nonzero${nonZeroCount++}` }));

/**
 * x[..., indices[..., j], ...] along `axis` (numpy take_along_axis, ONNX GatherElements): indices have
 * x's rank and x's dims off `axis`. VJP: `scatterAddAlongAxis` of the gradient into zeros of x's shape.
 */
export const takeAlongAxis: (...args: [x: Tensor, indices: Tensor, axis: number]) => Tensor = defPrim<[x: Tensor, indices: Tensor, axis: number]>('takeAlongAxis', {
  shape: ([x, i], a) => {
    checkIndices('takeAlongAxis', i!);
    const axis = a.axis as number;
    if (i!.rank !== x!.rank || i!.shape.some((d, k) => k !== axis && d !== x!.shape[k])) {
      throw new GraphError('takeAlongAxis', `indices ${formatShape(i!.shape)} must match ${formatShape(x!.shape)} off axis ${axis}`);
    }
    return { dtype: x!.dtype, shape: i!.shape };
  },
  onnx: (b, [x, i], a) => b.node('GatherElements', [x!, i!], { axis: a.axis as number })[0]!,
  vjp: (g, [x, i], _y, a) => [scatterAddAlongAxis(x!.shape, i!, g, a.axis as number), null],
}, (apply) => (x, i, axis) => apply([x, i], { axis: normalizeAxis('takeAlongAxis', axis, x.rank) }));

/** zeros(shape) with `updates` added at `indices` along `axis` (ONNX ScatterElements, reduction add): takeAlongAxis's VJP. */
export const scatterAddAlongAxis: (...args: [shape: Shape, indices: Tensor, updates: Tensor, axis: number]) => Tensor = defPrim<[shape: Shape, indices: Tensor, updates: Tensor, axis: number]>('scatterAddAlongAxis', {
  shape: ([i, u], a) => {
    checkIndices('scatterAddAlongAxis', i!);
    const shape = a.shape as Dim[], axis = a.axis as number;
    if (u!.rank !== i!.rank || u!.shape.some((d, k) => d !== i!.shape[k]) || i!.rank !== shape.length || i!.shape.some((d, k) => k !== axis && d !== shape[k])) {
      throw new GraphError('scatterAddAlongAxis', `indices ${formatShape(i!.shape)} and updates ${formatShape(u!.shape)} must match each other, and ${formatShape(shape)} off axis ${axis}`);
    }
    return { dtype: u!.dtype, shape };
  },
  onnx: (b, [i, u], a, node) => {
    const dtype = node.output.dtype;
    const zero = { dtype, shape: [1], data: dtype === 'float64' ? new Float64Array(1) : new Float32Array(1) };
    const zeros = b.node('ConstantOfShape', [b.shape(a.shape as Dim[])], { value: zero })[0]!;
    const idx = node.inputs[0]!.dtype === 'int64' ? i! : b.node('Cast', [i!], { to: b.dtypeCode('int64') })[0]!;
    return b.node('ScatterElements', [zeros, idx, u!], { axis: a.axis as number, reduction: 'add' })[0]!;
  },
  vjp: (g, [i], _y, a, needs) => [null, needs[1] ? takeAlongAxis(g, i!, a.axis as number) : null],
}, (apply) => (shape, i, u, axis) => apply([i, u], { shape: [...shape], axis: normalizeAxis('scatterAddAlongAxis', axis, shape.length) }));

// ---- generators ----------------------------------------------------------------------------

/** The runtime value of a dim expression as an int64 scalar. */
export const dimValue: (...args: [d: Dim]) => Tensor = defPrim<[d: Dim]>('dimValue', {
  shape: () => ({ dtype: 'int64', shape: [] }),
  onnx: (b, _i, a) => b.node('Reshape', [b.dim(a.dim as Dim), b.ints([])])[0]!,
}, (apply) => (d) => apply([], { dim: d }));

/** [0, 1, ..., n-1] as int64, n a number or dim expression. */
export const range: (...args: [n: Dim, start?: Dim]) => Tensor = defPrim<[n: Dim, start?: Dim]>('range', {
  shape: (_, a) => ({ dtype: 'int64', shape: [dimSub(a.n as Dim, a.start as Dim)] }),
  onnx: (b, _i, a) => {
    const s = b.node('Reshape', [b.dim(a.start as Dim), b.ints([])])[0]!;
    const n = b.node('Reshape', [b.dim(a.n as Dim), b.ints([])])[0]!;
    return b.node('Range', [s, n, b.scalar(1, 'int64')])[0]!;
  },
}, (apply) => (n, start = 0) => apply([], { n, start }));

/** Keep the lower (upper) triangle of the last two dims, zero elsewhere; k shifts the diagonal. */
export const trilu: (...args: [x: Tensor, upper: boolean, k?: number]) => Tensor = defPrim<[x: Tensor, upper: boolean, k?: number]>('trilu', {
  shape: ([x]) => { if (x!.rank < 2) throw new GraphError('trilu', `needs rank >= 2, got ${formatShape(x!.shape)}`); return { dtype: x!.dtype, shape: x!.shape }; },
  onnx: (b, [x], a) => b.node('Trilu', [x!, b.scalar(a.k as number, 'int64')], { upper: a.upper ? 1 : 0 })[0]!,
  vjp: (g, _x, _y, a) => [trilu(g, a.upper as boolean, a.k as number)],
}, (apply) => (x, upper, k = 0) => apply([x], { upper, k }));

export const cumsum: (...args: [x: Tensor, axis: number, options?: { exclusive?: boolean; reverse?: boolean }]) => Tensor = defPrim<[x: Tensor, axis: number, options?: { exclusive?: boolean; reverse?: boolean }]>('cumsum', {
  shape: ([x], a) => (normalizeAxis('cumsum', a.axis as number, x!.rank), { dtype: x!.dtype, shape: x!.shape }),
  onnx: (b, [x], a, node) => {
    const axis = normalizeAxis('cumsum', a.axis as number, node.inputs[0]!.rank);
    return b.node('CumSum', [x!, b.node('Reshape', [b.ints([axis]), b.ints([])])[0]!], { exclusive: a.exclusive ? 1 : 0, reverse: a.reverse ? 1 : 0 })[0]!;
  },
  vjp: (g, _x, _y, a) => [cumsum(g, a.axis as number, { exclusive: a.exclusive as boolean, reverse: !a.reverse })],
}, (apply) => (x, axis, o = {}) => apply([x], { axis, exclusive: o.exclusive ?? false, reverse: o.reverse ?? false }));

/** Uniform [0, 1) noise shaped like x, from a seeded generator that advances on every run. */
export const randomUniformLike: (...args: [x: Tensor, seed: number]) => Tensor = defPrim<[x: Tensor, seed: number]>('randomUniformLike', {
  shape: ([x]) => ({ dtype: x!.dtype, shape: x!.shape }),
  onnx: (b, [x], a, node) => b.node('RandomUniformLike', [x!], { seed: { float: a.seed as number }, dtype: b.dtypeCode(node.output.dtype) })[0]!,
}, (apply) => (x, seed) => apply([x], { seed }));

// ---- fused ops with their own VJP ------------------------------------------------------------

/** LayerNorm over the last axis: ONNX LayerNormalization (opset 17), with a VJP for the fused form. */
export const layerNorm: (...args: [x: Tensor, gamma: Tensor, beta: Tensor, epsilon?: number]) => Tensor = defPrim<[x: Tensor, gamma: Tensor, beta: Tensor, epsilon?: number]>('layerNorm', {
  shape: ([x, g, b]) => {
    const c = x!.shape[x!.rank - 1];
    for (const [name, p] of [['gamma', g!], ['beta', b!]] as const) {
      sameDtype('layerNorm', x!, p);
      if (p.rank !== 1 || p.shape[0] !== c) throw new GraphError('layerNorm', `${name} ${formatShape(p.shape)} does not match last dim of ${formatShape(x!.shape)}`);
    }
    return { dtype: x!.dtype, shape: x!.shape };
  },
  onnx: (b, [x, g, be], a) => b.node('LayerNormalization', [x!, g!, be!], { axis: -1, epsilon: { float: a.epsilon as number } })[0]!,
  vjp: (g, [x, gamma], _y, a, needs) => {
    const X = x!;
    const mean = reduceMean(X, -1, true);
    const centered = sub(X, mean);
    const rstd = div(1, sqrt(add(reduceMean(mul(centered, centered), -1, true), a.epsilon as number)));
    const xhat = mul(centered, rstd);
    const lead = X.shape.slice(0, -1).map((_, i) => i);
    let dx: Tensor | null = null;
    if (needs[0]) {
      const gy = mul(g, gamma!);
      dx = mul(rstd, sub(sub(gy, reduceMean(gy, -1, true)), mul(xhat, reduceMean(mul(gy, xhat), -1, true))));
    }
    return [dx, needs[1] ? reduceSum(mul(g, xhat), lead) : null, needs[2] ? reduceSum(g, lead) : null];
  },
}, (apply) => (x, gamma, beta, epsilon = 1e-12) => apply([x, gamma, beta], { epsilon }));

/**
 * Mean softmax cross-entropy of logits [N, C] against integer labels [N], skipping labels equal to
 * `ignoreIndex`. ONNX SoftmaxCrossEntropyLoss, with VJP (softmax - onehot) * valid / count.
 */
export const softmaxCrossEntropy: (...args: [logits: Tensor, labels: Tensor, ignoreIndex?: number]) => Tensor = defPrim<[logits: Tensor, labels: Tensor, ignoreIndex?: number]>('softmaxCrossEntropy', {
  shape: ([l, y]) => {
    checkIndices('softmaxCrossEntropy', y!);
    if (l!.rank !== 2 || y!.rank !== 1 || l!.shape[0] !== y!.shape[0]) {
      throw new GraphError('softmaxCrossEntropy', `logits must be [N, C] and labels [N]; got ${formatShape(l!.shape)} and ${formatShape(y!.shape)}`);
    }
    return { dtype: l!.dtype, shape: [] };
  },
  onnx: (b, [l, y], a, node) => {
    const labels = node.inputs[1]!.dtype === 'int64' ? y! : b.node('Cast', [y!], { to: b.dtypeCode('int64') })[0]!;
    return b.node('SoftmaxCrossEntropyLoss', [l!, labels], { reduction: 'mean', ignore_index: a.ignoreIndex as number })[0]!;
  },
  vjp: (g, [l, y], _o, a) => {
    const L = l!, Y = cast(y!, 'int64');
    const C = L.shape[1]!;
    const onehot = cast(equal(reshape(Y, [-1, 1]), reshape(range(C), [1, C])), L.dtype);
    const valid = cast(reshape(logicalNot(equal(Y, scalar(a.ignoreIndex as number, 'int64'))), [-1, 1]), L.dtype);
    const count = maximum(reduceSum(valid), scalar(1, L.dtype));
    // Scale per row first ([N, 1]) so only one [N, C] product is materialised (C can be 50k).
    const rowScale = mul(div(valid, count), g);
    return [mul(sub(softmax(L, -1), onehot), rowScale), null];
  },
}, (apply) => (logits, labels, ignoreIndex = -100) => apply([logits, labels], { ignoreIndex }));
