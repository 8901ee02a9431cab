/**
 * Decoding strategies over an IncrementalLM: greedy, batched beam search, and sampling (temperature,
 * top-k, top-p, repetition penalty, seeded), plus streaming. Prompts of different lengths are
 * left-padded and masked; every strategy runs the prompt once and then one token per step.
 */
import { Random } from '../util/random.ts';
import type { DecoderState, IncrementalLM } from './causalLM.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';

export { sampleToken };

export interface LengthOptions {
  /** Tokens to generate at most. */
  maxNewTokens: number;
  /** End tokens are suppressed until this many tokens are generated. */
  minNewTokens?: number;
  /** Generation of a row stops at any of these ids (the end id is included in the output). */
  endIds?: number[];
  /** Stop a row when its generated tokens end with one of these sequences. */
  stopSequences?: number[][];
  /**
   * A row never generates the same n-gram of this length twice (HF's no_repeat_ngram_size): a token
   * that would complete an n-gram already among the row's generated tokens is not chosen. Only the
   * generated tokens count, not the prompt, so a title may still copy a phrase of its source.
   */
  noRepeatNgramSize?: number;
}

export interface SampleOptions extends LengthOptions, SamplingOptions {
  seed?: number;
  /** Samples per prompt. */
  n?: number;
}

export interface BeamOptions extends LengthOptions {
  beamSize: number;
  /** Scores are divided by length ** lengthPenalty (0 = raw log-probability sum). */
  lengthPenalty?: number;
  /** Hypotheses returned per prompt (default 1, at most beamSize). */
  nBest?: number;
}

export interface Hypothesis {
  ids: number[];
  /** Sum of log-probabilities of the generated tokens. */
  logProb: number;
  /** logProb / length ** lengthPenalty. */
  score: number;
}

/** Host-side bookkeeping for rows of a batch: mask and positions. */
class Rows {
  constructor(public mask: number[][], public lastPos: number[]) {}
  static fromPrompts(prompts: number[][]): { rows: Rows; ids: number[][]; positions: number[][] } {
    const len = Math.max(...prompts.map((p) => p.length));
    const ids: number[][] = [], positions: number[][] = [], mask: number[][] = [], lastPos: number[] = [];
    for (const p of prompts) {
      const pad = len - p.length;
      ids.push([...Array(pad).fill(0), ...p]);
      mask.push([...Array(pad).fill(0), ...Array(p.length).fill(1)]);
      positions.push(Array.from({ length: len }, (_, i) => Math.max(0, i - pad)));
      lastPos.push(p.length - 1);
    }
    return { rows: new Rows(mask, lastPos), ids, positions };
  }
  /** Rows continuing `source` rows, each appending one token. */
  advance(source: number[]): { rows: Rows; positions: number[][] } {
    const mask = source.map((s) => [...this.mask[s]!, 1]);
    const lastPos = source.map((s) => this.lastPos[s]! + 1);
    return { rows: new Rows(mask, lastPos), positions: lastPos.map((p) => [p]) };
  }
}

function checkPrompts(lm: IncrementalLM, prompts: number[][], o: LengthOptions): void {
  if (prompts.length === 0) throw new Error('no prompts');
  for (const [i, p] of prompts.entries()) {
    if (p.length === 0) throw new Error(`prompt ${i} is empty; give at least a start token`);
    for (const id of p) if (!Number.isInteger(id) || id < 0 || id >= lm.vocabSize) throw new Error(`prompt ${i} has id ${id} outside the vocabulary [0, ${lm.vocabSize})`);
    if (p.length + o.maxNewTokens > lm.maxPosition) throw new Error(`prompt ${i} (${p.length} tokens) + maxNewTokens ${o.maxNewTokens} exceeds the model's ${lm.maxPosition} positions`);
  }
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new Error(`maxNewTokens must be a positive integer, got ${o.maxNewTokens}`);
  if ((o.minNewTokens ?? 0) > o.maxNewTokens) throw new Error(`minNewTokens ${o.minNewTokens} > maxNewTokens ${o.maxNewTokens}`);
  for (const e of o.endIds ?? []) if (e < 0 || e >= lm.vocabSize) throw new Error(`end id ${e} outside the vocabulary`);
  if (o.noRepeatNgramSize !== undefined && !(Number.isInteger(o.noRepeatNgramSize) && o.noRepeatNgramSize >= 1)) throw new Error(`noRepeatNgramSize must be a positive integer, got ${o.noRepeatNgramSize}`);
}

