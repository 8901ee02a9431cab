/**
 * Lowering: a set of output tensors -> an ONNX ModelProto. Parameters become initializers (inference:
 * weights baked in, so ORT can prepack them) or graph inputs (training: fed zero-copy each step).
 * Named dims are resolved at run time from the shapes of the graph inputs that carry them.
 */
import { createHasher } from '../util/hash.ts';
import { writeAtomically } from '../util/files.ts';
import { floatToHalf, type DType, type HostTensor } from '../graph/dtype.ts';
import { PRIMS, type OnnxAttr, type OnnxBuilder } from '../graph/prim.ts';
import { GraphError, Tensor, formatShape, type Dim, type Node, type Shape } from '../graph/tensor.ts';
import { topoSort } from '../autodiff/grad.ts';
import { ProtoWriter } from './protobuf.ts';

// Opset 17 / IR 8: what onnx.checker in Debian's python3-onnx (1.12) and every ORT since 1.12 accept.
export const OPSET = 17;
const IR_VERSION = 8;

const ONNX_TYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

export interface ValueSpec {
  name: string;
  dtype: DType;
  shape: Shape;
  /** For integer inputs used as indices (embedding ids, labels): the valid range, checked before every run. */
  index?: IndexRange;
}

/** Valid values of an index input: 0 <= v < limit, or `ignore` (a label the loss skips). */
export interface IndexRange {
  limit: number;
  ignore?: number;
  /** What the index selects, for the error message (e.g. the embedding table's name). */
  of: string;
}

/**
 * Inputs that index something (Gather rows, cross-entropy classes), directly or through
 * reshape/cast, with the tightest bound over their uses. ONNX Gather wraps -1 to the last row and
 * ORT fails deep inside on larger ids, so the runtime checks these ranges up front.
 */
function indexRanges(order: Node[]): Map<string, IndexRange> {
  const ranges = new Map<string, IndexRange>();
  // Ops whose output values are some of their first input's values: the input's range still applies
  // (labels reach the loss shifted by a slice and gathered at the labelled positions).
  const inputName = (t: Tensor): string | undefined => {
    while (['reshape', 'cast', 'slice', 'gather'].includes(t.node.op)) t = t.node.inputs[0]!;
    return t.node.op === 'input' ? (t.node.attrs.name as string) : undefined;
  };
  for (const node of order) {
    let range: IndexRange | undefined;
    let name: string | undefined;
    if (node.op === 'gather') {
      const table = node.inputs[0]!;
      name = inputName(node.inputs[1]!);
      if (typeof table.shape[0] === 'number') range = { limit: table.shape[0], of: table.leafName ? `rows of '${table.leafName}'` : 'rows of the table' };
    } else if (node.op === 'softmaxCrossEntropy') {
      const classes = node.inputs[0]!.shape[1];
      name = inputName(node.inputs[1]!);
      if (typeof classes === 'number') range = { limit: classes, ignore: node.attrs.ignoreIndex as number, of: 'classes of the loss' };
    }
    if (name === undefined || !range) continue;
    const prev = ranges.get(name);
    if (!prev || range.limit < prev.limit) ranges.set(name, range);
  }
  return ranges;
}

export type ParamMode = 'initializers' | 'inputs';

export interface LowerOptions {
  /** 'initializers' bakes weights into the model (inference); 'inputs' feeds them each run (training). */
  params: ParamMode;
  /** Values of parameters, by name (required for 'initializers'). */
  paramValue?: (name: string) => HostTensor | undefined;
  /** Graph name, for error messages and exported files. */
  name?: string;
}

export interface Initializer {
  name: string;
  tensor: HostTensor;
  isParam: boolean;
}

/** One ONNX node, kept as data until the model is assembled (so passes such as quantize.ts can rewrite it). */
export interface OnnxNode {
  name: string;
  opType: string;
  ins: string[];
  outs: string[];
  attrs: Record<string, OnnxAttr>;
  /** '' for the default ONNX domain; 'com.microsoft' for ORT's contrib ops. */
  domain: string;
}

/** The result of lowering: the model's parts, assembled on demand in memory or as files. */
export class LoweredModel {
  constructor(
    readonly inputs: ValueSpec[],
    readonly outputs: ValueSpec[],
    readonly params: ValueSpec[],
    readonly nodes: readonly OnnxNode[],
    readonly initializers: readonly Initializer[],
    readonly name: string,
  ) {}

