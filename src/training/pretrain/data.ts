/**
 * MLM data: a vocabulary trimmed by corpus character counts, documents tokenized with jieba word
 * boundaries (for whole-word masking, as Chinese BERT-wwm), packing into fixed-length rows and
 * dynamic masking. Every batch is a pure function of (seed, step), so a resumed run sees exactly the
 * batches it would have seen.
 *
 *   packing:  [CLS] doc1 [SEP] doc2 [SEP] doc3 ... cut every maxlen - 1 tokens, [CLS] in front of each row;
 *             documents are shuffled per epoch; the last row of an epoch is padded.
 *   masking:  15% of a row's text tokens (not [CLS]/[SEP]/[PAD]), chosen a whole jieba word at a time;
 *             each chosen token becomes [MASK] (80%), a random token (10%) or stays (10%).
 */
import { Random } from '../../util/random.ts';
import type { Segmenter } from '../../tokenizers/cpm.ts';
import { trimTokenizer } from '../../tokenizers/keepTokens.ts';
import { TokenizerError, type Tokenizer } from '../../tokenizers/types.ts';
import { WordPieceTokenizer } from '../../tokenizers/wordpiece.ts';
import type { HostTensor } from '../../graph/dtype.ts';

// ---- vocabulary -------------------------------------------------------------------------------

/** The text as a lowercasing (accent-stripping) WordPiece tokenizer sees it. */
function normalized(text: string, lowercase: boolean): string {
  return lowercase ? text.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '') : text;
}

/** Code point counts of the texts (normalized as `lowercase` tokenizers do). */
export function charCounts(texts: Iterable<string>, lowercase = true): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of texts) for (const ch of normalized(t, lowercase)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  return counts;
}

/**
 * Original ids to keep: the special tokens; single-character tokens (also `##x`) whose character
 * occurs at least `minCount` times in the text; and longer tokens (English words, `##ing`, numbers)
 * that the full vocabulary produces at least `minCount` times (`tokenCounts`, by original id) —
 * counting their characters alone would keep every ASCII word of the vocab. Bracketed non-special
 * tokens ([unused1]) are dropped.
 */
export function keepTokensByCount(tokenizer: WordPieceTokenizer, chars: Map<string, number>, tokenCounts: ArrayLike<number>, minCount: number): number[] {
  const specials = new Set(Object.values(tokenizer.specialTokens).map((t) => t!.id));
  const keep: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const token = tokenizer.idToToken(id);
    if (specials.has(id)) { keep.push(id); continue; }
    if (/^\[.*\]$/.test(token)) continue;
    const body = [...(token.startsWith(tokenizer.continuingPrefix) ? token.slice(tokenizer.continuingPrefix.length) : token)];
    const n = body.length === 1 ? (chars.get(body[0]!) ?? 0) : tokenCounts[id] ?? 0;
    if (body.length && n >= minCount) keep.push(id);
  }
  return keep;
}

/** A WordPiece tokenizer trimmed to the tokens of `texts` (see keepTokensByCount); `keepTokens` holds the original ids. */
export function trimVocabulary(tokenizer: Tokenizer, texts: readonly string[], minCount: number): Tokenizer {
  if (!(tokenizer instanceof WordPieceTokenizer)) throw new TokenizerError(`pretraining vocabularies are trimmed from a WordPiece vocab.txt, got a ${tokenizer.kind} tokenizer`);
  const tokenCounts = new Int32Array(tokenizer.vocabSize);
  for (const t of texts) for (const id of tokenizer.encode(t, undefined, { addSpecialTokens: false }).ids) tokenCounts[id]!++;
  return trimTokenizer(tokenizer, keepTokensByCount(tokenizer, charCounts(texts, tokenizer.lowercase), tokenCounts, minCount));
}

// ---- tokenization -----------------------------------------------------------------------------

/** Documents as one token stream: document d is ids[offsets[d] .. offsets[d + 1]). */
export interface TokenizedDocs {
  ids: Int32Array;
  /** 1 where a token begins a jieba word (whole-word masking takes a word's tokens together). */
  wordStart: Uint8Array;
  offsets: Int32Array;
}

