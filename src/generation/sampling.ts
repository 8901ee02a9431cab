/**
 * One sampled token from a row of logits: repetition penalty, temperature, top-k, top-p, seeded.
 *
 * The definition is the plain one (kept as `referenceSample` in test/generation/sampling.test.ts):
 * drop -Infinity logits; order the rest by score, ties by id; keep the first topK; give each
 * exp((s - max) / T); keep the shortest prefix whose mass reaches topP of the total; draw
 * u = r * (kept mass) and walk the prefix, subtracting, until u <= 0.
 *
 * Sorting the vocabulary for that costs O(V log V) per token (top-p decoding was 4.7x slower than
 * greedy at a 21k vocabulary). The order matters at two places only: the top-p cut and the draw. So
 * one pass puts the candidates into buckets by score (bucket order is score order) and estimates each
 * bucket's mass; each place is found by summing bucket masses, and only the one bucket it falls in is
 * sorted, with exact masses. Top-k is a heap (k <= 1024) or a quickselect.
 *
 * Same choices, bit for bit: our sums are estimates (relative error < 1e-10) taken in another order
 * than the plain walk's (which adds about n·2^-53 of the total). A decision is taken only when it
 * clears a margin of (1e-9 + (n + 2)·2^-44) of the total, well above both; otherwise the candidates
 * are sorted and the plain walk decides. That happens about once in 10^8 draws, or when a cut lands
 * exactly on a tie (a row of equal logits). All buffers are module-level scratch, reused from call to
 * call (a call runs to its end before another starts).
 */
import type { Random } from '../util/random.ts';

export interface SamplingOptions {
  /** Logits are divided by it (default 1). */
  temperature?: number;
  /** Keep the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the fewest most likely tokens whose probability reaches p (undefined or 1: all). */
  topP?: number;
  /** CTRL-style penalty (> 1 discourages tokens already present). */
  repetitionPenalty?: number;
}

/** How many draws took each path; for tests and benchmarks. */
export const samplingPaths = { sorted: 0, bucketed: 0, fallback: 0 };

const NB = 1024; // buckets
const SPAN = 64; // buckets cover scores within 64 (in units of temperature) of the max; exp(-64) ~ 1.6e-28
const SMALL = 256; // up to this many candidates, just sort them
const HEAP = 1024; // top-k up to this k by a heap, larger by quickselect

let scores = new Float64Array(0); // by id: penalised logits
let mass = new Float64Array(0); // by id: exp((s - max) / T)
let idx = new Int32Array(0); // candidate ids
let bucketOf = new Uint16Array(0); // by position in idx
let tmpA = new Int32Array(0), tmpB = new Int32Array(0);
let seen = new Uint32Array(0), stamp = 0;
const bucketMass = new Float64Array(NB), bucketExp = new Float64Array(NB);

function reserve(V: number): void {
  if (scores.length >= V) return;
  scores = new Float64Array(V); mass = new Float64Array(V); idx = new Int32Array(V); bucketOf = new Uint16Array(V);
  tmpA = new Int32Array(V); tmpB = new Int32Array(V); seen = new Uint32Array(V); stamp = 0;
}

/** The order of the plain definition: higher score first, then lower id. */
const first = (a: number, b: number): boolean => scores[a]! > scores[b]! || (scores[a] === scores[b] && a < b);
const compare = (a: number, b: number): number => (first(a, b) ? -1 : first(b, a) ? 1 : 0);

function sortIds(a: Int32Array, lo: number, hi: number): void {
  if (hi - lo > 24) { a.subarray(lo, hi).sort(compare); return; }
  for (let i = lo + 1; i < hi; i++) {
    const x = a[i]!;
    let j = i;
    while (j > lo && first(x, a[j - 1]!)) { a[j] = a[j - 1]!; j--; }
    a[j] = x;
  }
}

/** Quickselect: afterwards idx[0..k) holds the first k of idx[0..n) in key order (in any order). */
function selectFirst(n: number, k: number): void {
  let lo = 0, hi = n, budget = 2 * Math.ceil(Math.log2(n + 1)) + 8;
  while (lo < k && k < hi) {
    if (hi - lo <= 24 || budget-- === 0) { sortIds(idx, lo, hi); return; }
    // Median of three to hi - 1, then a Lomuto partition.
    const mid = (lo + hi) >>> 1;
    if (first(idx[mid]!, idx[lo]!)) swap(mid, lo);
    if (first(idx[hi - 1]!, idx[lo]!)) swap(hi - 1, lo);
    if (first(idx[mid]!, idx[hi - 1]!)) swap(mid, hi - 1);
    const p = idx[hi - 1]!;
    let store = lo;
    for (let i = lo; i < hi - 1; i++) if (first(idx[i]!, p)) swap(i, store++);
    swap(hi - 1, store);
    if (store < k) lo = store + 1;
    else hi = store;
  }
}
/** The same as selectFirst by one pass with a heap of the k best so far (the worst at its root). */
function heapFirst(n: number, k: number): void {
  const h = tmpB, sc = scores;
  for (let i = 0; i < k; i++) h[i] = idx[i]!;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(h, i, k);
  let root = h[0]!, rootScore = sc[root]!;
  for (let i = k; i < n; i++) {
    const v = idx[i]!, s = sc[v]!;
    if (s > rootScore || (s === rootScore && v < root)) {
      h[0] = v;
      siftDown(h, 0, k);
      root = h[0]!; rootScore = sc[root]!;
    }
  }
  for (let i = 0; i < k; i++) idx[i] = h[i]!;
}
function siftDown(h: Int32Array, i: number, k: number): void {
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let worst = i;
    if (l < k && first(h[worst]!, h[l]!)) worst = l;
    if (r < k && first(h[worst]!, h[r]!)) worst = r;
    if (worst === i) return;
    const t = h[i]!; h[i] = h[worst]!; h[worst] = t;
    i = worst;
  }
}
function swap(i: number, j: number): void {
  const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
}

