/**
 * int8 quantization: a graph-to-graph pass over a lowered ONNX model (inference, weights baked in).
 *
 *   dynamic-int8      y = x @ W  becomes  DynamicQuantizeMatMul(x, W_q, s)  (ORT contrib op): W is int8
 *                     with one symmetric scale per output column, x is quantized to uint8 at run time
 *                     (per tensor, asymmetric), the product is an int8 GEMM (AVX-512 VNNI / AMX in MLAS)
 *                     and the following bias Add is folded in. The plain-ONNX form (DynamicQuantizeLinear
 *                     + MatMulInteger + Cast + Mul) runs as fast: see PATTERNS below.
 *   weight-only-int8  W is stored int8 + per-column scales and dequantized in the graph
 *                     (DequantizeLinear, axis 1) before an fp32 MatMul: a 4x smaller export, fp32 speed.
 *   int4              W in 4-bit blocks of INT4_BLOCK values along K, one symmetric scale per block
 *                     (ORT contrib MatMulNBits, accuracy_level 4: activations quantized to int8 per block
 *                     and an int8 dot product): an 8x smaller weight file than fp32.
 *   embeddings: true  Gather tables become int8 rows with one scale per row, dequantized after the
 *                     lookup (Gather + Cast + Mul by the gathered scales): a 4x smaller vocabulary table.
 *
 * A weight is a parameter initializer (float32, or float16/bfloat16 behind a Cast) of rank 2, reached
 * from MatMul's second input directly or through Transpose([1, 0]) (tied output embeddings), Cast or
 * Identity. Activation x activation MatMuls (attention scores) stay fp32; our lowering emits no Gemm.
 * Quantized weights are cached per source array and version, so recompiling (another output set,
 * another shape bucket) reuses them and the session cache key stays stable.
 */
import { toFloat32, type HostTensor } from '../graph/dtype.ts';
import { LoweredModel, weightVersion, type Initializer, type OnnxNode } from './lower.ts';

export type QuantizeMode = 'dynamic-int8' | 'weight-only-int8' | 'int4';
export const QUANTIZE_MODES: readonly QuantizeMode[] = ['dynamic-int8', 'weight-only-int8', 'int4'];

export interface QuantizeOptions {
  mode: QuantizeMode;
  /** Also store Gather (embedding) tables as int8 rows with per-row scales (default false). */
  embeddings?: boolean;
}

const OPTION_KEYS = { mode: 1, embeddings: 1 } satisfies Record<keyof QuantizeOptions, 1>;

export class QuantizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizeError';
  }
}

