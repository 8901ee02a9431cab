/**
 * A content hash for cache keys: Node's SHA-1 when it is there, else SHA-256 in plain JS (browsers'
 * crypto.subtle is async, and lowering computes its signature synchronously). Not for security: the
 * two environments give different digests, which is fine for a process-local session cache.
 */
import type * as Crypto from 'node:crypto';
import { tryBuiltin } from './node/builtin.ts';

export interface Hasher {
  update(data: Uint8Array | string): Hasher;
  digest(): string;
}

export function createHasher(): Hasher {
  const crypto = tryBuiltin<typeof Crypto>('node:crypto');
  if (crypto) {
    const h = crypto.createHash('sha1');
    const hasher: Hasher = { update: (d) => { h.update(d); return hasher; }, digest: () => h.digest('hex') };
    return hasher;
  }
  const chunks: Uint8Array[] = [];
  const enc = new TextEncoder();
  const hasher: Hasher = {
    update: (d) => { chunks.push(typeof d === 'string' ? enc.encode(d) : d.slice()); return hasher; },
    digest: () => sha256Hex(chunks),
  };
  return hasher;
}

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** FIPS 180-4 SHA-256 of the concatenated chunks. */
export function sha256Hex(chunks: Uint8Array[]): string {
  const n = chunks.reduce((s, c) => s + c.length, 0);
  const total = Math.ceil((n + 9) / 64) * 64;
  const msg = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) { msg.set(c, off); off += c.length; }
  msg[n] = 0x80;
  const view = new DataView(msg.buffer);
  view.setUint32(total - 8, Math.floor(n / 0x20000000), false);
  view.setUint32(total - 4, (n * 8) >>> 0, false);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x: number, r: number) => (x >>> r) | (x << (32 - r));
  for (let b = 0; b < total; b += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(b + 4 * i, false);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15]!, 7) ^ rotr(w[i - 15]!, 18) ^ (w[i - 15]! >>> 3);
      const s1 = rotr(w[i - 2]!, 17) ^ rotr(w[i - 2]!, 19) ^ (w[i - 2]! >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) >>> 0;
    }
    let [a, bb, c, d, e, f, g, hh] = h as unknown as number[];
    for (let i = 0; i < 64; i++) {
      const t1 = (hh! + (rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + K[i]! + w[i]!) >>> 0;
      const t2 = ((rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22)) + ((a! & bb!) ^ (a! & c!) ^ (bb! & c!))) >>> 0;
      hh = g; g = f; f = e; e = (d! + t1) >>> 0; d = c; c = bb; bb = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a!; h[1] += bb!; h[2] += c!; h[3] += d!; h[4] += e!; h[5] += f!; h[6] += g!; h[7] += hh!;
  }
  return [...h].map((x) => x.toString(16).padStart(8, '0')).join('');
}