/** The plain definition over the candidates idx[0..n): sort them, cut, walk. */
function sortedDraw(n: number, max: number, T: number, topP: number, r: number): number {
  sortIds(idx, 0, n);
  let total = 0;
  for (let i = 0; i < n; i++) { const w = Math.exp((scores[idx[i]!]! - max) / T); mass[idx[i]!] = w; total += w; }
  let keep = n;
  if (topP < 1) {
    let cum = 0;
    keep = 0;
    const target = topP * total;
    while (keep < n && cum < target) cum += mass[idx[keep++]!]!;
    keep = Math.max(1, keep);
    total = 0;
    for (let i = 0; i < keep; i++) total += mass[idx[i]!]!;
  }
  let u = r * total;
  for (let i = 0; i < keep; i++) {
    u -= mass[idx[i]!]!;
    if (u <= 0) return idx[i]!;
  }
  return idx[keep - 1]!;
}

/** The members of bucket b, sorted, into out, with their exact masses; returns their count. */
function gather(b: number, n: number, out: Int32Array, max: number, T: number): number {
  let len = 0;
  const of = bucketOf;
  for (let i = 0; i < n; i++) {
    if (of[i] !== b) continue;
    const v = idx[i]!;
    mass[v] = Math.exp((scores[v]! - max) / T);
    out[len++] = v;
  }
  sortIds(out, 0, len);
  return len;
}

/**
 * The same choice as sortedDraw without sorting, or -1 when a decision is too close to call.
 * Bucket b holds scores with (max - s) / T in [b, b + 1) * width (width = span / NB <= 1/16; the last
 * bucket also takes everything below the span). Bucket masses are only estimates: each member's
 * exp(-(b * width + t)) is E[b] times a degree-6 Taylor polynomial in t < 1/8 (relative error < (1/8)^7 / 7! ~ 1e-10),
 * and members beyond SPAN count as 0 (each < e^-63); the tokens at the two decisions get exact masses.
 */
function bucketedDraw(n: number, max: number, min: number, T: number, topP: number, r: number): number {
  const span = Math.min((max - min) / T, SPAN);
  const scale = span > 0 ? NB / span : 1, width = 1 / scale, c = scale / T;
  if (!(c < Infinity)) return -1; // a subnormal temperature or score spread: (max - max) * c would be NaN
  const step = Math.exp(-width);
  for (let b = 0, e = 1; b < NB; b++, e *= step) { bucketExp[b] = e; bucketMass[b] = 0; }
  let total = 0;
  const sc = scores, ix = idx, of = bucketOf, bm = bucketMass, be = bucketExp;
  for (let i = 0; i < n; i++) {
    const x = (max - sc[ix[i]!]!) * c; // monotone in the score: bucket order is score order
    let b = NB - 1, w = 0;
    if (x < NB + 1) { // the min itself may round to just above NB; beyond NB + 1 only when the span was clamped
      b = Math.min(Math.floor(x), NB - 1);
      const t = (x - b) * width; // < 2 width <= 1/8
      w = be[b]! * (1 - t * (1 - t * (1 / 2 - t * (1 / 6 - t * (1 / 24 - t * (1 / 120 - t * (1 / 720)))))));
    }
    of[i] = b;
    bm[b] += w;
    total += w;
  }
  const margin = (1e-9 + (n + 2) * 2 ** -44) * total;
  // The top-p cut: everything in buckets < cutB, and the first cutLen (sorted) members of bucket cutB, in tmpA.
  let cutB = NB, cutLen = 0, kept = total;
  if (topP < 1) {
    const target = topP * total;
    let before = 0, b = 0;
    while (b < NB && before + bucketMass[b]! < target) before += bucketMass[b++]!;
    if (b === NB) return -1;
    const len = gather(b, n, tmpA, max, T);
    let j = 0, cum = before;
    while (j < len && cum + mass[tmpA[j]!]! < target) cum += mass[tmpA[j++]!]!;
    if (j === len) return -1;
    const at = cum + mass[tmpA[j]!]!;
    if (!(cum < target - margin && at > target + margin)) return -1;
    cutB = b; cutLen = j + 1; kept = at;
  }
  // The draw: the first token whose cumulative mass reaches u.
  const u = r * kept;
  let before = 0, b = 0;
  while (b < cutB && before + bucketMass[b]! < u) before += bucketMass[b++]!;
  if (b === NB) return -1;
  const list = b < cutB ? tmpB : tmpA;
  const len = b < cutB ? gather(b, n, tmpB, max, T) : cutLen;
  let cum = before;
  for (let j = 0; j < len; j++) {
    const next = cum + mass[list[j]!]!;
    if (next >= u) return cum < u - margin && next > u + margin ? list[j]! : -1;
    cum = next;
  }
  return -1;
}