/**
 * Tokenizes documents and marks word starts: a token begins a word when its first character begins
 * a jieba word, unless it is a `##` continuation (a WordPiece word is never split).
 */
export function tokenizeDocuments(tokenizer: Tokenizer, segment: Segmenter, texts: readonly string[]): TokenizedDocs {
  const ids: number[] = [];
  const starts: number[] = [];
  const offsets = new Int32Array(texts.length + 1);
  const prefix = tokenizer instanceof WordPieceTokenizer ? tokenizer.continuingPrefix : '##';
  texts.forEach((text, d) => {
    const enc = tokenizer.encode(text, undefined, { addSpecialTokens: false });
    const wordStarts = new Set<number>();
    let at = 0;
    for (const w of segment(text)) { wordStarts.add(at); at += w.length; }
    let prevStart = -1;
    enc.ids.forEach((id, i) => {
      const [s] = enc.offsets[i]!;
      ids.push(id);
      // A token begins a word if a word starts at or before it but after the previous token began.
      let start = i === 0 ? 1 : 0;
      if (!start && !enc.tokens[i]!.startsWith(prefix)) for (let p = s; p > prevStart; p--) if (wordStarts.has(p)) { start = 1; break; }
      starts.push(start);
      prevStart = s;
    });
    offsets[d + 1] = ids.length;
  });
  return { ids: Int32Array.from(ids), wordStart: Uint8Array.from(starts), offsets };
}

// ---- packing ----------------------------------------------------------------------------------

export interface SpecialIds { cls: number; sep: number; pad: number; mask: number }

export interface PackedRows {
  maxlen: number;
  rows: number;
  /** rows * maxlen ids. */
  ids: Int32Array;
  /** 1 where a text token begins a word (never for [CLS], [SEP], [PAD]). */
  wordStart: Uint8Array;
  /** 1 for text tokens (the maskable ones). */
  maskable: Uint8Array;
  /** Real tokens per row (the rest is [PAD]). */
  lengths: Int32Array;
}

/** Documents in `order`, concatenated with [SEP] after each, cut into rows of `maxlen` that start with [CLS]. */
export function packRows(docs: TokenizedDocs, order: ArrayLike<number>, maxlen: number, sp: SpecialIds): PackedRows {
  if (!Number.isInteger(maxlen) || maxlen < 2) throw new RangeError(`maxlen must be an integer >= 2, got ${maxlen}`);
  let total = 0;
  for (let k = 0; k < order.length; k++) total += docs.offsets[order[k]! + 1]! - docs.offsets[order[k]!]! + 1;
  const width = maxlen - 1;
  const rows = Math.max(1, Math.ceil(total / width));
  const ids = new Int32Array(rows * maxlen).fill(sp.pad);
  const wordStart = new Uint8Array(rows * maxlen);
  const maskable = new Uint8Array(rows * maxlen);
  const lengths = new Int32Array(rows);
  let n = 0; // stream position
  const put = (id: number, start: number, text: boolean) => {
    const r = Math.floor(n / width);
    const at = r * maxlen + 1 + (n % width);
    ids[at] = id;
    // A word cut by a row boundary starts afresh in the next row.
    wordStart[at] = text && (start || n % width === 0) ? 1 : 0;
    maskable[at] = text ? 1 : 0;
    n++;
  };
  for (let k = 0; k < order.length; k++) {
    const d = order[k]!;
    for (let t = docs.offsets[d]!; t < docs.offsets[d + 1]!; t++) put(docs.ids[t]!, docs.wordStart[t]!, true);
    put(sp.sep, 0, false);
  }
  for (let r = 0; r < rows; r++) {
    ids[r * maxlen] = sp.cls;
    lengths[r] = 1 + Math.min(width, Math.max(0, n - r * width));
  }
  return { maxlen, rows, ids, wordStart, maskable, lengths };
}

/** A seeded permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Random): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

// ---- masking ----------------------------------------------------------------------------------

export interface MaskOptions {
  /** Share of a row's text tokens to predict (0.15). */
  rate: number;
  /** Most predictions per row (the gathered head's width). */
  maxPredictions: number;
  maskId: number;
  /** Ids a token may be replaced with (the non-special vocabulary). */
  randomIds: Int32Array;
  /** Whole-word masking (default true); false masks single tokens. */
  wholeWord?: boolean;
}

