/**
 * WordPiece as in google-research/bert `tokenization.py` (BERT, RoBERTa-zh, ELECTRA, Chinese
 * ALBERT vocabularies), with offsets:
 *   normalizer + pre-tokenizer (BasicTokenizer): drop NUL, U+FFFD and control characters; split on
 *     whitespace; every CJK ideograph is its own word; optionally lower-case and strip accents
 *     (NFD, drop marks); every punctuation character is its own word.
 *   model: greedy longest-match-first with the `##` continuation prefix; a word with no match or
 *     longer than `maxCharsPerWord` becomes [UNK].
 * Work is per original character, so every normalized character keeps the span of the character
 * it came from, and a piece's offsets are the span of its first to last character.
 */
import { BaseTokenizer, cpsToString, type Pieces } from './base.ts';
import { TokenizerError, type DecodeOptions, type SpecialName, type SpecialToken } from './types.ts';

export interface WordPieceOptions {
  /** Lower-case (uncased models). Default: true unless the vocabulary has upper-case tokens. */
  lowercase?: boolean;
  /** Strip accents (NFD, drop combining marks). Default: same as `lowercase`, as in BERT. */
  stripAccents?: boolean;
  /** Google's tokenization.py uses 200 (Hugging Face uses 100). */
  maxCharsPerWord?: number;
  /** Default '[UNK]'. */
  unkToken?: string;
  /** Marks a piece that continues a word. Default '##'. */
  continuingPrefix?: string;
}

const enum Cls { Drop = 1, Space, Cjk, Punct, Other }

const CJK_RANGES: [number, number][] = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b820, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];
export const isCjkIdeograph = (cp: number) => CJK_RANGES.some(([lo, hi]) => cp >= lo && cp <= hi);

const CONTROL = /^\p{C}$/u, ZS = /^\p{Zs}$/u, PUNCT = /^\p{P}$/u, MARK = /\p{Mn}/gu;
// Python's str.split() also splits on these, which BERT's own whitespace test does not list.
const PY_SPLIT_EXTRA = new Set([0x2028, 0x2029]);

/** Character classes, computed once per code point. */
const classes = new Uint8Array(0x110000);
function classify(cp: number): number {
  let c = classes[cp]!;
  if (c) return c;
  const ch = String.fromCodePoint(cp);
  if (cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d || ZS.test(ch) || PY_SPLIT_EXTRA.has(cp)) c = Cls.Space;
  else if (cp === 0 || cp === 0xfffd || CONTROL.test(ch)) c = Cls.Drop;
  else if (isCjkIdeograph(cp)) c = Cls.Cjk;
  else if (isPunctuation(cp)) c = Cls.Punct;
  else c = Cls.Other;
  classes[cp] = c;
  return c;
}

export function isPunctuation(cp: number): boolean {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || PUNCT.test(String.fromCodePoint(cp));
}

export class WordPieceTokenizer extends BaseTokenizer {
  readonly kind = 'wordpiece';
  readonly vocabSize: number;
  readonly lowercase: boolean;
  readonly stripAccents: boolean;
  readonly maxCharsPerWord: number;
  readonly unkToken: string;
  readonly continuingPrefix: string;
  private readonly vocab: string[];
  private readonly ids = new Map<string, number>();
  private readonly unkId: number;
  private readonly foldCache = new Map<number, number[]>();
  private readonly wordCache = new Map<string, number[]>();
  private readonly singleIds = new Map<number, number>();
  /** Longest token in code points (prefix excluded). */
  private readonly longestToken: number;