/** Refuse anything but a known mode and known keys, naming the problem. */
export function checkQuantizeOptions(options: unknown, what = 'quantize options'): asserts options is QuantizeOptions {
  if (typeof options === 'string') throw new QuantizeError(`${what} must be an object such as { mode: '${options}' }, got the string '${options}'`);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new QuantizeError(`${what} must be an object such as { mode: 'dynamic-int8' }, got ${JSON.stringify(options)}`);
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !Object.hasOwn(OPTION_KEYS, k));
  if (unknown.length) throw new QuantizeError(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (valid: ${Object.keys(OPTION_KEYS).join(', ')})`);
  if (!QUANTIZE_MODES.includes(o.mode as QuantizeMode)) throw new QuantizeError(`${what}: mode must be ${QUANTIZE_MODES.map((m) => `'${m}'`).join(' or ')}, got ${JSON.stringify(o.mode)}`);
  if (o.embeddings !== undefined && typeof o.embeddings !== 'boolean') throw new QuantizeError(`${what}: embeddings must be true or false, got ${JSON.stringify(o.embeddings)}`);
}

/** A stable string for cache keys (undefined: not quantized). */
export function quantizeKey(options: QuantizeOptions | undefined): string {
  return options ? `${options.mode}${options.mode === 'dynamic-int8' ? `/${pattern()}` : ''}${options.embeddings ? '+emb' : ''}` : 'fp32';
}

/**
 * The emitted form of a dynamic-int8 MatMul. 'contrib' (DynamicQuantizeMatMul with the bias folded in)
 * is the default: one node, nothing left for ORT to fuse. 'onnx' uses only standard ops, which ORT fuses
 * to the same kernel; bench/int8.ts times both (BERT4TS_INT8_PATTERN) and finds them equal within noise.
 */
const PATTERNS = ['contrib', 'onnx'] as const;
type Pattern = (typeof PATTERNS)[number];
function pattern(): Pattern {
  const p = process.env.BERT4TS_INT8_PATTERN;
  return PATTERNS.includes(p as Pattern) ? (p as Pattern) : 'contrib';
}

/** Symmetric int8 per slice: `axis` 1 = one scale per column of [K, N], 0 = one per row. */
export function quantizeInt8(w: Float32Array, rows: number, cols: number, axis: 0 | 1): { q: Int8Array; scale: Float32Array } {
  const n = axis === 1 ? cols : rows;
  const max = new Float32Array(n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(w[r * cols + c]!);
      const i = axis === 1 ? c : r;
      if (a > max[i]!) max[i] = a;
    }
  }
  const scale = new Float32Array(n);
  const inv = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    scale[i] = max[i]! > 0 ? max[i]! / 127 : 1;
    inv[i] = 1 / scale[i]!;
  }
  const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.round(w[r * cols + c]! * inv[axis === 1 ? c : r]!);
      q[r * cols + c] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return { q, scale };
}

/** Values per int4 block along K (MatMulNBits' block_size: a power of 2, at least 16). */
export const INT4_BLOCK = 32;

/**
 * W [K, N] as MatMulNBits stores it: per output column n and block b of INT4_BLOCK rows, the values
 * q = round(w / s) + 8 in [1, 15] (s = the block's max |w| / 7; zero point 8, the op's default), two
 * per byte, the first in the low nibble; K is padded with zeros to whole blocks. Scales [N * blocks].
 */
export function quantizeInt4(w: Float32Array, K: number, N: number): { q: Uint8Array; scale: Float32Array; blocks: number } {
  const blocks = Math.ceil(K / INT4_BLOCK), half = INT4_BLOCK / 2;
  const q = new Uint8Array(N * blocks * half).fill(0x88); // padding quantizes to zero (8 | 8 << 4)
  const scale = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const k0 = b * INT4_BLOCK, k1 = Math.min(K, k0 + INT4_BLOCK);
      let max = 0;
      for (let k = k0; k < k1; k++) max = Math.max(max, Math.abs(w[k * N + n]!));
      const s = max > 0 ? max / 7 : 1;
      scale[n * blocks + b] = s;
      const base = (n * blocks + b) * half;
      for (let k = k0; k < k1; k++) {
        const v = Math.max(-7, Math.min(7, Math.round(w[k * N + n]! / s))) + 8;
        const i = base + ((k - k0) >> 1);
        q[i] = (k - k0) & 1 ? (q[i]! & 0x0f) | (v << 4) : (q[i]! & 0xf0) | v;
      }
    }
  }
  return { q, scale, blocks };
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c]!;
  return out;
}

/**
 * A constant weight as the graph computes it from parameter initializers: through Transpose([1, 0]),
 * Cast to float, Identity and Concat (attention's fused q/k/v kernel is a Concat of three). `key`
 * names the sources and their versions; `value()` builds the fp32 array.
 */
interface ConstWeight {
  shape: number[];
  key: string;
  /** The graph sees it as float32 (a float16 weight only behind a Cast to float; an fp16 graph is left alone). */
  float32: boolean;
  /** The first source's array: quantized forms are cached under it (and die with it). */
  anchor: object;
  value(): Float32Array;
}

function concat(parts: ConstWeight[], axis: number): ConstWeight {
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((s, p) => s + p.shape[axis]!, 0);
  return {
    shape, key: `concat${axis}(${parts.map((p) => p.key).join(',')})`, anchor: parts[0]!.anchor, float32: parts.every((p) => p.float32),
    value() {
      const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
      const rows = axis === 0 ? 1 : shape[0]!; // rank 1 (axis 0) or rank 2 (axis 0 or 1)
      const width = shape.length === 1 || axis === 0 ? out.length : shape[1]!;
      let offset = 0;
      for (const p of parts) {
        const v = p.value();
        const w = shape.length === 1 || axis === 0 ? v.length : p.shape[1]!;
        for (let r = 0; r < rows; r++) out.set(v.subarray(r * w, (r + 1) * w), r * width + offset);
        offset += w;
      }
      return out;
    },
  };
}

// Source array -> (sources, versions, layout) -> its quantized form.
const cache = new WeakMap<object, Map<string, { q: Int8Array; scale: Float32Array }>>();
const cache4 = new WeakMap<object, Map<string, { q: Uint8Array; scale: Float32Array; blocks: number }>>();
function quantizedInt4Of(w: ConstWeight): { q: Uint8Array; scale: Float32Array; blocks: number } {
  let byKey = cache4.get(w.anchor);
  if (!byKey) cache4.set(w.anchor, (byKey = new Map()));
  let hit = byKey.get(w.key);
  if (!hit) byKey.set(w.key, (hit = quantizeInt4(w.value(), w.shape[0]!, w.shape[1]!)));
  return hit;
}

function quantizedOf(w: ConstWeight, axis: 0 | 1): { q: Int8Array; scale: Float32Array; shape: [number, number] } {
  const shape = w.shape as [number, number];
  let byKey = cache.get(w.anchor);
  if (!byKey) cache.set(w.anchor, (byKey = new Map()));
  const key = `${w.key}|${axis}`;
  let hit = byKey.get(key);
  if (!hit) byKey.set(key, (hit = quantizeInt8(w.value(), shape[0], shape[1], axis)));
  return { ...hit, shape };
}

/** What `quantizeLowered` changed, for reports and tests. */
export interface QuantizeReport {
  matmuls: number;
  gathers: number;
  /** Bytes of weight initializers before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

/** Rewrite `model`'s weight MatMuls (and Gathers with `embeddings`) to int8; the input model is unchanged. */
export function quantizeLowered(model: LoweredModel, options: QuantizeOptions, report?: (r: QuantizeReport) => void): LoweredModel {
  checkQuantizeOptions(options);
  const form = pattern();
  const inits = new Map(model.initializers.map((i) => [i.name, i]));
  const producer = new Map<string, OnnxNode>();
  for (const n of model.nodes) for (const o of n.outs) producer.set(o, n);
  const consumers = new Map<string, OnnxNode[]>();
  for (const n of model.nodes) for (const i of n.ins) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n);
  const outputNames = new Set(model.outputs.map((o) => o.name));

  const taken = new Set<string>([...inits.keys(), ...producer.keys(), ...model.inputs.map((i) => i.name), ...model.nodes.map((n) => n.name)]);
  let counter = 0;
  const fresh = (prefix: string): string => {
    let name: string;
    do name = `${prefix}${counter++}`; while (taken.has(name));
    taken.add(name);
    return name;
  };
  const added: Initializer[] = [];
  const addInit = (prefix: string, tensor: HostTensor): string => {
    const name = fresh(prefix);
    added.push({ name, tensor, isParam: false });
    return name;
  };
  const int64s = new Map<string, string>();
  const ints = (values: number[]): string => {
    const key = values.join(',');
    let name = int64s.get(key);
    if (!name) int64s.set(key, (name = addInit('q_i', { dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values.map(BigInt)) })));
    return name;
  };

  /** The constant weight (rank 1 or 2) that `value` is, if the graph computes it from parameters only. */
  const constBehind = (value: string, depth = 0): ConstWeight | undefined => {
    if (depth > 6) return undefined;
    const init = inits.get(value);
    if (init) {
      const t = init.tensor;
      const floaty = t.dtype === 'float32' || t.dtype === 'float16' || t.dtype === 'bfloat16';
      if (!init.isParam || !floaty || (t.shape.length !== 1 && t.shape.length !== 2)) return undefined;
      return { shape: [...t.shape], key: `${init.name}@${weightVersion(t.data)}`, anchor: t.data, float32: t.dtype === 'float32', value: () => toFloat32(t).data as Float32Array };
    }
    const p = producer.get(value);
    if (!p || p.domain !== '') return undefined;
    if (p.opType === 'Identity') return constBehind(p.ins[0]!, depth + 1);
    if (p.opType === 'Cast' && p.attrs.to === 1) {
      const w = constBehind(p.ins[0]!, depth + 1);
      return w && { ...w, float32: true };
    }
    if (p.opType === 'Transpose' && String(p.attrs.perm) === '1,0') {
      const w = constBehind(p.ins[0]!, depth + 1);
      if (!w) return undefined;
      const [r, c] = w.shape as [number, number];
      return { shape: [c, r], key: `T(${w.key})`, anchor: w.anchor, float32: w.float32, value: () => transpose2d(w.value(), r, c) };
    }
    if (p.opType === 'Concat') {
      const parts = p.ins.map((i) => constBehind(i, depth + 1));
      if (parts.some((x) => !x)) return undefined;
      const rank = parts[0]!.shape.length;
      const axis = ((p.attrs.axis as number) + rank) % rank;
      if (parts.some((x) => x!.shape.length !== rank || x!.shape.some((d, i) => i !== axis && d !== parts[0]!.shape[i]))) return undefined;
      return concat(parts as ConstWeight[], axis);
    }
    return undefined;
  };
  const weightBehind = (value: string, transposedOk = true): ConstWeight | undefined => {
    const w = constBehind(value);
    return w && w.float32 && w.shape.length === 2 && (transposedOk || !w.key.startsWith('T(')) ? w : undefined;
  };

  const weightNames = new Map<string, { q: string; scale: string }>();
  const int8Weight = (w: ConstWeight, axis: 0 | 1) => {
    const key = `${w.key}|${axis}`;
    let names = weightNames.get(key);
    if (!names) {
      const { q, scale, shape } = quantizedOf(w, axis);
      const base = (w.key.match(/[\w/.]+(?=@)/)?.[0] ?? 'w').replace(/[^\w.]/g, '_');
      names = {
        q: addInit(`${base}_int8_`, { dtype: 'int8', shape, data: q }),
        scale: addInit(`${base}_scale_`, { dtype: 'float32', shape: [scale.length], data: scale }),
      };
      weightNames.set(key, names);
    }
    return names;
  };

  const int4Names = new Map<string, { q: string; scale: string }>();
  const int4Weight = (w: ConstWeight) => {
    let names = int4Names.get(w.key);
    if (!names) {
      const N = w.shape[1]!;
      const { q, scale, blocks } = quantizedInt4Of(w);
      const base = (w.key.match(/[\w/.]+(?=@)/)?.[0] ?? 'w').replace(/[^\w.]/g, '_');
      names = {
        q: addInit(`${base}_int4_`, { dtype: 'uint8', shape: [N, blocks, INT4_BLOCK / 2], data: q }),
        scale: addInit(`${base}_scale4_`, { dtype: 'float32', shape: [N * blocks], data: scale }),
      };
      int4Names.set(w.key, names);
    }
    return names;
  };

  const biasNames = new Map<string, string>();
  const biasConstant = (b: ConstWeight): string => {
    let name = biasNames.get(b.key);
    if (!name) biasNames.set(b.key, (name = addInit('q_bias_', { dtype: 'float32', shape: b.shape, data: b.value() })));
    return name;
  };

  const out: OnnxNode[] = [];
  const removed = new Set<OnnxNode>();
  const node = (opType: string, ins: string[], outs: string[], attrs: OnnxNode['attrs'] = {}, domain = ''): void => {
    out.push({ name: fresh(`q_${opType}_`), opType, ins, outs, attrs, domain });
  };
  let matmuls = 0;
  let gathers = 0;

  for (const n of model.nodes) {
    if (removed.has(n)) continue;
    if (n.opType === 'MatMul' && n.domain === '') {
      const w = weightBehind(n.ins[1]!);
      if (w && options.mode === 'int4') {
        matmuls++;
        const [K, N] = w.shape as [number, number];
        const { q, scale } = int4Weight(w);
        node('MatMulNBits', [n.ins[0]!, q, scale], [n.outs[0]!], { K, N, bits: 4, block_size: INT4_BLOCK, accuracy_level: 4 }, 'com.microsoft');
        continue;
      }
      if (w) {
        matmuls++;
        const { q, scale } = int8Weight(w, 1);
        const [x] = n.ins as [string];
        const y = n.outs[0]!;
        if (options.mode === 'weight-only-int8') {
          const wf = fresh('q_w');
          node('DequantizeLinear', [q, scale], [wf], { axis: 1 });
          node('MatMul', [x, wf], [y]);
          continue;
        }
        if (form === 'contrib') {
          // Fold a following bias Add (y + b, b a 1-D float32 initializer of N values) into the op.
          const users = consumers.get(y) ?? [];
          const add = users.length === 1 && !outputNames.has(y) ? users[0]! : undefined;
          const other = add?.opType === 'Add' && add.ins.length === 2 && add.ins.includes(y) ? add.ins.find((i) => i !== y) : undefined;
          const bias = other !== undefined ? constBehind(other) : undefined;
          if (add && other !== undefined && bias && bias.float32 && bias.shape.length === 1 && bias.shape[0] === scale.length) {
            // A bias that is one initializer is used as it is; a computed one (Concat of q/k/v biases) is folded to a constant.
            const biasName = inits.get(other)?.tensor.dtype === 'float32' ? other : biasConstant(bias);
            node('DynamicQuantizeMatMul', [x, q, scale, '', biasName], [add.outs[0]!], {}, 'com.microsoft');
            removed.add(add);
          } else {
            node('DynamicQuantizeMatMul', [x, q, scale], [y], {}, 'com.microsoft');
          }
          continue;
        }
        const [xq, xs, xz, acc, accf, s] = [fresh('q_x'), fresh('q_xs'), fresh('q_xz'), fresh('q_acc'), fresh('q_accf'), fresh('q_s')];
        node('DynamicQuantizeLinear', [x], [xq, xs, xz]);
        node('MatMulInteger', [xq, q, xz], [acc]);
        node('Cast', [acc], [accf], { to: 1 });
        node('Mul', [xs, scale], [s]);
        node('Mul', [accf, s], [y]);
        continue;
      }
    }
    if (options.embeddings && n.opType === 'Gather' && n.domain === '' && (n.attrs.axis ?? 0) === 0) {
      const w = weightBehind(n.ins[0]!, false);
      if (w) {
        gathers++;
        const { q, scale } = int8Weight(w, 0);
        const ids = n.ins[1]!;
        const [g, gf, gs, gs1] = [fresh('q_g'), fresh('q_gf'), fresh('q_gs'), fresh('q_gs1')];
        node('Gather', [q, ids], [g], { axis: 0 });
        node('Cast', [g], [gf], { to: 1 });
        node('Gather', [scale, ids], [gs], { axis: 0 });
        node('Unsqueeze', [gs, ints([-1])], [gs1]);
        node('Mul', [gf, gs1], [n.outs[0]!]);
        continue;
      }
    }
    out.push(n);
  }

  // Drop what nothing reads any more (the fp32 weights, Transposes of tied tables).
  const needed = new Set<string>(outputNames);
  const live: OnnxNode[] = [];
  for (let i = out.length - 1; i >= 0; i--) {
    const n = out[i]!;
    if (!n.outs.some((o) => needed.has(o))) continue;
    live.push(n);
    for (const v of n.ins) if (v) needed.add(v);
  }
  live.reverse();
  const initializers = [...model.initializers, ...added].filter((i) => needed.has(i.name));
  const bytes = (list: readonly Initializer[]) => list.reduce((s, i) => s + i.tensor.data.byteLength, 0);
  report?.({ matmuls, gathers, bytesBefore: bytes(model.initializers), bytesAfter: bytes(initializers) });
  return new LoweredModel(model.inputs, model.outputs, model.params, live, initializers, model.name);
}