  get weightBytes(): number {
    return this.initializers.reduce((s, i) => s + i.tensor.data.byteLength, 0);
  }

  /** Structural hash plus the identity (and version) of each baked weight array: the session cache key. */
  signature(): string {
    const h = createHasher();
    for (const part of this.assemble(null).finish()) {
      if (part.byteLength <= 1024) h.update(part);
      else h.update(`#${weightIdentity(part)}`);
    }
    return h.digest();
  }

  /** The whole ModelProto in memory (weights inline; must stay under protobuf's 2 GB limit). */
  toBytes(): Uint8Array {
    if (this.weightBytes > 1.9e9) throw new Error(`model '${this.name}' has ${(this.weightBytes / 1e9).toFixed(2)} GB of weights; use external data (writeFiles)`);
    return this.assemble(null).toBytes();
  }

  /**
   * Write `<path>` and, for weights of `externalThreshold` bytes or more, `<path>.data` (ONNX
   * external data, needed over 2 GB). Streams: weights are never copied in memory.
   */
  writeFiles(path: string, externalThreshold = 1024): { modelPath: string; dataPath?: string } {
    const dataName = path.split(/[\\/]/).pop()! + '.data';
    const dataPath = path + '.data';
    const big = this.initializers.filter((i) => i.tensor.data.byteLength >= externalThreshold);
    const offsets = new Map<string, number>();
    // Temp files renamed only when both are complete, the data first: a failure never leaves a
    // truncated model, or a new model beside old data.
    writeAtomically(big.length ? [dataPath, path] : [path], (files) => {
      if (big.length) {
        let offset = 0;
        for (const init of big) {
          const pad = (4096 - (offset % 4096)) % 4096;
          if (pad) { files[0]!.write(new Uint8Array(pad)); offset += pad; }
          const bytes = rawBytes(init.tensor);
          files[0]!.write(bytes);
          offsets.set(init.name, offset);
          offset += bytes.length;
        }
      }
      for (const part of this.assemble({ location: dataName, offsets }).finish()) files[files.length - 1]!.write(part);
    });
    return { modelPath: path, dataPath: big.length ? dataPath : undefined };
  }

  private assemble(external: { location: string; offsets: Map<string, number> } | null): ProtoWriter {
    const graph = new ProtoWriter();
    for (const n of this.nodes) graph.message(1, nodeProto(n));
    graph.string(2, this.name);
    for (const init of this.initializers) {
      const off = external?.offsets.get(init.name);
      graph.message(5, tensorProto(init.name, init.tensor, off === undefined ? undefined : { location: external!.location, offset: off }));
    }
    for (const i of this.inputs) graph.message(11, valueInfo(i));
    for (const o of this.outputs) graph.message(12, valueInfo(o));
    const model = new ProtoWriter();
    model.int(1, IR_VERSION);
    model.string(2, 'bert4ts');
    model.string(3, '0.1.0');
    model.message(7, graph);
    model.message(8, new ProtoWriter().string(1, '').int(2, OPSET));
    if (this.nodes.some((n) => n.domain === 'com.microsoft')) model.message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1));
    return model;
  }
}

// Weight identity for session cache keys: the same array with the same version hashes the same.
const ids = new WeakMap<ArrayBufferLike, number>();
const versions = new WeakMap<ArrayBufferLike, number>();
let nextWeightId = 1;
function weightIdentity(part: Uint8Array): string {
  let id = ids.get(part.buffer);
  if (id === undefined) ids.set(part.buffer, (id = nextWeightId++));
  return `${id}.${versions.get(part.buffer) ?? 0}.${part.byteOffset}.${part.byteLength}`;
}
/** How often `markWeightsChanged` was called on this array's buffer (for caches of derived weights). */
export function weightVersion(data: ArrayBufferView): string {
  let id = ids.get(data.buffer);
  if (id === undefined) ids.set(data.buffer, (id = nextWeightId++));
  return `${id}.${versions.get(data.buffer) ?? 0}.${data.byteOffset}`;
}
/** Call after changing a weight array in place, so cached inference sessions are not reused. */
export function markWeightsChanged(data: ArrayBufferView): void {
  versions.set(data.buffer, (versions.get(data.buffer) ?? 0) + 1);
}

