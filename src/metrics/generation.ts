/**
 * ROUGE and BLEU for generated text, computed exactly as bert4keras's seq2seq examples compute them
 * (task_seq2seq_autotitle_csl.py): characters joined by spaces, then
 *   rouge.Rouge().get_scores(hyps=pred, refs=ref)            (PyPI `rouge` 1.0.1, pltrdy/rouge)
 *   sentence_bleu([ref.split(' ')], pred.split(' '), smoothing_function=SmoothingFunction().method1)
 *                                                             (nltk.translate.bleu_score)
 * The `rouge` package's rules are kept, quirks included: text is split into sentences at every '.',
 * whitespace runs collapse, n-grams and LCS tokens are counted as SETS (each distinct n-gram once;
 * ROUGE-L counts distinct tokens of the LCS over distinct tokens of each side), and F is
 * 2PR / (P + R + 1e-8).
 */
import { MetricError } from './classification.ts';

export interface RougeScore {
  f: number;
  p: number;
  r: number;
}

export interface RougeScores {
  'rouge-1': RougeScore;
  'rouge-2': RougeScore;
  'rouge-l': RougeScore;
}

// Python's str.split() separators (str.isspace); JS's \s differs (it has U+FEFF, lacks U+001C-U+001F, U+0085).
const PY_SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

const pySplit = (s: string) => s.split(PY_SPACE).filter((w) => w.length > 0);

/** rouge's sentence split: at '.', empty pieces dropped, whitespace runs collapsed to one space. */
const sentences = (text: string) => text.split('.').filter((s) => s.length > 0).map((s) => pySplit(s).join(' '));

/** Words of sentences as rouge's _split_into_words (split on single spaces, so '' can be a word). */
const wordsOf = (ss: string[]) => ss.flatMap((s) => s.split(' '));

/** n-gram counts; words never contain ' ', so joining with ' ' keys them uniquely. Exclusive: each once. */
function ngrams(words: string[], n: number, exclusive: boolean): Map<string, number> {
  const c = new Map<string, number>();
  for (let i = 0; i + n <= words.length; i++) {
    const k = words.slice(i, i + n).join(' ');
    c.set(k, exclusive ? 1 : (c.get(k) ?? 0) + 1);
  }
  return c;
}

const size = (c: Map<string, number>) => [...c.values()].reduce((a, b) => a + b, 0);
const fScore = (p: number, r: number) => 2.0 * ((p * r) / (p + r + 1e-8));

function rougeN(hyp: string[], ref: string[], n: number, exclusive: boolean): RougeScore {
  const h = ngrams(wordsOf(hyp), n, exclusive), r = ngrams(wordsOf(ref), n, exclusive);
  let overlap = 0;
  for (const [g, c] of h) overlap += Math.min(c, r.get(g) ?? 0);
  const hs = size(h), rs = size(r);
  const p = hs ? overlap / hs : 0, rc = rs ? overlap / rs : 0;
  return { f: fScore(p, rc), p, r: rc };
}

/** Tokens of one LCS of x and y, reconstructed with rouge's tie-break (prefer dropping from y). */
function lcsTokens(x: string[], y: string[]): string[] {
  const w = y.length + 1;
  const table = new Uint32Array((x.length + 1) * w);
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      table[i * w + j] = x[i - 1] === y[j - 1] ? table[(i - 1) * w + j - 1]! + 1 : Math.max(table[(i - 1) * w + j]!, table[i * w + j - 1]!);
    }
  }
  const out: string[] = [];
  for (let i = x.length, j = y.length; i > 0 && j > 0;) {
    if (x[i - 1] === y[j - 1]) out.push(x[--i]!), j--;
    else if (table[(i - 1) * w + j]! > table[i * w + j - 1]!) i--;
    else j--;
  }
  return out;
}

/** Summary-level ROUGE-L: the union of the LCS of every (reference, hypothesis) sentence pair. */
function rougeL(hyp: string[], ref: string[], exclusive: boolean): RougeScore {
  const count = (words: string[]) => (exclusive ? new Set(words).size : words.length);
  const m = count(wordsOf(ref)), n = count(wordsOf(hyp));
  const union: string[] = [];
  for (const r of ref) for (const h of hyp) union.push(...lcsTokens(r.split(' '), h.split(' ')));
  const llcs = count(union);
  const rc = llcs / m, p = llcs / n;
  return { f: fScore(p, rc), p, r: rc };
}

export interface RougeOptions {
  /**
   * Count each distinct n-gram (and LCS token) once: `rouge` 1.0.1's default. false counts repeats,
   * as `Rouge(exclusive=False)`; `rouge` 1.0.0 counted repeats for ROUGE-N but not for ROUGE-L.
   */
  exclusive?: boolean;
}

/**
 * `Rouge().get_scores(hyp, ref)[0]` of the `rouge` package for one pair of space-separated texts.
 * Throws a MetricError when either side has no sentence (where `rouge` raises ValueError).
 */