export interface MaskedRow {
  input: Int32Array;
  /** Predicted positions (ascending) and their original ids. */
  positions: number[];
  labels: number[];
}

/**
 * Masks one row (Google's create_pretraining_data): shuffle the words, take whole words while they
 * fit in round(rate * text tokens), then [MASK] 80% / random 10% / unchanged 10% per token.
 */
export function maskRow(ids: Int32Array, wordStart: Uint8Array, maskable: Uint8Array, rng: Random, o: MaskOptions): MaskedRow {
  const words: [number, number][] = [];
  let text = 0;
  for (let t = 0; t < ids.length; t++) {
    if (!maskable[t]) continue;
    text++;
    const last = words[words.length - 1];
    if (last && last[1] === t && !(o.wholeWord === false || wordStart[t])) last[1] = t + 1;
    else words.push([t, t + 1]);
  }
  const want = Math.min(o.maxPredictions, Math.max(1, Math.round(text * o.rate)));
  for (let i = words.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [words[i], words[j]] = [words[j]!, words[i]!];
  }
  const chosen: number[] = [];
  for (const [s, e] of words) {
    if (chosen.length >= want) break;
    if (chosen.length + e - s > want) continue;
    for (let t = s; t < e; t++) chosen.push(t);
  }
  chosen.sort((a, b) => a - b);
  const input = ids.slice();
  const labels: number[] = [];
  for (const t of chosen) {
    labels.push(ids[t]!);
    const r = rng.next();
    if (r < 0.8) input[t] = o.maskId;
    else if (r >= 0.9) input[t] = o.randomIds[rng.int(o.randomIds.length)]!;
  }
  return { input, positions: chosen, labels };
}

/** Ids that are not special tokens (random replacements are drawn from these). */
export function nonSpecialIds(tokenizer: Tokenizer): Int32Array {
  const specials = new Set(Object.values(tokenizer.specialTokens).map((t) => t!.id));
  const out: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) if (!specials.has(id)) out.push(id);
  return Int32Array.from(out);
}

export function specialIds(tokenizer: Tokenizer): SpecialIds {
  const s = tokenizer.specialTokens;
  if (!s.cls || !s.sep || !s.pad || !s.mask) throw new TokenizerError('MLM pretraining needs [CLS], [SEP], [PAD] and [MASK] tokens');
  return { cls: s.cls.id, sep: s.sep.id, pad: s.pad.id, mask: s.mask.id };
}

// ---- batches ----------------------------------------------------------------------------------

const i64 = (shape: number[], values: ArrayLike<number>): HostTensor => {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return { dtype: 'int64', shape, data };
};

/** Row seeds: each (seed, epoch, row) masks differently, and identically on every run. */
export function rowSeed(seed: number, epoch: number, row: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [epoch, row]) h = Math.imul(h ^ v, 0x85ebca6b) ^ (Math.imul(h ^ v, 0x85ebca6b) >>> 13);
  return h >>> 0;
}

/**
 * Feeds for rows of a packing: input_ids, attention_mask, token_type_ids (zeros) and the gathered
 * MLM targets: mlm_positions [B * P] (flat b * T + t; padding points at 0) and mlm_labels [B * P]
 * (-100 on padding). `labels` [B, T] (-100 where not predicted) is added for the plain MLM loss.
 */
