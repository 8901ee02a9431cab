/** Element types the graph, the runtime and the checkpoint readers agree on. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'int8' | 'uint8' | 'bool';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'int8', 'uint8', 'bool'];

/** Host storage for each dtype. float16/bfloat16 are kept as raw Uint16 bits; int64 as BigInt64Array. */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Uint16Array;

/** A concrete tensor in host memory: what checkpoints read and write and what the runtime feeds and returns. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, int8: 1, uint8: 1, bool: 1,
};

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocate zeroed host storage for `n` elements of `dtype`. */
export function allocate(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': case 'bfloat16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
  }
}

/** IEEE half -> float32. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half, round to nearest even. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** float32 -> bfloat16, round to nearest even. */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff)) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Convert any float host tensor to float32 (fp16/bf16/fp64 -> fp32). */
export function toFloat32(t: HostTensor): HostTensor {
  if (t.dtype === 'float32') return t;
  const n = t.data.length;
  const out = new Float32Array(n);
  if (t.dtype === 'float16') { const d = t.data as Uint16Array; for (let i = 0; i < n; i++) out[i] = halfToFloat(d[i]!); }
  else if (t.dtype === 'bfloat16') { const d = t.data as Uint16Array; for (let i = 0; i < n; i++) out[i] = bf16ToFloat(d[i]!); }
  else if (t.dtype === 'int64') { const d = t.data as BigInt64Array; for (let i = 0; i < n; i++) out[i] = Number(d[i]!); }
  else { const d = t.data as Float64Array; for (let i = 0; i < n; i++) out[i] = d[i]!; }
  return { dtype: 'float32', shape: t.shape, data: out };
}
