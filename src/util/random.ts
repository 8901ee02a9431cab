/**
 * Seeded randomness on the host, shared by every layer (weight initialisation, sampling, data order,
 * the xiangqi players): one generator, one string hash, so equal seeds give equal streams everywhere.
 */

/** A small, fast, seedable PRNG (mulberry32) with Box-Muller normals. */
export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** `new Random(seed).next` as a function: a seeded source for shuffling and sampling. */
export function seededRandom(seed: number): () => number {
  const r = new Random(seed);
  return () => r.next();
}

/** 32-bit FNV-1a of a string's UTF-16 code units: a seed from a name (a parameter's, a layer's). */
export function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