export function rouge(hypothesis: string, reference: string, options: RougeOptions = {}): RougeScores {
  const exclusive = options.exclusive ?? true;
  const hyp = sentences(hypothesis), ref = sentences(reference);
  if (!hyp.length) throw new MetricError('rouge', `the hypothesis ${JSON.stringify(hypothesis.slice(0, 40))} is empty`);
  if (!ref.length) throw new MetricError('rouge', `the reference ${JSON.stringify(reference.slice(0, 40))} is empty`);
  return { 'rouge-1': rougeN(hyp, ref, 1, exclusive), 'rouge-2': rougeN(hyp, ref, 2, exclusive), 'rouge-l': rougeL(hyp, ref, exclusive) };
}

/** Python's math.fsum (Shewchuk's exact partials, rounded as CPython does), so BLEU matches nltk's bits. */
export function fsum(xs: Iterable<number>): number {
  const partials: number[] = [];
  for (let x of xs) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y, lo = y - (hi - x);
      if (lo) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length;
  if (!n) return 0;
  let hi = partials[--n]!, lo = 0;
  while (n > 0) {
    const x = hi, y = partials[--n]!;
    hi = x + y;
    lo = y - (hi - x);
    if (lo) break;
  }
  // Round half to even across the remaining partials, as CPython's fsum does.
  if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2, x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

export interface BleuOptions {
  /** n-gram weights; default (0.25, 0.25, 0.25, 0.25). */
  weights?: readonly number[];
  /** 'method1' (the examples' choice: add 0.1 to zero counts) or 'none' (nltk's method0). Default 'method1'. */
  smoothing?: 'method1' | 'none';
}

function counts(tokens: readonly string[], n: number): Map<string, number> {
  const c = new Map<string, number>();
  // JSON keys: tokens are arbitrary strings here (nltk compares tuples).
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = JSON.stringify(tokens.slice(i, i + n));
    c.set(k, (c.get(k) ?? 0) + 1);
  }
  return c;
}

/** nltk's `sentence_bleu(references, hypothesis, weights, smoothing_function)` (nltk 3.8). */
export function sentenceBleu(references: readonly (readonly string[])[], hypothesis: readonly string[], options: BleuOptions = {}): number {
  const weights = options.weights ?? [0.25, 0.25, 0.25, 0.25];
  if (!Array.isArray(references) || !references.length) throw new MetricError('bleu', 'needs at least one reference');
  if (!Array.isArray(hypothesis)) throw new MetricError('bleu', 'the hypothesis must be an array of tokens');
  const precisions: [number, number][] = weights.map((_, k) => {
    // modified_precision: clipped n-gram matches over max(1, hypothesis n-grams).
    const hyp = counts(hypothesis, k + 1);
    const refs = references.map((r) => counts(r, k + 1));
    let num = 0, den = 0;
    for (const [g, c] of hyp) {
      num += Math.min(c, Math.max(0, ...refs.map((r) => r.get(g) ?? 0)));
      den += c;
    }
    return [num, Math.max(1, den)];
  });
  const hypLen = hypothesis.length;
  // closest_ref_length: nearest length, the shorter on a tie.
  const refLen = references.map((r) => r.length).reduce((a, b) => (Math.abs(b - hypLen) < Math.abs(a - hypLen) || (Math.abs(b - hypLen) === Math.abs(a - hypLen) && b < a) ? b : a));
  const bp = hypLen > refLen ? 1 : hypLen === 0 ? 0 : Math.exp(1 - refLen / hypLen);
  if (precisions[0]![0] === 0) return 0;
  const smoothed = precisions.map(([num, den]) => (num ? num / den : options.smoothing === 'none' ? 2.2250738585072014e-308 : (num + 0.1) / den));
  return bp * Math.exp(fsum(weights.map((w, k) => w * Math.log(smoothed[k]!))));
}

export interface GenerationScores {
  'rouge-1': number;
  'rouge-2': number;
  'rouge-l': number;
  bleu: number;
}

/** Python's `' '.join(text)`: code points joined by single spaces. */
const spaced = (text: string) => [...text].join(' ');

/**
 * Character-level ROUGE-1/2/L F and BLEU of one generated text against its reference, exactly as
 * bert4keras's autotitle example scores a pair; all 0 when the prediction is blank (the example
 * skips it, which counts 0 in the mean).
 */
export function charScores(prediction: string, reference: string): GenerationScores {
  const pred = spaced(prediction), ref = spaced(reference);
  if (!pySplit(pred).length) return { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0, bleu: 0 };
  const r = rouge(pred, ref);
  return {
    'rouge-1': r['rouge-1'].f, 'rouge-2': r['rouge-2'].f, 'rouge-l': r['rouge-l'].f,
    bleu: sentenceBleu([ref.split(' ')], pred.split(' ')),
  };
}

/** Mean of `charScores` over pairs (the example's `evaluate`). */
export function generationScores(predictions: readonly string[], references: readonly string[]): GenerationScores {
  if (predictions.length !== references.length) throw new MetricError('generationScores', `${predictions.length} predictions but ${references.length} references`);
  if (!predictions.length) throw new MetricError('generationScores', 'no pairs to score');
  const sum: GenerationScores = { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0, bleu: 0 };
  predictions.forEach((p, i) => {
    const s = charScores(p, references[i]!);
    for (const k of Object.keys(sum) as (keyof GenerationScores)[]) sum[k] += s[k];
  });
  for (const k of Object.keys(sum) as (keyof GenerationScores)[]) sum[k] /= predictions.length;
  return sum;
}