  constructor(vocab: string[], options: WordPieceOptions = {}, what = 'WordPiece vocabulary') {
    super();
    if (vocab.length === 0) throw new TokenizerError(`${what} is empty`);
    this.vocab = vocab;
    this.vocabSize = vocab.length;
    vocab.forEach((t, i) => this.ids.set(t, i)); // a repeated token keeps its last id, as in BERT
    // Cased vocabularies have many capitalised words; markers like <S>, [CLS] do not count.
    const upper = vocab.filter((t) => !/^\[.*\]$|^<.*>$/.test(t) && /\p{Lu}/u.test(t)).length;
    const cased = upper > Math.max(2, vocab.length / 1000);
    this.lowercase = options.lowercase ?? !cased;
    this.stripAccents = options.stripAccents ?? this.lowercase;
    this.maxCharsPerWord = options.maxCharsPerWord ?? 200;
    if (!Number.isInteger(this.maxCharsPerWord) || this.maxCharsPerWord < 1) throw new TokenizerError(`${what}: maxCharsPerWord must be a positive integer, got ${JSON.stringify(this.maxCharsPerWord)}`);
    let longest = 0;
    for (const t of vocab) if (t.length > longest) longest = t.length; // UTF-16 length ≥ code points
    this.longestToken = longest;
    this.unkToken = options.unkToken ?? '[UNK]';
    this.continuingPrefix = options.continuingPrefix ?? '##';
    const unk = this.ids.get(this.unkToken);
    if (unk === undefined) throw new TokenizerError(`${what} has no ${this.unkToken} token; is this a vocab.txt?`);
    this.unkId = unk;
    const specials: Partial<Record<SpecialName, SpecialToken>> = {};
    for (const [name, token] of [['cls', '[CLS]'], ['sep', '[SEP]'], ['pad', '[PAD]'], ['unk', this.unkToken], ['mask', '[MASK]']] as const) {
      const id = this.ids.get(token);
      if (id !== undefined) specials[name] = { token, id };
    }
    this.specialTokens = specials;
    this.framing = specials.cls && specials.sep ? 'bert' : 'none';
  }