export function rawBytes(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function tensorProto(name: string, t: HostTensor, external?: { location: string; offset: number }): ProtoWriter {
  const w = new ProtoWriter();
  w.packedInts(1, t.shape);
  w.int(2, ONNX_TYPE[t.dtype]);
  w.string(8, name);
  if (external) {
    w.message(13, new ProtoWriter().string(1, 'location').string(2, external.location));
    w.message(13, new ProtoWriter().string(1, 'offset').string(2, String(external.offset)));
    w.message(13, new ProtoWriter().string(1, 'length').string(2, String(t.data.byteLength)));
    w.int(14, 1);
  } else {
    w.bytes(9, rawBytes(t));
  }
  return w;
}

function nodeProto(n: OnnxNode): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.ins) w.string(1, i);
  for (const o of n.outs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs)) if (v !== undefined) w.message(5, attribute(k, v));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfo(v: ValueSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, ONNX_TYPE[v.dtype]).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

function attribute(name: string, v: OnnxAttr): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return a.float(2, v).int(20, 1);
    return a.int(3, v).int(20, 2);
  }
  if (typeof v === 'string') return a.string(4, v).int(20, 3);
  if (Array.isArray(v)) return a.packedInts(8, v).int(20, 7);
  if ('floats' in v) return a.packedFloats(7, v.floats).int(20, 6);
  if ('float' in v) return a.float(2, v.float).int(20, 1);
  return a.message(5, tensorProto('', v)).int(20, 4);
}

/** Parse a dim expression into ONNX int64 arithmetic. Grammar: sum of products of atoms/parens. */
function emitDimExpr(b: OnnxBuilder, expr: string, atom: (name: string) => string): string {
  const tokens = expr.match(/\d+|[A-Za-z_]\w*|[+\-*()]/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const primary = (): string => {
    const t = tokens[pos++];
    if (t === '(') { const v = sum(); pos++; return v; }
    if (t === undefined) throw new Error(`bad dim expression '${expr}'`);
    return /^\d+$/.test(t) ? b.ints([Number(t)]) : atom(t);
  };
  const product = (): string => {
    let v = primary();
    while (peek() === '*') { pos++; v = b.node('Mul', [v, primary()])[0]!; }
    return v;
  };
  const sum = (): string => {
    let v = product();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[pos++] === '+' ? 'Add' : 'Sub';
      v = b.node(op, [v, product()])[0]!;
    }
    return v;
  };
  return sum();
}

// Ops whose every node draws fresh values: never merged with an identical-looking node.
const RANDOM_OPS = new Set(['RandomUniformLike', 'RandomNormalLike', 'RandomUniform', 'RandomNormal', 'Multinomial', 'Bernoulli', 'Dropout']);

/** What makes two nodes compute the same value; undefined for nodes that must stay apart. */
function nodeKey(opType: string, ins: string[], attrs: Record<string, OnnxAttr>, nOut: number, domain: string): string | undefined {
  if (RANDOM_OPS.has(opType)) return undefined;
  // Tensor-valued attributes are rare and large: not worth hashing.
  if (Object.values(attrs).some((v) => typeof v === 'object' && v !== null && 'data' in v)) return undefined;
  return `${domain}|${opType}|${nOut}|${ins.join(',')}|${JSON.stringify(attrs)}`;
}

/**
 * The nodes in breadth-first topological order: each node soon after the last of its inputs.
 * ORT topologically sorts the graph again inside every optimizer pass (GraphViewer, Kahn's
 * algorithm choosing the lowest node index among the ready nodes, kept in a sorted linked list),
 * so each pass costs nodes x ready nodes. In our depth-first order a value computed in the forward
 * pass but consumed in the backward pass (1 - f, a transposed h) waits ready for half the graph:
 * the ready set grows with the graph (~13% of the nodes for an unrolled LSTM) and session creation
 * with its square (LSTM T = 1024: 67k nodes, minutes). In this order the ready set stays small.
 * (ORT runs nodes in its own order, a depth-first walk from the outputs; ours only breaks its ties.)
 */
function readyOrder<N extends { ins: string[]; outs: string[] }>(nodes: readonly N[]): N[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => { for (const o of n.outs) producer.set(o, i); });
  const waiting = new Int32Array(nodes.length);
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const p of new Set(n.ins.map((v) => producer.get(v)))) if (p !== undefined) { waiting[i]!++; consumers[p]!.push(i); }
  });
  const order: number[] = [];
  nodes.forEach((_, i) => { if (waiting[i] === 0) order.push(i); });
  for (let k = 0; k < order.length; k++) for (const c of consumers[order[k]!]!) if (--waiting[c]! === 0) order.push(c);
  if (order.length !== nodes.length) throw new GraphError('lower', `the lowered graph has a cycle (${nodes.length - order.length} nodes unreachable)`);
  return order.map((i) => nodes[i]!);
}