function endsWith(seq: number[], stop: number[]): boolean {
  if (stop.length === 0 || seq.length < stop.length) return false;
  for (let i = 0; i < stop.length; i++) if (seq[seq.length - stop.length + i] !== stop[i]) return false;
  return true;
}

function isFinished(generated: number[], o: LengthOptions): boolean {
  const last = generated[generated.length - 1];
  if (last !== undefined && o.endIds?.includes(last)) return true;
  return (o.stopSequences ?? []).some((s) => endsWith(generated, s));
}

/** The constraints on a row's next token: no end before minNewTokens, no repeated n-gram. */
function constrain(logits: Float32Array, offset: number, o: LengthOptions, generated: readonly number[]): void {
  if (generated.length < (o.minNewTokens ?? 0)) for (const e of o.endIds ?? []) logits[offset + e] = -Infinity;
  if (o.noRepeatNgramSize !== undefined) banRepeatedNgrams(logits, offset, o.noRepeatNgramSize, generated);
}

/**
 * Sets to -Infinity, in logits[offset, offset + V), every token that would complete an n-gram
 * already in `generated`: each earlier n-gram whose first n - 1 tokens equal the last n - 1 bans
 * its last token (LengthOptions.noRepeatNgramSize; also the model server's no_repeat_ngram_size).
 */
export function banRepeatedNgrams(logits: Float32Array, offset: number, n: number, generated: readonly number[]): void {
  if (generated.length < n - 1) return;
  const start = generated.length - (n - 1);
  for (let i = 0; i + n - 1 < generated.length; i++) {
    let same = true;
    for (let j = 0; j < n - 1 && same; j++) same = generated[i + j] === generated[start + j];
    if (same) logits[offset + generated[i + n - 1]!] = -Infinity;
  }
}

/** log softmax of logits[offset, offset + V) in float64, into `out` (a new array if not given). */
export function logSoftmaxRow(logits: Float32Array, offset: number, V: number, out = new Float64Array(V)): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]!);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v]! - max);
  const lse = max + Math.log(sum);
  for (let v = 0; v < V; v++) out[v] = logits[offset + v]! - lse;
  return out;
}

/**
 * Token-by-token generation with a per-step chooser; yields each step's tokens (one per row).
 * Shared by greedy, sampling and streaming, and by the model server's batched completions (where
 * each row chooses by its own request's options, and a row is ended by choosing an end id).
 */
export async function* runSteps(
  lm: IncrementalLM,
  prompts: number[][],
  o: LengthOptions,
  choose: (logits: Float32Array, row: number, generated: number[]) => number,
): AsyncGenerator<{ row: number; token: number }[]> {
  checkPrompts(lm, prompts, o);
  const V = lm.vocabSize;
  const start = Rows.fromPrompts(prompts);
  let rows = start.rows;
  let state: DecoderState = lm.initialState(prompts.length);
  const identity = prompts.map((_, i) => i);
  let { logits, state: s } = await lm.step({ ids: start.ids, positions: start.positions, attentionMask: rows.mask, cacheIndex: identity }, state);
  state = s;
  const generated: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  for (let t = 0; t < o.maxNewTokens; t++) {
    const tokens: { row: number; token: number }[] = [];
    const next: number[] = [];
    for (let r = 0; r < prompts.length; r++) {
      if (done[r]) { next.push(0); continue; }
      constrain(logits, r * V, o, generated[r]!);
      const tok = choose(logits, r, generated[r]!);
      generated[r]!.push(tok);
      tokens.push({ row: r, token: tok });
      next.push(tok);
      if (isFinished(generated[r]!, o)) done[r] = true;
    }
    yield tokens;
    if (done.every(Boolean) || t === o.maxNewTokens - 1) return;
    const adv = rows.advance(identity);
    rows = adv.rows;
    ({ logits, state } = await lm.step({ ids: next.map((x) => [x]), positions: adv.positions, attentionMask: rows.mask, cacheIndex: identity }, state));
  }
}

async function collect(steps: AsyncGenerator<{ row: number; token: number }[]>, n: number): Promise<number[][]> {
  const out: number[][] = Array.from({ length: n }, () => []);
  for await (const tokens of steps) for (const { row, token } of tokens) out[row]!.push(token);
  return out;
}

