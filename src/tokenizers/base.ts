/**
 * What every tokenizer kind shares: the post-processor (framing with special tokens, segment ids,
 * truncation), batch encoding with padding, and argument checks. A kind supplies `pieces(text)`
 * (normalizer → pre-tokenizer → model, with offsets) and `decode`.
 */
import {
  TokenizerError,
  type BatchEncoding, type BatchOptions, type DecodeOptions, type EncodeOptions, type Encoding,
  type Framing, type SpecialName, type SpecialToken, type Tokenizer,
} from './types.ts';

/** A text's tokens before framing: parallel arrays. */
export interface Pieces {
  ids: number[];
  tokens: string[];
  offsets: [number, number][];
}

export abstract class BaseTokenizer implements Tokenizer {
  abstract readonly kind: string;
  abstract readonly vocabSize: number;
  specialTokens: Partial<Record<SpecialName, SpecialToken>> = {};
  framing: Framing = 'none';
  keepTokens?: number[];

  /** Normalize, pre-tokenize and run the model over one text, without framing. */
  protected abstract pieces(text: string): Pieces;
  abstract decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  abstract tokenToId(token: string): number | undefined;
  abstract idToToken(id: number): string;

  tokenize(text: string): string[] {
    return this.pieces(checkText(text, 'text')).tokens;
  }

  /**
   * `pieces` of a text, where with `parse` special tokens written out ("[MASK]") are their own ids,
   * each stretch between them tokenized alone (as Hugging Face's added-token split does).
   */
  private textPieces(text: string, parse: boolean): Pieces {
    const specials = !parse ? [] : Object.values(this.specialTokens).filter((t): t is SpecialToken => !!t && t.token.length > 1 && text.includes(t.token));
    if (specials.length === 0) return this.pieces(text);
    specials.sort((x, y) => y.token.length - x.token.length); // longest first: "</s>" before "<s>" could match inside it
    const out: Pieces = { ids: [], tokens: [], offsets: [] };
    const add = (start: number, end: number) => {
      if (end <= start) return;
      const p = this.pieces(text.slice(start, end));
      for (let k = 0; k < p.ids.length; k++) { // no spread: a stretch may hold 10^5+ tokens
        out.ids.push(p.ids[k]!);
        out.tokens.push(p.tokens[k]!);
        out.offsets.push([p.offsets[k]![0] + start, p.offsets[k]![1] + start]);
      }
    };
    let from = 0;
    for (let i = 0; i < text.length;) {
      const t = specials.find((x) => text.startsWith(x.token, i));
      if (!t) { i++; continue; }
      add(from, i);
      out.ids.push(t.id);
      out.tokens.push(t.token);
      out.offsets.push([i, i + t.token.length]);
      i += t.token.length;
      from = i;
    }
    add(from, text.length);
    return out;
  }

  encode(text: string, pair?: string, options: EncodeOptions = {}): Encoding {
    if (typeof options !== 'object' || options === null) throw new TokenizerError('encode: options must be an object');
    const parse = options.parseSpecialTokens ?? false;
    const a = this.textPieces(checkText(text, 'text'), parse);
    const b = pair === undefined ? undefined : this.textPieces(checkText(pair, 'pair'), parse);
    const addSpecial = options.addSpecialTokens ?? true;
    const framing = addSpecial ? this.framing : 'none';
    if (options.maxlen !== undefined) {
      const added = framingLength(framing, b !== undefined);
      if (!Number.isInteger(options.maxlen) || options.maxlen < added) {
        throw new TokenizerError(`encode: maxlen must be an integer >= ${added} (the special tokens alone take ${added}), got ${options.maxlen}`);
      }
      truncate(a, b, options.maxlen - added, options.truncation ?? 'longest_first');
    }
    if (framing === 'none' && !b) return { ids: a.ids, tokens: a.tokens, segments: new Array(a.ids.length).fill(0), offsets: a.offsets };
    const out: Encoding = { ids: [], tokens: [], segments: [], offsets: [] };
    const push = (ids: number[], tokens: string[], offsets: [number, number][], segment: number) => {
      for (let i = 0; i < ids.length; i++) {
        out.ids.push(ids[i]!);
        out.tokens.push(tokens[i]!);
        out.offsets.push(offsets[i]!);
        out.segments.push(segment);
      }
    };
    const special = (name: SpecialName, segment: number) => {
      const t = this.specialTokens[name];
      if (!t) throw new TokenizerError(`${this.kind} tokenizer has no '${name}' token, needed for '${framing}' framing; pass addSpecialTokens: false`);
      push([t.id], [t.token], [[0, 0]], segment);
    };
    if (framing === 'bert') special('cls', 0);
    push(a.ids, a.tokens, a.offsets, 0);
    if (framing === 'bert') special('sep', 0);
    if (framing === 'eos') special('eos', 0);
    if (b) {
      push(b.ids, b.tokens, b.offsets, 1);
      if (framing === 'bert') special('sep', 1);
      if (framing === 'eos') special('eos', 1);
    }
    return out;
  }