/** Lower `outputs` (name -> tensor) to an ONNX model. */
export function lower(outputs: Record<string, Tensor>, options: LowerOptions): LoweredModel {
  const graphName = options.name ?? 'bert4ts';
  const outTensors = Object.values(outputs);
  const order = topoSort(outTensors);
  const nodes: OnnxNode[] = [];
  const initializers: Initializer[] = [];
  const inputs: ValueSpec[] = [];
  const params: ValueSpec[] = [];
  const valueName = new Map<Tensor, string>();
  const seenNames = new Map<string, Tensor>();
  let counter = 0;
  // Our value names never take a graph input's or weight's name (an input called 'v5' is legal).
  const leafNames = new Set(order.filter((n) => n.op === 'input' || n.op === 'param').map((n) => n.attrs.name as string));
  const fresh = (prefix: string): string => {
    let name: string;
    do name = `${prefix}${counter++}`; while (leafNames.has(name));
    return name;
  };
  const intConsts = new Map<string, string>();
  const dimCache = new Map<string, string>();
  const dimSource = new Map<string, { input: string; axis: number }>();
  // Nodes stay plain objects until the end, so graph outputs can take over their producers' names.
  const pending: { opType: string; ins: string[]; outs: string[]; attrs: Record<string, OnnxAttr>; domain: string }[] = [];
  const emit = (opType: string, ins: string[], outs: string[], attrs: Record<string, OnnxAttr> = {}, domain = '') => {
    pending.push({ opType, ins, outs, attrs, domain });
    return outs;
  };

  // Identical nodes (same op, inputs and attributes) are emitted once, and a Concat of int
  // constants (a pad or shape vector) becomes one constant. Both matter for graph size, and more for
  // ORT: a node with no node inputs is ready from the start of its topological sort (see readyOrder).
  const intValues = new Map<string, number[]>();
  const seenNodes = new Map<string, string[]>();
  const b: OnnxBuilder = {
    node(opType, ins, attrs = {}, nOut = 1, domain = '') {
      if (opType === 'Concat' && !domain && (attrs.axis === 0 || attrs.axis === -1) && ins.every((i) => intValues.has(i))) return [b.ints(ins.flatMap((i) => intValues.get(i)!))];
      const key = nodeKey(opType, ins, attrs, nOut, domain);
      const seen = key === undefined ? undefined : seenNodes.get(key);
      if (seen) return seen;
      const outs = emit(opType, ins, Array.from({ length: nOut }, () => fresh('v')), attrs, domain);
      if (key !== undefined) seenNodes.set(key, outs);
      return outs;
    },
    ints(values) {
      const key = values.join(',');
      let name = intConsts.get(key);
      if (!name) {
        name = fresh('i');
        initializers.push({ name, tensor: { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map(BigInt)) }, isParam: false });
        intConsts.set(key, name);
        intValues.set(name, values);
      }
      return name;
    },
    scalar(value, dtype) {
      const key = `${dtype}:${value}`;
      let name = intConsts.get(key);
      if (!name) {
        name = fresh('s');
        const data = dtype === 'int64' ? new BigInt64Array([BigInt(value)]) : dtype === 'float64' ? new Float64Array([value]) : dtype === 'int32' ? new Int32Array([value]) : dtype === 'float16' ? new Uint16Array([floatToHalf(value)]) : new Float32Array([value]);
        initializers.push({ name, tensor: { dtype, shape: [], data }, isParam: false });
        intConsts.set(key, name);
      }
      return name;
    },
    constant(t) {
      const name = fresh('c');
      initializers.push({ name, tensor: t, isParam: false });
      return name;
    },
    dim(d: Dim) {
      if (typeof d === 'number') return b.ints([d]);
      let name = dimCache.get(d);
      if (!name) {
        name = emitDimExpr(b, d, (atom) => {
          const cached = dimCache.get(atom);
          if (cached) return cached;
          const src = dimSource.get(atom);
          if (!src) throw new GraphError('lower', `dim '${atom}' is used but no graph input (or op before it) has it as a dimension`);
          const v = b.node('Shape', [src.input], { start: src.axis, end: src.axis + 1 })[0]!;
          dimCache.set(atom, v);
          return v;
        });
        dimCache.set(d, name);
      }
      return name;
    },
    shape(dims: Shape) {
      if (dims.every((d) => typeof d === 'number')) return b.ints(dims as number[]);
      return b.node('Concat', dims.map((d) => b.dim(d)), { axis: 0 })[0]!;
    },
    dtypeCode: (dtype) => ONNX_TYPE[dtype],
  };

  // Leaves first: graph inputs, parameters, and where each named dim comes from.
  for (const node of order) {
    const t = node.output;
    if (node.op !== 'input' && node.op !== 'param') continue;
    const name = node.attrs.name as string;
    const prev = seenNames.get(name);
    if (prev && prev !== t) {
      if (node.op === 'param' && prev.node.op === 'param' && prev.dtype === t.dtype && formatShape(prev.shape) === formatShape(t.shape)) {
        valueName.set(t, name); // the same weight referenced twice (e.g. a tied embedding)
        continue;
      }
      throw new GraphError('lower', `two different leaves are both named '${name}': ${prev} and ${t}`);
    }
    seenNames.set(name, t);
    valueName.set(t, name);
    const spec = { name, dtype: t.dtype, shape: t.shape };
    if (node.op === 'input') {
      inputs.push(spec);
      t.shape.forEach((d, axis) => { if (typeof d === 'string' && /^[A-Za-z_]\w*$/.test(d) && !dimSource.has(d)) dimSource.set(d, { input: name, axis }); });
    } else if (options.params === 'inputs') {
      params.push(spec);
    } else {
      const value = options.paramValue?.(name);
      if (!value) throw new GraphError('lower', `no value bound for parameter '${name}' ${formatShape(t.shape)}`);
      if (value.dtype !== t.dtype || value.shape.length !== t.shape.length || value.shape.some((d, i) => d !== t.shape[i])) {
        throw new GraphError('lower', `parameter '${name}' is declared ${t.dtype} ${formatShape(t.shape)} but its value is ${value.dtype} ${formatShape(value.shape)}`);
      }
      params.push(spec);
      initializers.push({ name, tensor: value, isParam: true });
    }
  }

  for (const node of order) {
    if (node.op === 'input' || node.op === 'param') continue;
    const rule = PRIMS.get(node.op)!;
    const ins = node.inputs.map((x) => valueName.get(x)!);
    try {
      const value = rule.onnx(b, ins, node.attrs, node);
      valueName.set(node.output, value);
      // A dim first made by an op (nonZeroIndices' count) is read back from the op's own output.
      node.output.shape.forEach((d, axis) => { if (typeof d === 'string' && /^[A-Za-z_]\w*$/.test(d) && !dimSource.has(d)) dimSource.set(d, { input: value, axis }); });
    } catch (e) {
      if (e instanceof GraphError) throw e;
      throw new GraphError(node.op, `lowering failed: ${(e as Error).message}`);
    }
  }

  // A graph output that is some node's result is written by that node directly (renaming its
  // value); an Identity copy is needed only for inputs, weights, constants and repeated outputs.
  const producedBy = new Map<string, (typeof pending)[number]>();
  for (const n of pending) for (const o of n.outs) producedBy.set(o, n);
  const renamed = new Map<string, string>();
  const outs: ValueSpec[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    const value = valueName.get(t)!;
    if (producedBy.has(value) && !renamed.has(value)) renamed.set(value, name);
    else emit('Identity', [renamed.get(value) ?? value], [name]);
    outs.push({ name, dtype: t.dtype, shape: t.shape });
  }
  for (const n of readyOrder(pending)) {
    nodes.push({ name: fresh(`${n.opType}_`), opType: n.opType, ins: n.ins.map((i) => renamed.get(i) ?? i), outs: n.outs.map((o) => renamed.get(o) ?? o), attrs: n.attrs, domain: n.domain });
  }
  const ranges = indexRanges(order);
  for (const spec of inputs) if (ranges.has(spec.name)) spec.index = ranges.get(spec.name);
  const allInputs = options.params === 'inputs' ? [...inputs, ...params] : inputs;
  return new LoweredModel(allInputs.map((s) => ({ ...s })), outs, params, nodes, initializers, graphName);
}