function argmax(logits: Float32Array, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[offset + v]! > logits[offset + best]!) best = v;
  return best;
}

/** Greedy decoding; returns the generated tokens of each prompt. */
export function greedy(lm: IncrementalLM, prompts: number[][], o: LengthOptions): Promise<number[][]> {
  const V = lm.vocabSize;
  return collect(runSteps(lm, prompts, o, (logits, r) => argmax(logits, r * V, V)), prompts.length);
}

/** Sampling options out of their domain are refused up front, naming the option (no silent clamping). */
function checkSampling(o: SampleOptions): void {
  const bad = (name: string, rule: string, v: unknown) => { throw new RangeError(`${name} must be ${rule}, got ${v}`); };
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', 'in (0, 1]', o.topP);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) bad('topK', 'a non-negative integer (0 = no limit)', o.topK);
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) bad('temperature', 'a finite number > 0', o.temperature);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) bad('repetitionPenalty', 'a finite number > 0', o.repetitionPenalty);
  if (o.n !== undefined && !(Number.isInteger(o.n) && o.n >= 1)) bad('n', 'a positive integer', o.n);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) bad('seed', 'an integer', o.seed);
}

/** Random sampling; returns `n` samples per prompt, prompt-major. Reproducible for a given seed. */
export async function sample(lm: IncrementalLM, prompts: number[][], o: SampleOptions): Promise<number[][]> {
  checkSampling(o);
  const n = o.n ?? 1;
  const expanded = prompts.flatMap((p) => Array.from({ length: n }, () => p));
  const rng = new Random(o.seed ?? 0);
  const V = lm.vocabSize;
  return collect(runSteps(lm, expanded, o, (logits, r, generated) => sampleToken(logits, r * V, V, o, rng, expanded[r]!, generated)), expanded.length);
}

/** Stream the tokens of one prompt as they are produced. */
export async function* stream(lm: IncrementalLM, prompt: number[], o: SampleOptions & { strategy?: 'greedy' | 'sample' }): AsyncGenerator<number> {
  const V = lm.vocabSize;
  if (o.strategy === 'sample') checkSampling(o);
  const rng = new Random(o.seed ?? 0);
  const choose = o.strategy === 'sample'
    ? (logits: Float32Array, r: number, g: number[]) => sampleToken(logits, r * V, V, o, rng, prompt, g)
    : (logits: Float32Array, r: number) => argmax(logits, r * V, V);
  for await (const tokens of runSteps(lm, [prompt], o, choose)) for (const t of tokens) yield t.token;
}

/**
 * Beam search, batched over prompts and beams (rows = prompts x beams; the decoder reorders its
 * state's rows by cacheIndex). Returns the nBest hypotheses per prompt, best first.
 */
