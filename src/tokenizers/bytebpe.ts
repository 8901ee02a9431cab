/**
 * GPT-2 byte-level BPE (OpenAI `encoder.py`; also RoBERTa-en, GPT-J vocabularies as vocab.json +
 * merges.txt):
 *   pre-tokenizer: the GPT-2 regex (contractions, letters, digits, other, whitespace runs);
 *   model: each word's UTF-8 bytes as printable stand-ins (the byte-to-unicode table), merged by
 *     merge rank, lowest first; results cached per word;
 *   decoder: stand-ins back to bytes, bytes to UTF-8 text.
 * Offsets: a piece spans the characters its bytes came from (a piece holding part of a
 * multi-byte character spans that whole character).
 */
import { BaseTokenizer, preview, type Pieces } from './base.ts';
import { NumberHeap } from './heap.ts';
import { TokenizerError, type DecodeOptions, type SpecialName, type SpecialToken } from './types.ts';

// `\s` spelled out as the Python `regex` module has it (JS's adds U+FEFF and lacks U+0085), so
// words split exactly as in the reference.
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const enum C { Letter = 1, Number, Space, Other }
const SPACE_RE = new RegExp(`[${WS}]`, 'u'), LETTER = /\p{L}/u, NUMBER = /\p{N}/u;
const classes = new Uint8Array(0x110000);
function classAt(text: string, i: number): number {
  const cp = text.codePointAt(i)!;
  let c = classes[cp]!;
  if (!c) {
    const ch = String.fromCodePoint(cp); // a lone surrogate stays one, and is Other, as in the regex
    c = SPACE_RE.test(ch) ? C.Space : LETTER.test(ch) ? C.Letter : NUMBER.test(ch) ? C.Number : C.Other;
    classes[cp] = c;
  }
  return c;
}
const step = (text: string, i: number) => i + (text.codePointAt(i)! > 0xffff ? 2 : 1);

/**
 * End of the GPT-2 pre-tokenizer's match starting at i, i.e. of
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * written as a linear scan: V8's backtracking matcher runs out of stack on runs of millions of
 * characters (a run of combining marks, say). The matches tile the text.
 */
export function gpt2WordEnd(text: string, i: number): number {
  const n = text.length;
  if (text.charCodeAt(i) === 0x27) {
    const a = text[i + 1], b = text[i + 2];
    if (a === 's' || a === 't' || a === 'm' || a === 'd') return i + 2;
    if (((a === 'r' || a === 'v') && b === 'e') || (a === 'l' && b === 'l')) return i + 3;
  }
  let j = i, cls = classAt(text, i);
  if (text.charCodeAt(i) === 0x20 && i + 1 < n && classAt(text, i + 1) !== C.Space) cls = classAt(text, ++j);
  if (cls !== C.Space) {
    for (j = step(text, j); j < n && classAt(text, j) === cls;) j = step(text, j);
    return j;
  }
  // A whitespace run, less its last character when something follows (that one leads the next word).
  let last = j;
  for (; j < n && classAt(text, j) === C.Space; j++) last = j; // every \s is one UTF-16 unit
  return j === n || last === i ? j : last;
}

/** GPT-2's reversible map from bytes to printable characters. */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return table;
}

// ignoreBOM: a text that starts with U+FEFF must decode back to it, not lose it as a byte-order mark.
const utf8Text = new TextDecoder('utf-8', { ignoreBOM: true });

interface Word { ids: number[]; tokens: string[]; /** byte length of each piece */ lengths: number[] }

export class ByteLevelBpeTokenizer extends BaseTokenizer {
  readonly kind = 'byte-bpe';
  readonly vocabSize: number;
  private readonly vocab: string[];
  private readonly ids: Map<string, number>;
  /** The merges as given (rank order), for saving. */
  readonly merges: readonly [string, string][];
  /** Rank of each merge by pair key (left id * vocabSize + right id), and the id it makes. */
  private readonly ranks = new Map<number, number>();
  private readonly mergedId: Int32Array;
  private readonly byteChar = bytesToUnicode();
  private readonly byteIds: Int32Array;
  private readonly charByte = new Map<string, number>(this.byteChar.map((c, b) => [c, b]));
  private readonly cache = new Map<string, Word>();
  private readonly utf8 = new TextEncoder();