  /** Reads a vocab.txt (one token a line; surrounding whitespace stripped, as BERT does). */
  static fromVocabText(text: string, options?: WordPieceOptions, what?: string): WordPieceTokenizer {
    const lines = text.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines.map((l) => l.trim()), options, what);
  }

  /** Lower-cases / strips accents of one character (cached). */
  private fold(cp: number): number[] {
    let out = this.foldCache.get(cp);
    if (!out) {
      let s = String.fromCodePoint(cp);
      if (this.lowercase) s = s.toLowerCase();
      if (this.stripAccents) s = s.normalize('NFD').replace(MARK, '');
      out = [...s].map((c) => c.codePointAt(0)!);
      this.foldCache.set(cp, out);
    }
    return out;
  }

  protected pieces(text: string): Pieces {
    const out: Pieces = { ids: [], tokens: [], offsets: [] };
    let word: number[] = [], starts: number[] = [], ends: number[] = [];
    const flush = () => {
      if (word.length) this.wordPiece(word, starts, ends, out);
      word = []; starts = []; ends = [];
    };
    const single = (cp: number, s: number, e: number) => { flush(); this.singleChar(cp, s, e, out); };
    const fold = this.lowercase || this.stripAccents;
    for (let i = 0; i < text.length;) {
      let cp = text.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate
      const end = i + len;
      const cls = classify(cp);
      if (cls === Cls.Space) flush();
      else if (cls === Cls.Cjk) {
        // Unified ideographs fold to themselves; NFD maps the compatibility ones (U+F900...).
        if (!fold || (cp >= 0x3400 && cp <= 0x9fff) || (cp >= 0x20000 && cp <= 0x2ceaf)) single(cp, i, end);
        else for (const c of this.fold(cp)) single(c, i, end);
      }
      else if (cls !== Cls.Drop) {
        if (!fold && cp < 0x80 && cls === Cls.Other) { word.push(cp); starts.push(i); ends.push(end); }
        else {
          for (const c of fold ? this.fold(cp) : [cp]) {
            const k = classify(c);
            if (k === Cls.Punct) single(c, i, end);
            else if (k === Cls.Space) flush();
            else if (k !== Cls.Drop || !fold) { word.push(c); starts.push(i); ends.push(end); }
          }
        }
      }
      i = end;
    }
    flush();
    return out;
  }

  /** A one-character word (CJK ideographs, punctuation): a cached lookup. */
  private singleChar(cp: number, start: number, end: number, out: Pieces): void {
    let id = this.singleIds.get(cp);
    if (id === undefined) {
      id = this.ids.get(String.fromCodePoint(cp)) ?? this.unkId;
      this.singleIds.set(cp, id);
    }
    out.ids.push(id); out.tokens.push(this.vocab[id]!); out.offsets.push([start, end]);
  }

  /** Greedy longest-match-first over one word's code points. */
  private wordPiece(word: number[], starts: number[], ends: number[], out: Pieces): void {
    if (word.length > this.maxCharsPerWord) {
      out.ids.push(this.unkId); out.tokens.push(this.unkToken); out.offsets.push([starts[0]!, ends[word.length - 1]!]);
      return;
    }
    const str = cpsToString(word);
    let cuts = this.wordCache.get(str);
    if (!cuts) {
      cuts = this.split(word);
      if (this.wordCache.size > 100_000) this.wordCache.clear();
      this.wordCache.set(str, cuts);
    }
    if (cuts.length === 0) {
      out.ids.push(this.unkId); out.tokens.push(this.unkToken); out.offsets.push([starts[0]!, ends[word.length - 1]!]);
      return;
    }
    for (let k = 0, a = 0; k < cuts.length; k += 2) {
      const b = cuts[k]!, id = cuts[k + 1]!;
      out.ids.push(id); out.tokens.push(this.vocab[id]!); out.offsets.push([starts[a]!, ends[b - 1]!]);
      a = b;
    }
  }

  /** [end, id, end, id, ...] of the pieces, or [] when some stretch matches nothing. */
  private split(word: number[]): number[] {
    // UTF-16 index of each code point boundary, to slice candidate substrings.
    const str = cpsToString(word);
    const at: number[] = [0];
    for (const cp of word) at.push(at[at.length - 1]! + (cp > 0xffff ? 2 : 1));
    const cuts: number[] = [];
    for (let start = 0; start < word.length;) {
      // No piece is longer than the longest token: greedy matching is O(word × that), not O(word²).
      let end = Math.min(word.length, start + this.longestToken), id: number | undefined;
      for (; end > start; end--) {
        const sub = str.slice(at[start], at[end]);
        id = this.ids.get(start > 0 ? this.continuingPrefix + sub : sub);
        if (id !== undefined) break;
      }
      if (id === undefined) return [];
      cuts.push(end, id);
      start = end;
    }
    return cuts;
  }

  /** Joins pieces: `##` pieces glue on; CJK characters and punctuation take no spaces around
   * them, as bert4keras's decode does. Lossy by nature (case, accents, spacing). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = this.checkIds(ids);
    const skip = options.skipSpecialTokens ?? true;
    let text = '';
    let prevTight = true; // previous token takes no space after it
    for (const id of list) {
      if (skip && this.isSpecialId(id)) continue;
      const token = this.vocab[id]!;
      const prefix = this.continuingPrefix;
      if (prefix && token.startsWith(prefix) && text) { text += token.slice(prefix.length); prevTight = false; continue; }
      const first = token.codePointAt(0) ?? 0;
      const tightBefore = isCjkIdeograph(first) || (token.length === 1 && (isPunctuation(first) && !'("\'[{<'.includes(token)));
      if (text && !prevTight && !tightBefore) text += ' ';
      text += token;
      const last = token.codePointAt(token.length - 1) ?? 0;
      prevTight = isCjkIdeograph(last) || (token.length === 1 && (first > 0x7f ? isPunctuation(first) : '(["\'{<'.includes(token)));
    }
    return text;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new TokenizerError(`id ${id} is out of range [0, ${this.vocabSize})`);
    return this.vocab[id]!;
  }

  /** The vocabulary as a list (id order). */
  get tokens(): readonly string[] {
    return this.vocab;
  }

  withTokens(keep: number[]): WordPieceTokenizer {
    return new WordPieceTokenizer(keep.map((id) => this.vocab[id]!), { lowercase: this.lowercase, stripAccents: this.stripAccents, maxCharsPerWord: this.maxCharsPerWord, unkToken: this.unkToken, continuingPrefix: this.continuingPrefix });
  }
}
