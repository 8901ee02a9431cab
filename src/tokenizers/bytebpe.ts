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
import { BaseTokenizer, type Pieces } from './base.ts';
import { Heap } from './heap.ts';
import { TokenizerError, type DecodeOptions, type SpecialName, type SpecialToken } from './types.ts';

// `\s` spelled out as the Python `regex` module has it (JS's adds U+FEFF and lacks U+0085), so
// words split exactly as in the reference.
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GPT2_PATTERN = new RegExp(`'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');

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

interface Word { ids: number[]; tokens: string[]; /** byte length of each piece */ lengths: number[] }

export class ByteLevelBpeTokenizer extends BaseTokenizer {
  readonly kind = 'byte-bpe';
  readonly vocabSize: number;
  private readonly vocab: string[];
  private readonly ids: Map<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly byteChar = bytesToUnicode();
  private readonly charByte = new Map<string, number>(this.byteChar.map((c, b) => [c, b]));
  private readonly cache = new Map<string, Word>();
  private readonly utf8 = new TextEncoder();

  /** `encoder`: token → id (encoder.json / vocab.json); `merges`: pairs in rank order. */
  constructor(encoder: Record<string, number>, merges: [string, string][]) {
    super();
    this.ids = new Map(Object.entries(encoder));
    this.vocabSize = Math.max(-1, ...this.ids.values()) + 1;
    this.vocab = new Array(this.vocabSize);
    for (const [t, id] of this.ids) {
      if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`byte-level BPE vocabulary: token ${JSON.stringify(t)} has invalid id ${id}`);
      this.vocab[id] = t;
    }
    for (let i = 0; i < this.vocabSize; i++) if (this.vocab[i] === undefined) throw new TokenizerError(`byte-level BPE vocabulary has no token with id ${i} (ids must be 0..${this.vocabSize - 1})`);
    for (const c of this.byteChar) if (!this.ids.has(c)) throw new TokenizerError(`byte-level BPE vocabulary lacks the byte token ${JSON.stringify(c)}; is this a GPT-2 style encoder.json?`);
    merges.forEach(([a, b], rank) => { if (!this.ranks.has(a + ' ' + b)) this.ranks.set(a + ' ' + b, rank); });
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
    for (const m of text.matchAll(GPT2_PATTERN)) {
      const word = m[0];
      let w = this.cache.get(word);
      if (!w) {
        w = this.bpe(word);
        if (this.cache.size > 100_000) this.cache.clear();
        this.cache.set(word, w);
      }
      // Walk the word's characters alongside the pieces' byte lengths to get offsets. (No closure
      // here: this runs per word, and tsx wraps every closure it creates.)
      const base = m.index!;
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

  /** Merges one word's byte symbols by rank (lowest first, leftmost on ties). */
  private bpe(word: string): Word {
    const bytes = this.utf8.encode(word);
    const n = bytes.length;
    const sym = Array.from(bytes, (b) => this.byteChar[b]!);
    const len = new Array<number>(n).fill(1);
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Array.from({ length: n }, (_, i) => i - 1);
    type Pair = { left: number; right: number; rank: number; merged: string };
    const agenda = new Heap<Pair>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left));
    const consider = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const rank = this.ranks.get(sym[left] + ' ' + sym[right]);
      if (rank !== undefined) agenda.push({ left, right, rank, merged: sym[left]! + sym[right]! });
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    while (agenda.size) {
      const p = agenda.pop()!;
      // Stale when either side has changed since the pair was queued.
      if (len[p.left] === 0 || len[p.right] === 0 || next[p.left] !== p.right || sym[p.left]! + sym[p.right]! !== p.merged) continue;
      sym[p.left] = p.merged;
      len[p.left]! += len[p.right]!;
      len[p.right] = 0;
      next[p.left] = next[p.right]!;
      if (next[p.right]! >= 0) prev[next[p.right]!] = p.left;
      consider(prev[p.left]!, p.left);
      consider(p.left, next[p.left]!);
    }
    const w: Word = { ids: [], tokens: [], lengths: [] };
    for (let i = 0; i >= 0 && i < n; i = next[i]!) {
      const id = this.ids.get(sym[i]!);
      if (id === undefined) throw new TokenizerError(`byte-level BPE: merged symbol ${JSON.stringify(sym[i])} is not in the vocabulary (merges and vocabulary do not match)`);
      w.ids.push(id); w.tokens.push(sym[i]!); w.lengths.push(len[i]!);
    }
    return w;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = this.checkIds(ids);
    const skip = options.skipSpecialTokens ?? true;
    const bytes: number[] = [];
    let text = '';
    const flush = () => { text += new TextDecoder().decode(new Uint8Array(bytes)); bytes.length = 0; };
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

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new TokenizerError(`id ${id} is out of range [0, ${this.vocabSize})`);
    return this.vocab[id]!;
  }
}