  encodeBatch(texts: (string | [string, string])[], options: BatchOptions = {}): BatchEncoding {
    if (!Array.isArray(texts)) throw new TokenizerError('encodeBatch: texts must be an array of strings or [text, pair] tuples');
    const padding = options.padding ?? 'longest';
    if (padding === 'max_length' && options.maxlen === undefined) throw new TokenizerError("encodeBatch: padding 'max_length' needs maxlen");
    const rows = texts.map((t) => (Array.isArray(t) ? this.encode(t[0], t[1], options) : this.encode(t, undefined, options)));
    const width = padding === 'max_length' ? options.maxlen! : rows.reduce((w, r) => Math.max(w, r.ids.length), 0); // no spread: a batch may have 10^5+ rows
    const padId = this.specialTokens.pad?.id ?? 0;
    const fill = (row: number[], value: number) => row.concat(new Array(width - row.length).fill(value));
    return {
      ids: rows.map((r) => fill(r.ids, padId)),
      segments: rows.map((r) => fill(r.segments, 0)),
      attentionMask: rows.map((r) => fill(new Array(r.ids.length).fill(1), 0)),
      lengths: rows.map((r) => r.ids.length),
    };
  }

  /** Ids as a plain array (number[] or a typed array such as a model's output); throws a clear
   * error for anything that is not an id of this vocabulary. */
  protected checkIds(ids: ArrayLike<number>): number[] {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new TokenizerError('decode: ids must be an array of integers');
    const list = Array.from(ids, Number);
    for (let i = 0; i < list.length; i++) {
      const id = list[i]!;
      // An array's entries must be numbers ('3' is not an id); a typed array's always are.
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || (Array.isArray(ids) && typeof ids[i] !== 'number')) {
        const shown = typeof ids[i] === 'number' || typeof ids[i] === 'bigint' ? String(ids[i]) : preview(ids[i]);
        throw new TokenizerError(`decode: id ${shown} at position ${i} is out of range [0, ${this.vocabSize}) for this ${this.kind} vocabulary`);
      }
    }
    return list;
  }

  protected isSpecialId(id: number): boolean {
    for (const t of Object.values(this.specialTokens)) if (t && t.id === id) return true;
    return false;
  }
}

/** Code points to a string, in chunks: spreading a long array into one call overflows the stack. */
export function cpsToString(cps: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < cps.length; i += 8192) s += String.fromCodePoint(...Array.prototype.slice.call(cps, i, i + 8192));
  return s;
}

/** A short rendering of an untrusted value for an error message. Never throws: JSON.stringify
 * overflows the stack on a deeply nested value. */
export function preview(v: unknown, max = 80): string {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, max);
  } catch {
    return Array.isArray(v) ? '[...]' : typeof v;
  }
}

export function checkText(text: unknown, what: string): string {
  if (typeof text !== 'string') throw new TokenizerError(`${what} must be a string, got ${text === null ? 'null' : typeof text}`);
  return text;
}

function framingLength(framing: Framing, pair: boolean): number {
  if (framing === 'bert') return pair ? 3 : 2;
  if (framing === 'eos') return pair ? 2 : 1;
  return 0;
}

/** Drops tokens from the ends of the sequences until they fit `budget` (HF's strategies). */
function truncate(a: Pieces, b: Pieces | undefined, budget: number, how: string): void {
  const cut = (p: Pieces, n: number) => { p.ids.length = n; p.tokens.length = n; p.offsets.length = n; };
  const bl = b ? b.ids.length : 0;
  if (a.ids.length + bl <= budget) return;
  if (how === 'only_first') {
    if (budget - bl < 0) throw new TokenizerError(`encode: cannot truncate only the first text: the pair alone has ${bl} tokens, over maxlen's room of ${budget}`);
    cut(a, budget - bl);
  } else if (how === 'only_second') {
    if (!b || budget - a.ids.length < 0) throw new TokenizerError(`encode: cannot truncate only the second text: ${b ? `the first alone has ${a.ids.length} tokens, over maxlen's room of ${budget}` : 'there is no pair'}`);
    cut(b, budget - a.ids.length);
  } else if (how === 'longest_first') {
    let la = a.ids.length, lb = bl;
    while (la + lb > budget) { if (la > lb) la--; else lb--; }
    cut(a, la);
    if (b) cut(b, lb);
  } else {
    throw new TokenizerError(`encode: unknown truncation '${how}' (use longest_first, only_first or only_second)`);
  }
}