function penalise(ids: readonly number[], V: number, penalty: number): void {
  for (const id of ids) {
    if (!(id >= 0 && id < V) || seen[id] === stamp) continue; // each id once; ids outside the row are ignored
    seen[id] = stamp;
    const s = scores[id]!;
    scores[id] = s > 0 ? s / penalty : s * penalty;
  }
}

/**
 * One token from logits[offset, offset + V). The repetition penalty applies once to each id in
 * `history` or `generated` (two lists, so that callers need not join prompt and output every step).
 * Draws exactly one number from `rng`.
 */
export function sampleToken(logits: Float32Array, offset: number, V: number, o: SamplingOptions, rng: Random, history: readonly number[], generated: readonly number[] = []): number {
  const T = o.temperature ?? 1;
  if (!(T > 0)) throw new Error(`temperature must be > 0, got ${T}`);
  if (offset < 0 || offset + V > logits.length) throw new RangeError(`logits row [${offset}, ${offset + V}) is outside the ${logits.length} logits`);
  reserve(V);
  const sc = scores, ix = idx;
  const penalty = o.repetitionPenalty ?? 1, penalised = penalty !== 1;
  if (penalised) {
    for (let v = 0; v < V; v++) sc[v] = logits[offset + v]!;
    if (++stamp === 0xffffffff) { seen.fill(0); stamp = 1; }
    penalise(history, V, penalty);
    penalise(generated, V, penalty);
  }
  // The candidates: every id whose score is not -Infinity. (No throw inside: V8 optimises this loop better.)
  let n = 0, max = -Infinity, min = Infinity, nan = -1;
  for (let v = 0; v < V; v++) {
    const s = penalised ? sc[v]! : (sc[v] = logits[offset + v]!);
    if (s > -Infinity) {
      ix[n++] = v;
      if (s > max) max = s;
      if (s < min) min = s;
    } else if (s !== s && nan < 0) nan = v;
  }
  if (nan >= 0 || max === Infinity) {
    const v = nan >= 0 ? nan : sc.indexOf(Infinity), raw = logits[offset + v]!;
    throw new RangeError(`the logit of token ${v} is ${raw}${Object.is(raw, sc[v]) ? '' : ` (${sc[v]} after the repetition penalty)`}; cannot sample`);
  }
  if (n === 0) throw new RangeError(`every one of the ${V} logits is -Infinity; nothing to sample`);
  const k = o.topK ?? 0;
  if (k > 0 && k < n) {
    if (k <= HEAP) heapFirst(n, k);
    else selectFirst(n, k);
    n = k;
  }
  const topP = o.topP ?? 1;
  const r = rng.next();
  if (n > SMALL) {
    const token = bucketedDraw(n, max, min, T, topP, r);
    if (token >= 0) { samplingPaths.bucketed++; return token; }
    samplingPaths.fallback++;
  } else samplingPaths.sorted++;
  return sortedDraw(n, max, T, topP, r);
}

/**
 * The plain definition of `sampleToken`, by a full sort of the vocabulary per token (the sampler as it
 * was before it stopped sorting): the same choices and the same use of `rng`, far slower. The test
 * holds sampleToken to it and the sampling bench times it beside.
 */
export function sampleTokenBySorting(logits: Float32Array, offset: number, V: number, o: SamplingOptions, rng: Random, history: readonly number[]): number {
  const scores = new Float64Array(V);
  for (let v = 0; v < V; v++) scores[v] = logits[offset + v]!;
  const penalty = o.repetitionPenalty ?? 1;
  if (penalty !== 1) for (const id of new Set(history)) scores[id] = scores[id]! > 0 ? scores[id]! / penalty : scores[id]! * penalty;
  const temperature = o.temperature ?? 1;
  let order = Array.from({ length: V }, (_, i) => i).filter((i) => scores[i] !== -Infinity);
  order.sort((a, b) => scores[b]! - scores[a]!);
  if (o.topK && o.topK > 0) order = order.slice(0, o.topK);
  const max = scores[order[0]!]!;
  let probs = order.map((i) => Math.exp((scores[i]! - max) / temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0, keep = 0;
    while (keep < probs.length && cum < o.topP * total) cum += probs[keep++]!;
    order = order.slice(0, Math.max(1, keep));
    probs = probs.slice(0, order.length);
    total = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.next() * total;
  for (let i = 0; i < order.length; i++) {
    u -= probs[i]!;
    if (u <= 0) return order[i]!;
  }
  return order[order.length - 1]!;
}