export async function beamSearch(lm: IncrementalLM, prompts: number[][], o: BeamOptions): Promise<Hypothesis[][]> {
  checkPrompts(lm, prompts, o);
  const K = o.beamSize, V = lm.vocabSize, B = prompts.length;
  if (!Number.isInteger(K) || K < 1) throw new Error(`beamSize must be a positive integer, got ${K}`);
  const nBest = Math.min(o.nBest ?? 1, K);
  const lp = o.lengthPenalty ?? 0;
  const norm = (logProb: number, len: number) => logProb / Math.max(1, len) ** lp;
  const start = Rows.fromPrompts(prompts);
  let rows = start.rows;
  let state = lm.initialState(B);
  let { logits, state: st } = await lm.step({ ids: start.ids, positions: start.positions, attentionMask: rows.mask, cacheIndex: prompts.map((_, i) => i) }, state);
  state = st;
  // Live beams per prompt: [source row, tokens, logProb]. Initially one beam per prompt (its prompt row).
  let beams: { row: number; ids: number[]; logProb: number }[][] = prompts.map((_, b) => [{ row: b, ids: [], logProb: 0 }]);
  const finished: Hypothesis[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const lsm = new Float64Array(V);
  for (let t = 0; t < o.maxNewTokens; t++) {
    const nextBeams: typeof beams = [];
    for (let b = 0; b < B; b++) {
      if (done[b]) { nextBeams.push([]); continue; }
      const cands: { row: number; ids: number[]; logProb: number; token: number }[] = [];
      for (const beam of beams[b]!) {
        constrain(logits, beam.row * V, o, beam.ids);
        logSoftmaxRow(logits, beam.row * V, V, lsm);
        // Only the 2K best tokens of each beam can be among the 2K best candidates overall.
        const top = topIndices(lsm, 2 * K);
        for (const v of top) if (lsm[v]! > -Infinity) cands.push({ row: beam.row, ids: beam.ids, logProb: beam.logProb + lsm[v]!, token: v });
      }
      cands.sort((x, y) => y.logProb - x.logProb);
      const live: typeof beams[number] = [];
      for (const c of cands) {
        const ids = [...c.ids, c.token];
        if (isFinished(ids, o)) finished[b]!.push({ ids, logProb: c.logProb, score: norm(c.logProb, ids.length) });
        else live.push({ row: c.row, ids, logProb: c.logProb });
        if (live.length === K) break;
      }
      // Done when K hypotheses are finished and no live beam can still beat the worst of them
      // (log-probabilities only fall, so the live beam's current normalized score bounds it when lp <= 1).
      const f = finished[b]!.sort((x, y) => y.score - x.score);
      if (f.length >= K && live.length && lp <= 1 && norm(live[0]!.logProb, live[0]!.ids.length) <= f[K - 1]!.score) done[b] = true;
      if (live.length === 0) done[b] = true;
      nextBeams.push(done[b] ? [] : live);
    }
    beams = nextBeams;
    if (done.every(Boolean) || t === o.maxNewTokens - 1) break;
    // Rows of the next step: every live beam, continuing its source row.
    const source: number[] = [], ids: number[][] = [];
    beams = beams.map((bs) => bs.map((beam) => {
      source.push(beam.row);
      ids.push([beam.ids[beam.ids.length - 1]!]);
      return { ...beam, row: source.length - 1 };
    }));
    if (source.length === 0) break;
    const adv = rows.advance(source);
    rows = adv.rows;
    ({ logits, state } = await lm.step({ ids, positions: adv.positions, attentionMask: rows.mask, cacheIndex: source }, state));
  }
  return prompts.map((_, b) => {
    const all = [...finished[b]!, ...beams[b]!.map((x) => ({ ids: x.ids, logProb: x.logProb, score: norm(x.logProb, x.ids.length) }))];
    return all.sort((x, y) => y.score - x.score).slice(0, nBest);
  });
}

function topIndices(values: Float64Array, k: number): number[] {
  if (k >= values.length) return Array.from({ length: values.length }, (_, i) => i);
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (idx.length < k) { idx.push(i); if (idx.length === k) idx.sort((a, b) => values[b]! - values[a]!); continue; }
    if (values[i]! > values[idx[k - 1]!]!) {
      let j = k - 1;
      while (j > 0 && values[idx[j - 1]!]! < values[i]!) { idx[j] = idx[j - 1]!; j--; }
      idx[j] = i;
    }
  }
  if (idx.length < k) idx.sort((a, b) => values[b]! - values[a]!);
  return idx;
}

/** bert4keras-style front end: start/end ids and length limits fixed once, strategies as methods. */
export class AutoRegressiveDecoder {
  constructor(readonly lm: IncrementalLM, readonly o: { startId?: number; endId?: number | number[]; maxlen: number; minlen?: number }) {}
  private opts(): LengthOptions {
    const end = this.o.endId === undefined ? [] : Array.isArray(this.o.endId) ? this.o.endId : [this.o.endId];
    return { maxNewTokens: this.o.maxlen, minNewTokens: this.o.minlen, endIds: end };
  }
  private prompt(p: number[]): number[] {
    return this.o.startId !== undefined ? [this.o.startId, ...p] : p;
  }
  async beamSearch(inputs: number[][], topk: number): Promise<number[][]> {
    return (await beamSearch(this.lm, inputs.map((p) => this.prompt(p)), { ...this.opts(), beamSize: topk })).map((h) => h[0]!.ids);
  }
  randomSample(inputs: number[][], n: number, topk?: number, topp?: number, seed = 0): Promise<number[][]> {
    return sample(this.lm, inputs.map((p) => this.prompt(p)), { ...this.opts(), n, topK: topk, topP: topp, seed });
  }
  greedy(inputs: number[][]): Promise<number[][]> {
    return greedy(this.lm, inputs.map((p) => this.prompt(p)), this.opts());
  }
}
