/**
 * CRC-32C (Castagnoli), as TensorFlow's tensor bundles and SSTables use it, with TF/LevelDB's
 * "masked" form (stored CRCs are masked so that CRCs of data containing CRCs stay well distributed).
 * Slicing-by-8 tables: a few hundred MB/s in plain JS, so checking every tensor stays cheap.
 */
const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0]![i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) for (let s = 1; s < 8; s++) t[s]![i] = (t[s - 1]![i]! >>> 8) ^ t[0]![t[s - 1]![i]! & 0xff]!;
  return t;
})();

/** Extend a CRC-32C (start with 0) over `bytes`. */
export function crc32cExtend(crc: number, bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  // Bring the position to a 4-byte boundary, then take 8 bytes at a time as two 32-bit words
  // (little-endian hosts), which halves the loads of a byte-at-a-time loop.
  while (i < n && (bytes.byteOffset + i) % 4 !== 0) c = t0[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  const words = Math.floor((n - i) / 8) * 2;
  const w = words ? new Uint32Array(bytes.buffer, bytes.byteOffset + i, words) : new Uint32Array(0);
  for (let k = 0; k < words; k += 2) {
    const a = (c ^ w[k]!) >>> 0, b = w[k + 1]!;
    c = t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
      t3[b & 0xff]! ^ t2[(b >>> 8) & 0xff]! ^ t1[(b >>> 16) & 0xff]! ^ t0[b >>> 24]!;
  }
  i += words * 4;
  for (; i < n; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function crc32c(bytes: Uint8Array): number {
  return crc32cExtend(0, bytes);
}

const MASK_DELTA = 0xa282ead8;

export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rot = (masked - MASK_DELTA) >>> 0;
  return ((rot >>> 17) | (rot << 15)) >>> 0;
}