  /** `encoder`: token → id (encoder.json / vocab.json); `merges`: pairs in rank order. */
  constructor(encoder: Record<string, number> | Map<string, number>, merges: [string, string][]) {
    super();
    // A Map, or the own entries of a parsed object: tokens such as "__proto__" are ordinary keys.
    this.ids = encoder instanceof Map ? new Map(encoder) : new Map(Object.entries(encoder));
    let max = -1; // a loop, not Math.max(...ids): 150k arguments overflow the stack
    for (const [t, id] of this.ids) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`byte-level BPE vocabulary: token ${JSON.stringify(t)} has invalid id ${preview(id)}`);
      if (id > max) max = id;
    }
    if (max >= this.ids.size) throw new TokenizerError(`byte-level BPE vocabulary has ${this.ids.size} tokens but an id ${max} (ids must be 0..${this.ids.size - 1})`);
    this.vocabSize = max + 1;
    this.vocab = new Array(this.vocabSize);
    for (const [t, id] of this.ids) this.vocab[id] = t;
    for (let i = 0; i < this.vocabSize; i++) if (this.vocab[i] === undefined) throw new TokenizerError(`byte-level BPE vocabulary has no token with id ${i} (ids must be 0..${this.vocabSize - 1})`);
    for (const c of this.byteChar) if (!this.ids.has(c)) throw new TokenizerError(`byte-level BPE vocabulary lacks the byte token ${JSON.stringify(c)}; is this a GPT-2 style encoder.json?`);
    this.byteIds = Int32Array.from(this.byteChar, (c) => this.ids.get(c)!);
    // Heap keys pack rank * 2^32 + position into a double's 53 bits.
    if (merges.length >= 2 ** 21) throw new TokenizerError(`byte-level BPE: ${merges.length} merges; at most ${2 ** 21 - 1} are supported`);
    this.merges = merges;
    this.mergedId = new Int32Array(merges.length);
    merges.forEach(([a, b], rank) => {
      const l = this.ids.get(a), r = this.ids.get(b), m = this.ids.get(a + b);
      // As Hugging Face's BPE does, refuse merges over tokens the vocabulary lacks.
      if (l === undefined || r === undefined || m === undefined) throw new TokenizerError(`byte-level BPE: merge ${rank + 1} (${JSON.stringify(a)} ${JSON.stringify(b)}) uses or makes a token the vocabulary lacks (${JSON.stringify([a, b, a + b].find((t) => !this.ids.has(t)))}); merges and vocabulary do not match`);
      const key = l * this.vocabSize + r;
      if (!this.ranks.has(key)) { this.ranks.set(key, rank); this.mergedId[rank] = m; }
    });
    const specials: Partial<Record<SpecialName, SpecialToken>> = {};
    const eot = this.ids.get('<|endoftext|>');
    if (eot !== undefined) for (const name of ['bos', 'eos'] as const) specials[name] = { token: '<|endoftext|>', id: eot };
    for (const [name, token] of [['bos', '<s>'], ['eos', '</s>'], ['pad', '<pad>'], ['unk', '<unk>'], ['mask', '<mask>'], ['cls', '<s>'], ['sep', '</s>']] as const) {
      const id = this.ids.get(token);
      if (id !== undefined) specials[name] = { token, id };
    }
    this.specialTokens = specials;
    // RoBERTa-style vocabularies frame with <s> ... </s>; GPT-2's adds nothing. (RoBERTa's pair
    // framing, `</s></s>` between the texts, is not reproduced.)
    this.framing = this.ids.has('<s>') && this.ids.has('</s>') ? 'bert' : 'none';
  }

  /** From the text of encoder.json / vocab.json and vocab.bpe / merges.txt. */
  static fromFiles(encoderJson: string, mergesText: string, what = 'byte-level BPE files'): ByteLevelBpeTokenizer {
    let encoder: unknown;
    try { encoder = JSON.parse(encoderJson); } catch (e) { throw new TokenizerError(`corrupt ${what}: the vocabulary is not JSON (${(e as Error).message})`); }
    if (!encoder || typeof encoder !== 'object' || Array.isArray(encoder)) throw new TokenizerError(`corrupt ${what}: the vocabulary must be a JSON object of token → id`);
    const merges: [string, string][] = [];
    mergesText.split('\n').forEach((line, i) => {
      if ((i === 0 && line.startsWith('#version')) || line.trim() === '') return;
      const parts = line.replace(/\r$/, '').split(' ');
      if (parts.length !== 2) throw new TokenizerError(`corrupt ${what}: merges line ${i + 1} is not two symbols: ${JSON.stringify(line)}`);
      merges.push(parts as [string, string]);
    });
    return new ByteLevelBpeTokenizer(encoder as Record<string, number>, merges);
  }

  protected pieces(text: string): Pieces {
    const out: Pieces = { ids: [], tokens: [], offsets: [] };
    for (let base = 0, end = 0; base < text.length; base = end) {
      end = gpt2WordEnd(text, base);
      const word = text.slice(base, end);
      let w = this.cache.get(word);
      if (!w) {
        w = this.bpe(word);
        if (this.cache.size > 100_000) this.cache.clear();
        if (word.length <= 256) this.cache.set(word, w); // long words seldom repeat
      }
      // Walk the word's characters alongside the pieces' byte lengths to get offsets. (No closure
      // here: this runs per word, and tsx wraps every closure it creates.)
      let pos = 0, charStart = 0, charEnd = 0, charBytesLeft = 0;
      for (let k = 0; k < w.ids.length; k++) {
        let bytes = w.lengths[k]!, start = -1;
        while (bytes > 0) {
          if (charBytesLeft === 0) {
            const cp = word.codePointAt(pos)!;
            charStart = pos;
            pos += cp > 0xffff ? 2 : 1;
            charEnd = pos;
            charBytesLeft = cp >= 0xd800 && cp <= 0xdfff ? 3 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
          }
          if (start < 0) start = charStart;
          const take = Math.min(bytes, charBytesLeft);
          bytes -= take;
          charBytesLeft -= take;
        }
        out.ids.push(w.ids[k]!); out.tokens.push(w.tokens[k]!); out.offsets.push([base + start, base + charEnd]);
      }
    }
    return out;
  }

  /** Merges one word's byte symbols by rank (lowest first, leftmost on ties). Typed arrays and a
   * numeric heap: a word of millions of bytes costs O(n log n) time and ~40 bytes per byte. */
  private bpe(word: string): Word {
    const bytes = this.utf8.encode(word);
    const n = bytes.length, V = this.vocabSize, SHIFT = 2 ** 32;
    const sym = new Int32Array(n), len = new Int32Array(n).fill(1), next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) { sym[i] = this.byteIds[bytes[i]!]!; next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    const rankAt = (left: number) => (left < 0 || next[left]! < 0 ? undefined : this.ranks.get(sym[left]! * V + sym[next[left]!]!));
    const agenda = new NumberHeap();
    const consider = (left: number) => { const r = rankAt(left); if (r !== undefined) agenda.push(r * SHIFT + left); };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (agenda.size) {
      const key = agenda.pop(), rank = Math.floor(key / SHIFT), left = key - rank * SHIFT;
      // Stale when the pair at `left` has changed since it was queued (ranks are unique per pair).
      if (len[left] === 0 || rankAt(left) !== rank) continue;
      const right = next[left]!;
      sym[left] = this.mergedId[rank]!;
      len[left]! += len[right]!;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      consider(prev[left]!);
      consider(left);
    }
    const w: Word = { ids: [], tokens: [], lengths: [] };
    for (let i = 0; i >= 0 && i < n; i = next[i]!) { w.ids.push(sym[i]!); w.tokens.push(this.vocab[sym[i]!]!); w.lengths.push(len[i]!); }
    return w;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = this.checkIds(ids);
    const skip = options.skipSpecialTokens ?? true;
    const bytes: number[] = [];
    let text = '';
    const flush = () => { text += utf8Text.decode(new Uint8Array(bytes)); bytes.length = 0; };
    for (const id of list) {
      const token = this.vocab[id]!;
      const special = this.isSpecialId(id);
      if (special && skip) continue;
      if (special) { flush(); text += token; continue; }
      for (const ch of token) {
        const b = this.charByte.get(ch);
        if (b === undefined) { flush(); text += ch; } else bytes.push(b);
      }
    }
    flush();
    return text;
  }

  /** Every token → id of the vocabulary (as read: a repeated id keeps all its tokens). */
  get encoder(): ReadonlyMap<string, number> {
    return this.ids;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new TokenizerError(`id ${id} is out of range [0, ${this.vocabSize})`);
    return this.vocab[id]!;
  }
}