export function maskedBatch(packed: PackedRows, rows: number[], seeds: number[], o: MaskOptions, extra: { dense?: boolean; tokenTypes?: boolean } = {}): Record<string, HostTensor> {
  const T = packed.maxlen, B = rows.length, P = o.maxPredictions;
  const ids = new Int32Array(B * T), mask = new Int32Array(B * T), positions = new Int32Array(B * P), labels = new Int32Array(B * P).fill(-100);
  const dense = extra.dense ? new Int32Array(B * T).fill(-100) : null;
  rows.forEach((r, b) => {
    const at = r * T;
    const m = maskRow(packed.ids.subarray(at, at + T), packed.wordStart.subarray(at, at + T), packed.maskable.subarray(at, at + T), new Random(seeds[b]!), o);
    ids.set(m.input, b * T);
    mask.fill(1, b * T, b * T + packed.lengths[r]!);
    m.positions.forEach((t, k) => {
      positions[b * P + k] = b * T + t;
      labels[b * P + k] = m.labels[k]!;
      if (dense) dense[b * T + t] = m.labels[k]!;
    });
  });
  const feeds: Record<string, HostTensor> = {
    input_ids: i64([B, T], ids), attention_mask: i64([B, T], mask),
    mlm_positions: i64([B * P], positions), mlm_labels: i64([B * P], labels),
  };
  if (extra.tokenTypes !== false) feeds.token_type_ids = i64([B, T], new Int32Array(B * T));
  if (dense) feeds.labels = i64([B, T], dense);
  return feeds;
}

/**
 * The training stream: epoch e packs the documents in a seeded order; global row g = step * B + i
 * lies in epoch floor(g / rowsPerEpoch) (every epoch has the same number of rows).
 */
export class PretrainStream {
  readonly rowsPerEpoch: number;
  private cached: { epoch: number; packed: PackedRows } | null = null;
  constructor(readonly docs: TokenizedDocs, readonly sp: SpecialIds, readonly o: MaskOptions & { maxlen: number; batchSize: number; seed: number }) {
    this.rowsPerEpoch = this.epoch(0).rows;
  }

  private epoch(e: number): PackedRows {
    if (this.cached?.epoch !== e) {
      const n = this.docs.offsets.length - 1;
      this.cached = { epoch: e, packed: packRows(this.docs, permutation(n, new Random(rowSeed(this.o.seed, e, 0x7fffffff))), this.o.maxlen, this.sp) };
    }
    return this.cached.packed;
  }

  /** Where step `step` starts: epoch and row within it. */
  position(step: number): { epoch: number; row: number } {
    const g = step * this.o.batchSize;
    return { epoch: Math.floor(g / this.rowsPerEpoch), row: g % this.rowsPerEpoch };
  }

  batchAt(step: number, extra: { dense?: boolean; tokenTypes?: boolean } = {}): Record<string, HostTensor> {
    const B = this.o.batchSize;
    // Rows of one batch may straddle two epochs: group them by epoch.
    const parts: { epoch: number; rows: number[]; seeds: number[] }[] = [];
    for (let i = 0; i < B; i++) {
      const g = step * B + i;
      const epoch = Math.floor(g / this.rowsPerEpoch), row = g % this.rowsPerEpoch;
      let part = parts[parts.length - 1];
      if (!part || part.epoch !== epoch) parts.push((part = { epoch, rows: [], seeds: [] }));
      part.rows.push(row);
      part.seeds.push(rowSeed(this.o.seed, epoch, row));
    }
    if (parts.length === 1) return maskedBatch(this.epoch(parts[0]!.epoch), parts[0]!.rows, parts[0]!.seeds, this.o, extra);
    const batches = parts.map((p) => maskedBatch(this.epoch(p.epoch), p.rows, p.seeds, this.o, extra));
    return concatBatches(batches, this.o.maxlen, this.o.maxPredictions);
  }
}

/** Row-wise concatenation of maskedBatch outputs (mlm_positions re-based to the joined rows). */
export function concatBatches(batches: Record<string, HostTensor>[], T: number, P: number): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const name of Object.keys(batches[0]!)) {
    const total = batches.reduce((n, b) => n + b[name]!.data.length, 0);
    const data = new BigInt64Array(total);
    let at = 0, rowsBefore = 0;
    for (const b of batches) {
      const src = b[name]!.data as BigInt64Array;
      if (name === 'mlm_positions') for (let i = 0; i < src.length; i++) data[at + i] = src[i]! + BigInt(rowsBefore * T);
      else data.set(src, at);
      at += src.length;
      rowsBefore += b.input_ids!.shape[0]!;
    }
    const shape = name.startsWith('mlm_') ? [rowsBefore * P] : [rowsBefore, T];
    out[name] = { dtype: 'int64', shape, data };
  }
  return out;
}
