/**
 * SentencePiece, read from its `.model` protobuf and run the way the reference C++ library does
 * (normalizer.cc, unigram_model.cc, bpe_model.cc, sentencepiece_processor.cc), so pieces and ids
 * match it exactly:
 *   normalizer: user-defined symbols pass untouched; otherwise the longest rule of the precompiled
 *     charsmap (a Darts double-array trie over UTF-8 plus a blob of replacement strings); spaces
 *     collapsed and trimmed, a dummy `▁` prefix, ' ' → `▁`. Each normalized character remembers
 *     where its source began in the original text, which is how offsets survive normalization.
 *   model: unigram (Viterbi over float32 scores, user-defined pieces favoured, unknown characters
 *     scored min - 10) or BPE (highest-scoring merge first); unknowns become `<0xNN>` byte pieces
 *     when the model has byte fallback.
 *   decoder: `▁` → ' ', the dummy prefix dropped, byte pieces reassembled as UTF-8, control pieces
 *     hidden, unknowns shown as the model's unk surface (" ⁇ ").
 * Work is done on code points rather than UTF-8 bytes; every piece and rule is a whole-character
 * string, so the results are the same.
 */
import { BaseTokenizer, cpsToString, type Pieces } from './base.ts';
import { Heap } from './heap.ts';
import { int32, readFields } from './protobuf.ts';
import { TokenizerError, type DecodeOptions, type SpecialName, type SpecialToken } from './types.ts';

export const PieceType = { Normal: 1, Unknown: 2, Control: 3, UserDefined: 4, Unused: 5, Byte: 6 } as const;
const MODEL_TYPES: Record<number, string> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };
const PIECE_WIRE = [-1, 2, 5, 0]; // piece: bytes, score: fixed32 float, type: varint
const SPACE = 0x20, META = 0x2581; // '▁'

export interface SpPiece { piece: string; score: number; type: number }
export interface SpNormalizerSpec {
  name: string;
  charsmap?: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}
export interface SpModel {
  pieces: SpPiece[];
  modelType: 'unigram' | 'bpe';
  byteFallback: boolean;
  unkSurface: string;
  /** trainer_spec ids; -1 when the model has none. */
  unkId: number; bosId: number; eosId: number; padId: number;
  normalizer: SpNormalizerSpec;
  /** The .model bytes this was parsed from (saved as they are); absent once pieces change. */
  source?: Uint8Array;
}

/** Parses a ModelProto. `what` names the file in errors. */
export function parseSentencePieceModel(bytes: Uint8Array, what = 'SentencePiece .model'): SpModel {
  const utf8 = new TextDecoder('utf-8', { ignoreBOM: true }); // a piece may start with U+FEFF
  const text = (s: number, e: number) => utf8.decode(bytes.subarray(s, e));
  const pieces: SpPiece[] = [];
  let modelType = 1, byteFallback = false, unkSurface = ' \u2047 ', treatAsSuffix = false;
  let unkId = 0, bosId = 1, eosId = 2, padId = -1;
  let normalizer: SpNormalizerSpec = { name: '', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
  let denormalizerRules = false;
  const readNormalizer = (s: number, e: number): SpNormalizerSpec => {
    const spec: SpNormalizerSpec = { name: '', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true };
    for (const f of readFields(bytes, s, e, what)) {
      if (f.field === 1) spec.name = text(f.start, f.end);
      else if (f.field === 2) spec.charsmap = f.end > f.start ? bytes.subarray(f.start, f.end) : undefined;
      else if (f.field === 3) spec.addDummyPrefix = f.value !== 0;
      else if (f.field === 4) spec.removeExtraWhitespaces = f.value !== 0;
      else if (f.field === 5) spec.escapeWhitespaces = f.value !== 0;
    }
    return spec;
  };
  for (const f of readFields(bytes, 0, bytes.length, what)) {
    if (f.field === 1 && f.wire === 2) {
      const p: SpPiece = { piece: '', score: 0, type: PieceType.Normal };
      for (const g of readFields(bytes, f.start, f.end, what)) {
        if (g.field === 1) p.piece = text(g.start, g.end);
        else if (g.field === 2) p.score = g.value;
        else if (g.field === 3) p.type = g.value;
        if (g.field <= 3 && g.wire !== PIECE_WIRE[g.field]) throw new TokenizerError(`corrupt ${what}: piece ${pieces.length} field ${g.field} has wire type ${g.wire}`);
      }
      pieces.push(p);
    } else if (f.field === 2 && f.wire === 2) {
      for (const g of readFields(bytes, f.start, f.end, what)) {
        if (g.field === 3) modelType = g.value;
        else if (g.field === 35) byteFallback = g.value !== 0;
        else if (g.field === 24) treatAsSuffix = g.value !== 0;
        else if (g.field === 44) unkSurface = text(g.start, g.end);
        else if (g.field === 40) unkId = int32(g.value);
        else if (g.field === 41) bosId = int32(g.value);
        else if (g.field === 42) eosId = int32(g.value);
        else if (g.field === 43) padId = int32(g.value);
      }
    } else if (f.field === 3 && f.wire === 2) {
      normalizer = readNormalizer(f.start, f.end);
    } else if (f.field === 5 && f.wire === 2) {
      denormalizerRules = readNormalizer(f.start, f.end).charsmap !== undefined;
    }
  }
  if (pieces.length === 0) throw new TokenizerError(`corrupt ${what}: no pieces (is this a SentencePiece model?)`);
  const type = MODEL_TYPES[modelType];
  if (type !== 'unigram' && type !== 'bpe') {
    throw new TokenizerError(`unsupported ${what}: model type ${type ?? modelType}; only unigram and bpe SentencePiece models are supported`);
  }
  if (treatAsSuffix) throw new TokenizerError(`unsupported ${what}: treat_whitespace_as_suffix is not supported`);
  if (denormalizerRules) throw new TokenizerError(`unsupported ${what}: denormalizer rules are not supported`);
  if (!pieces.some((p) => p.type === PieceType.Unknown)) throw new TokenizerError(`corrupt ${what}: no unknown piece`);
  const seen = new Set<string>();
  for (const p of pieces) {
    if (p.piece === '') throw new TokenizerError(`corrupt ${what}: empty piece`);
    if (seen.has(p.piece)) throw new TokenizerError(`corrupt ${what}: piece '${p.piece}' is defined twice`);
    seen.add(p.piece);
    if (!Number.isInteger(p.type) || p.type < 1 || p.type > 6) throw new TokenizerError(`corrupt ${what}: piece '${p.piece}' has unknown type ${p.type}`);
    if (p.type === PieceType.Byte && !byteFallback) throw new TokenizerError(`corrupt ${what}: byte piece '${p.piece}' but byte_fallback is off`);
  }
  return { pieces, modelType: type, byteFallback, unkSurface, unkId, bosId, eosId, padId, normalizer, source: bytes };
}

// ---------------------------------------------------------------------------------------------
// Tries over code points: a dense root (one slot per code point) and a Map per deeper node.

class CodePointTrie {
  /** Dense first level (4 MB) for big vocabularies, where it pays; small tries use a Map. */
  private readonly root?: Int32Array;
  private readonly children: (Map<number, number> | undefined)[] = [undefined];
  /** Value at each node, -1 when no key ends there. */
  readonly value: Int32Array;

  constructor(entries: Iterable<[string, number]>, dense = false) {
    if (dense) this.root = new Int32Array(0x110000);
    const values = [-1];
    for (const [key, v] of entries) {
      let node = 0;
      for (const ch of key) {
        const cp = ch.codePointAt(0)!;
        let child = this.next(node, cp);
        if (child === 0) {
          child = values.length;
          values.push(-1);
          this.children.push(undefined);
          if (node === 0 && this.root) this.root[cp] = child;
          else (this.children[node] ??= new Map()).set(cp, child);
        }
        node = child;
      }
      values[node] = v;
    }
    this.value = Int32Array.from(values);
  }

  /** Child of `node` by code point; 0 when absent (0 is the root, never a child). */
  next(node: number, cp: number): number {
    return node === 0 && this.root ? this.root[cp]! : this.children[node]?.get(cp) ?? 0;
  }
}

/** Code point at UTF-16 index i; lone surrogates read as U+FFFD, as UTF-8 encoding would make them. */
function codePointAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return c;
  if (c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return 0xfffd;
}

const utf8Length = (cp: number) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);

// ---------------------------------------------------------------------------------------------
// Normalizer

/** Normalized text as code points; `orig[k]` is where the source of code point k began in the
 * original text (UTF-16 index), `orig[cps.length]` where the normalized text's source ended. */
export interface Normalized { cps: number[]; orig: number[] }

const MAX_RULE = 256; // UTF-16 units

/** The precompiled charsmap: uint32 trie size, Darts double-array units, NUL-terminated strings. */
class CharsMap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;
  private readonly cache = new Map<number, number[]>();

  constructor(blob: Uint8Array, what: string) {
    if (blob.length < 4) throw new TokenizerError(`corrupt ${what}: precompiled charsmap too short`);
    const size = new DataView(blob.buffer, blob.byteOffset).getUint32(0, true);
    if (size % 4 !== 0 || 4 + size > blob.length) throw new TokenizerError(`corrupt ${what}: precompiled charsmap trie size ${size} does not fit the ${blob.length}-byte blob`);
    this.units = new Uint32Array(new Uint8Array(blob.subarray(4, 4 + size)).buffer); // copy: aligned
    this.strings = blob.subarray(4 + size);
  }

  /** Whether the trie has a path through all UTF-8 bytes of one BMP character. */
  private walkOne(cp: number): boolean {
    const u = this.units;
    let node = (u[0]! >>> 10) << ((u[0]! & 512) >>> 6);
    const bytes = new Uint8Array(4);
    const n = utf8Bytes(cp, bytes);
    for (let k = 0; k < n; k++) {
      node ^= bytes[k]!;
      const unit = u[node];
      if (unit === undefined || (unit & 0x800000ff) !== bytes[k]) return false;
      node ^= (unit >>> 10) << ((unit & 512) >>> 6);
    }
    return true;
  }

  /** Per BMP code point: 1 when no rule starts with it (most characters), 2 when one may. */
  private readonly startsRule = new Uint8Array(0x10000);

  /** Longest rule matching at text[i...]: returns UTF-16 length matched (0 if none); `out` gets
   * the replacement code points. */
  match(text: string, i: number, out: { cps: number[] }): number {
    const c0 = text.charCodeAt(i);
    if (this.startsRule[c0] === 1) return 0;
    if (this.startsRule[c0] === 0 && (c0 < 0xd800 || c0 > 0xdfff)) this.startsRule[c0] = this.walkOne(c0) ? 2 : 1;
    if (this.startsRule[c0] === 1) return 0;
    const u = this.units;
    let node = (u[0]! >>> 10) << ((u[0]! & 512) >>> 6);
    let j = i, best = 0, bestValue = -1;
    // A corrupt double array can cycle and match without end; real rules are a few characters.
    outer: while (j < text.length && j - i < MAX_RULE) {
      const cp = codePointAt(text, j);
      const n = utf8Length(cp);
      for (let k = 0; k < n; k++) {
        const b = n === 1 ? cp : k === 0 ? (n === 2 ? 0xc0 | (cp >> 6) : n === 3 ? 0xe0 | (cp >> 12) : 0xf0 | (cp >> 18)) : 0x80 | ((cp >> (6 * (n - 1 - k))) & 0x3f);
        node ^= b;
        const unit = u[node];
        if (unit === undefined || (unit & 0x800000ff) !== b) break outer;
        node ^= (unit >>> 10) << ((unit & 512) >>> 6);
        if (k === n - 1 && (unit >>> 8) & 1) {
          best = j + (cp > 0xffff ? 2 : 1) - i;
          bestValue = u[node]! & 0x7fffffff;
        }
      }
      j += cp > 0xffff ? 2 : 1;
    }
    if (best === 0) return 0;
    let cps = this.cache.get(bestValue);
    if (!cps) {
      let end = bestValue;
      while (end < this.strings.length && this.strings[end] !== 0) end++;
      cps = [...new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.strings.subarray(bestValue, end))].map((c) => c.codePointAt(0)!);
      this.cache.set(bestValue, cps);
    }
    out.cps = cps;
    return best;
  }
}

export class SpNormalizer {
  private readonly charsmap?: CharsMap;
  private readonly userTrie?: CodePointTrie;
  private readonly userSymbols: number[][] = [];

  constructor(private readonly spec: SpNormalizerSpec, userDefined: string[], what: string) {
    if (spec.charsmap) this.charsmap = new CharsMap(spec.charsmap, what);
    if (userDefined.length) {
      this.userSymbols = userDefined.map((s) => [...s].map((c) => c.codePointAt(0)!));
      this.userTrie = new CodePointTrie(userDefined.map((s, k) => [s, k]));
    }
  }

  normalize(text: string): Normalized {
    const { addDummyPrefix, removeExtraWhitespaces: squeeze, escapeWhitespaces: escape } = this.spec;
    const cps: number[] = [], orig: number[] = [];
    const n = text.length;
    const step = { cps: [] as number[] };
    const single = [0];
    /** Normalizes the prefix at i into step.cps; returns its UTF-16 length. */
    const prefix = (i: number): number => {
      if (this.userTrie) {
        let node = 0, best = 0, bestK = -1;
        for (let j = i; j < n;) {
          const cp = codePointAt(text, j);
          node = this.userTrie.next(node, cp);
          if (node === 0) break;
          j += cp > 0xffff ? 2 : 1;
          if (this.userTrie.value[node]! >= 0) { best = j - i; bestK = this.userTrie.value[node]!; }
        }
        if (best > 0) { step.cps = this.userSymbols[bestK]!; return best; }
      }
      if (this.charsmap) {
        const len = this.charsmap.match(text, i, step);
        if (len > 0) return len;
      }
      const cp = codePointAt(text, i);
      single[0] = cp;
      step.cps = single;
      return cp > 0xffff ? 2 : 1;
    };
    let i = 0;
    if (squeeze) {
      while (i < n) {
        const len = prefix(i);
        if (step.cps.length !== 1 || step.cps[0] !== SPACE) break;
        i += len;
      }
    }
    if (i >= n) return { cps, orig: [n] };
    let consumed = i;
    const space = escape ? META : SPACE;
    if (addDummyPrefix) { cps.push(space); orig.push(consumed); }
    let prevSpace = squeeze;
    while (i < n) {
      const len = prefix(i);
      const sp = step.cps;
      let k = 0;
      if (prevSpace) while (k < sp.length && sp[k] === SPACE) k++;
      if (k < sp.length) {
        for (; k < sp.length; k++) {
          const c = sp[k]!;
          cps.push(escape && c === SPACE ? META : c);
          orig.push(consumed);
        }
        prevSpace = sp[sp.length - 1] === SPACE;
      }
      i += len;
      consumed = i;
      if (!squeeze) prevSpace = false;
    }
    if (squeeze) {
      while (cps.length > 0 && cps[cps.length - 1] === space) {
        cps.pop();
        consumed = orig.pop()!;
      }
    }
    orig.push(consumed);
    return { cps, orig };
  }
}

// ---------------------------------------------------------------------------------------------
// Hugging Face's preprocessing (AlbertTokenizer / XLNetTokenizer `preprocess_text`), before the
// model's own normalizer.

export interface SpPreprocess {
  /** `lower()` the text (do_lower_case). */
  lowercase: boolean;
  /** Keep accents; else NFKD and drop combining marks (keep_accents). */
  keepAccents: boolean;
  /** `' '.join(text.strip().split())` (remove_space). */
  removeSpace: boolean;
}

// Python's str.split() whitespace (JS \s differs: it has U+FEFF, lacks U+001C-U+001F and U+0085).
const PY_SPACE = /^[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const combiningCache = new Map<number, boolean>();
/** Python's `unicodedata.combining(c) != 0`. JS has no canonical combining class lookup, but
 * canonical reordering reveals it: a mark of class 1..239 moves before U+0345 (class 240, the top). */
function isCombining(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  let c = combiningCache.get(cp);
  if (c === undefined) {
    c = cp === 0x345 || ('a\u0345' + ch).normalize('NFD') !== 'a\u0345' + ch;
    combiningCache.set(cp, c);
  }
  return c;
}

/**
 * The preprocessed text and, for each of its UTF-16 units, where its source starts in `text`
 * (`orig[result.length]`: where the last kept character ends). Per character, which is exact:
 * NFKD's reordering only moves combining marks, which are dropped, and lower-casing is done on the
 * whole text whenever that keeps its length (it then also gets Greek final sigma right).
 */
export function hfPreprocess(text: string, p: SpPreprocess): { text: string; orig: number[] } {
  let out = '';
  const orig: number[] = [];
  const push = (s: string, at: number) => { out += s; for (let k = 0; k < s.length; k++) orig.push(at); };
  let space = -1; // start of a pending whitespace run (remove_space)
  for (let i = 0; i < text.length;) {
    const len = codePointAt(text, i) > 0xffff ? 2 : 1;
    let ch = text.slice(i, i + len);
    if (p.removeSpace && PY_SPACE.test(ch)) { if (space < 0) space = i; i += len; continue; }
    if (space >= 0) { if (out) push(' ', space); space = -1; }
    if ((ch === '`' || ch === "'") && text[i + 1] === ch) { push('"', i); i += 2; continue; }
    if (!p.keepAccents) {
      ch = ch.normalize('NFKD');
      if (ch.length > 1 || isCombining(ch)) ch = [...ch].filter((c) => !isCombining(c)).join('');
    }
    push(ch, i);
    i += len;
  }
  if (p.lowercase) {
    const lower = out.toLowerCase();
    if (lower.length === out.length) out = lower;
    else {
      const src = orig.splice(0), from = out;
      out = '';
      for (let k = 0; k < from.length;) {
        const len = codePointAt(from, k) > 0xffff ? 2 : 1;
        push(from.slice(k, k + len).toLowerCase(), src[k]!);
        k += len;
      }
    }
  }
  orig.push(space >= 0 ? space : text.length); // trailing spaces belong to no piece, as in SentencePiece
  return { text: out, orig };
}

// ---------------------------------------------------------------------------------------------
// Models. Each returns segments of the normalized text: [start, end) code point ranges and ids
// (the unk id for unknown stretches).

interface Segments { starts: number[]; ends: number[]; ids: number[] }

class UnigramModel {
  private readonly trie: CodePointTrie;
  private readonly scores: Float32Array;
  private readonly types: Uint8Array;
  private readonly minScore: number;
  private readonly maxScore: number;

  constructor(pieces: SpPiece[], private readonly unkId: number) {
    this.scores = Float32Array.from(pieces, (p) => p.score);
    this.types = Uint8Array.from(pieces, (p) => p.type);
    let min = Infinity, max = -Infinity;
    for (const p of pieces) if (p.type === PieceType.Normal) { min = Math.min(min, p.score); max = Math.max(max, p.score); }
    // The reference starts from FLT_MAX / FLT_MIN, which is what a model without normal pieces keeps.
    this.minScore = Math.fround(min === Infinity ? 3.4028234663852886e38 : min);
    this.maxScore = Math.fround(max === -Infinity ? 1.1754943508222875e-38 : max);
    this.trie = new CodePointTrie(function* () {
      for (let id = 0; id < pieces.length; id++) {
        const t = pieces[id]!.type;
        if (t === PieceType.Normal || t === PieceType.UserDefined || t === PieceType.Unused) yield [pieces[id]!.piece, id] as [string, number];
      }
    }(), true);
  }

  encode(cps: number[]): Segments {
    const n = cps.length;
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const bestId = new Int32Array(n + 1);
    const unkScore = Math.fround(this.minScore - 10);
    const { trie, scores, types } = this;
    const values = trie.value;
    for (let s = 0; s < n; s++) {
      const here = best[s]!;
      let node = 0, hasSingle = false;
      for (let k = s; k < n; k++) {
        const cp = cps[k]!;
        node = trie.next(node, cp);
        if (node === 0) break;
        const id = values[node]!;
        if (id < 0 || types[id] === PieceType.Unused) continue;
        // float32 sums as in the reference; user-defined pieces get a bonus by UTF-8 length
        // (computed in double there).
        let cand: number;
        if (types[id] === PieceType.UserDefined) {
          let bytes = 0;
          for (let j = s; j <= k; j++) bytes += utf8Length(cps[j]!);
          cand = Math.fround(bytes * this.maxScore) - 0.1 + here;
        } else cand = Math.fround(scores[id]! + here);
        const e = k + 1;
        if (from[e] === -1 || cand > best[e]!) { best[e] = Math.fround(cand); from[e] = s; bestId[e] = id; }
        if (k === s) hasSingle = true;
      }
      if (!hasSingle) {
        const cand = Math.fround(unkScore + here);
        if (from[s + 1] === -1 || cand > best[s + 1]!) { best[s + 1] = cand; from[s + 1] = s; bestId[s + 1] = this.unkId; }
      }
    }
    const starts: number[] = [], ends: number[] = [], ids: number[] = [];
    for (let e = n; e > 0; e = from[e]!) { starts.push(from[e]!); ends.push(e); ids.push(bestId[e]!); }
    return { starts: starts.reverse(), ends: ends.reverse(), ids: ids.reverse() };
  }
}

class BpeModel {
  private readonly pieceIds = new Map<string, number>();
  private readonly userTrie?: CodePointTrie;

  constructor(private readonly pieces: SpPiece[], private readonly unkId: number) {
    const user: [string, number][] = [];
    pieces.forEach((p, id) => {
      if (p.type === PieceType.Normal || p.type === PieceType.UserDefined || p.type === PieceType.Unused) this.pieceIds.set(p.piece, id);
      if (p.type === PieceType.UserDefined) user.push([p.piece, id]);
    });
    if (user.length) this.userTrie = new CodePointTrie(user);
  }

  encode(cps: number[]): Segments {
    const n = cps.length;
    const str = cpsToString(cps);
    // UTF-16 index of each code point, to slice piece strings out of `str`.
    const at = new Int32Array(n + 1);
    for (let k = 0, u = 0; k <= n; k++) { at[k] = u; if (k < n) u += cps[k]! > 0xffff ? 2 : 1; }
    // Initial symbols: characters, or whole user-defined symbols (frozen: never merged).
    const start: number[] = [], end: number[] = [], prev: number[] = [], next: number[] = [], frozen: boolean[] = [];
    for (let k = 0; k < n;) {
      let len = 1, isUser = false;
      if (this.userTrie) {
        let node = 0;
        for (let j = k; j < n; j++) {
          node = this.userTrie.next(node, cps[j]!);
          if (node === 0) break;
          if (this.userTrie.value[node]! >= 0) { len = j + 1 - k; isUser = true; }
        }
      }
      const idx = start.length;
      start.push(k); end.push(k + len); frozen.push(isUser);
      prev.push(idx - 1); next.push(k + len < n ? idx + 1 : -1);
      k += len;
    }
    // Agenda: candidate merges, highest score first, ties to the leftmost.
    type Pair = { left: number; right: number; score: number; size: number };
    const agenda = new Heap<Pair>((a, b) => a.score > b.score || (a.score === b.score && a.left < b.left));
    const revMerge = new Map<string, [string, string]>();
    const maybeAdd = (left: number, right: number) => {
      if (left === -1 || right === -1 || frozen[left] || frozen[right]) return;
      const piece = str.slice(at[start[left]!]!, at[end[right]!]!);
      const id = this.pieceIds.get(piece);
      if (id === undefined) return;
      agenda.push({ left, right, score: this.pieces[id]!.score, size: end[right]! - start[left]! });
      if (this.pieces[id]!.type === PieceType.Unused) {
        revMerge.set(piece, [str.slice(at[start[left]!]!, at[end[left]!]!), str.slice(at[start[right]!]!, at[end[right]!]!)]);
      }
    };
    for (let i = 1; i < start.length; i++) maybeAdd(i - 1, i);
    while (agenda.size) {
      const top = agenda.pop()!;
      const { left, right } = top;
      if (start[left] === end[left] || start[right] === end[right] || end[right]! - start[left]! !== top.size || end[left] !== start[right]) continue;
      end[left] = end[right]!;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      end[right] = start[right]!; // emptied
      maybeAdd(prev[left]!, left);
      maybeAdd(left, next[left]!);
    }
    const out: Segments = { starts: [], ends: [], ids: [] };
    // Unused pieces are split back into the pieces they were merged from (with a stack, not
    // recursion: a model's pieces can be arbitrarily long).
    const emit = (whole: string, at: number) => {
      const todo: [string, number][] = [[whole, at]];
      for (let top; (top = todo.pop());) {
        const [piece, s] = top;
        const id = this.pieceIds.get(piece);
        const split = id !== undefined && this.pieces[id]!.type === PieceType.Unused ? revMerge.get(piece) : undefined;
        if (split) { todo.push([split[1], s + [...split[0]].length], [split[0], s]); continue; }
        out.starts.push(s); out.ends.push(s + [...piece].length); out.ids.push(id ?? this.unkId);
      }
    };
    for (let i = start.length ? 0 : -1; i !== -1; i = next[i]!) emit(str.slice(at[start[i]!]!, at[end[i]!]!), start[i]!);
    return out;
  }
}

const byteBuf = new Uint8Array(4);
/** Writes the UTF-8 bytes of a code point into `out`; returns how many. */
function utf8Bytes(cp: number, out: Uint8Array): number {
  if (cp < 0x80) { out[0] = cp; return 1; }
  if (cp < 0x800) { out[0] = 0xc0 | (cp >> 6); out[1] = 0x80 | (cp & 63); return 2; }
  if (cp < 0x10000) { out[0] = 0xe0 | (cp >> 12); out[1] = 0x80 | ((cp >> 6) & 63); out[2] = 0x80 | (cp & 63); return 3; }
  out[0] = 0xf0 | (cp >> 18); out[1] = 0x80 | ((cp >> 12) & 63); out[2] = 0x80 | ((cp >> 6) & 63); out[3] = 0x80 | (cp & 63);
  return 4;
}

// ---------------------------------------------------------------------------------------------

// A Map: a piece named "constructor" must not find Object.prototype's.
const NAMED_SPECIALS = new Map<string, SpecialName>([
  ['[CLS]', 'cls'], ['<cls>', 'cls'], ['[SEP]', 'sep'], ['<sep>', 'sep'], ['[MASK]', 'mask'], ['<mask>', 'mask'],
  ['[PAD]', 'pad'], ['<eod>', 'eod'],
]);

export class SentencePieceTokenizer extends BaseTokenizer {
  readonly kind: string;
  readonly vocabSize: number;
  readonly model: SpModel;
  private readonly normalizer: SpNormalizer;
  private readonly encoder: UnigramModel | BpeModel;
  private readonly pieceIds = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly unkId: number;
  /** Hugging Face preprocessing from a tokenizer_config.json (see hfConfig.ts); none by default. */
  preprocess?: SpPreprocess;

  constructor(model: SpModel, what = 'SentencePiece model') {
    super();
    this.model = model;
    this.kind = `sentencepiece-${model.modelType}`;
    this.vocabSize = model.pieces.length;
    const userDefined: string[] = [];
    model.pieces.forEach((p, id) => {
      this.pieceIds.set(p.piece, id);
      if (p.type === PieceType.UserDefined) userDefined.push(p.piece);
      if (p.type === PieceType.Byte) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (!m) throw new TokenizerError(`corrupt ${what}: byte piece '${p.piece}' is not of the form <0xNN>`);
        this.byteIds[parseInt(m[1]!, 16)] = id;
      }
    });
    if (model.byteFallback && this.byteIds.includes(-1)) throw new TokenizerError(`corrupt ${what}: byte_fallback is on but not all 256 <0xNN> pieces exist`);
    this.unkId = model.pieces.findIndex((p) => p.type === PieceType.Unknown);
    // Unknown stretches need an id (a tokenizer.json Unigram may lack unk_id).
    if (this.unkId < 0) throw new TokenizerError(`unsupported ${what}: no unknown piece (unk_id), so text outside the vocabulary has no id`);
    this.normalizer = new SpNormalizer(model.normalizer, userDefined, what);
    this.encoder = model.modelType === 'unigram' ? new UnigramModel(model.pieces, this.unkId) : new BpeModel(model.pieces, this.unkId);
    const specials: Partial<Record<SpecialName, SpecialToken>> = {};
    const set = (name: SpecialName, id: number) => { if (id >= 0 && id < model.pieces.length) specials[name] ??= { token: model.pieces[id]!.piece, id }; };
    set('unk', this.unkId);
    set('bos', model.bosId);
    set('eos', model.eosId);
    set('pad', model.padId);
    model.pieces.forEach((p, id) => { const name = NAMED_SPECIALS.get(p.piece); if (name) set(name, id); });
    this.specialTokens = specials;
    this.framing = specials.cls && specials.sep ? 'bert' : specials.eos ? 'eos' : 'none';
  }

  /** Normalized text as the model sees it (for inspection and tests). */
  normalize(text: string): string {
    return cpsToString(this.normalizer.normalize(this.preprocess ? hfPreprocess(text, this.preprocess).text : text).cps);
  }

  protected pieces(text: string): Pieces {
    const pre = this.preprocess && hfPreprocess(text, this.preprocess);
    const { cps, orig } = this.normalizer.normalize(pre ? pre.text : text);
    if (pre) for (let k = 0; k < orig.length; k++) orig[k] = pre.orig[orig[k]!]!;
    const seg = this.encoder.encode(cps);
    const out: Pieces = { ids: [], tokens: [], offsets: [] };
    for (let k = 0; k < seg.ids.length; k++) {
      const s = seg.starts[k]!, id = seg.ids[k]!;
      let e = seg.ends[k]!;
      // As the reference does, a run of unknown stretches becomes one unknown piece.
      if (id === this.unkId) while (k + 1 < seg.ids.length && seg.ids[k + 1] === this.unkId) e = seg.ends[++k]!;
      if (id === this.unkId && this.model.byteFallback) {
        // One piece per UTF-8 byte; as in the reference, only a character's last byte carries its
        // span, the others get an empty one at its start.
        for (let c = s; c < e; c++) {
          const from = orig[c]!, to = orig[c + 1]!;
          const n = utf8Bytes(cps[c]!, byteBuf);
          for (let j = 0; j < n; j++) {
            const byteId = this.byteIds[byteBuf[j]!]!;
            out.ids.push(byteId); out.tokens.push(this.model.pieces[byteId]!.piece);
            out.offsets.push([from, j === n - 1 ? to : from]);
          }
        }
      } else {
        out.ids.push(id);
        // Like the reference, an unknown stretch is reported by its text, not as "<unk>".
        out.tokens.push(id === this.unkId ? cpsToString(cps.slice(s, e)) : this.model.pieces[id]!.piece);
        out.offsets.push([orig[s]!, orig[e]!]);
      }
    }
    return out;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = this.checkIds(ids);
    const skipSpecial = options.skipSpecialTokens ?? true;
    const pieces = this.model.pieces;
    let text = '', bosSpace = true;
    let bytes: number[] = [];
    const flush = () => {
      if (!bytes.length) return;
      const s = decodeUtf8PerByte(bytes);
      bytes = [];
      if (s) { text += s; bosSpace = false; }
    };
    for (const id of list) {
      const p = pieces[id]!;
      if (p.type === PieceType.Byte) { bytes.push(parseInt(p.piece.slice(3, 5), 16)); continue; }
      flush();
      let surface: string;
      if (p.type === PieceType.Control) surface = skipSpecial ? '' : p.piece;
      else if (p.type === PieceType.Unknown) { surface = this.model.unkSurface; bosSpace = false; }
      else {
        // Only the very first piece can carry the dummy-prefix space.
        let piece = p.piece;
        if (bosSpace && this.model.normalizer.addDummyPrefix && piece.startsWith('\u2581')) piece = piece.slice(1);
        surface = piece.replaceAll('\u2581', ' ');
        bosSpace = false;
      }
      text += surface;
    }
    flush();
    return text;
  }

  tokenToId(token: string): number | undefined {
    return this.pieceIds.get(token);
  }

  idToToken(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) throw new TokenizerError(`id ${id} is out of range [0, ${this.vocabSize})`);
    return this.model.pieces[id]!.piece;
  }

  /** A tokenizer over only the given pieces (original ids, kept in that order); see keepTokens.ts. */
  withPieces(keep: number[]): SentencePieceTokenizer {
    const pieces = keep.map((id) => this.model.pieces[id]!);
    const newId = new Map(keep.map((id, i) => [id, i]));
    const remap = (id: number) => newId.get(id) ?? -1;
    const t = this.rebuild({ ...this.model, source: undefined, pieces, unkId: remap(this.model.unkId), bosId: remap(this.model.bosId), eosId: remap(this.model.eosId), padId: remap(this.model.padId) });
    t.preprocess = this.preprocess;
    return t;
  }

  /** A tokenizer of the same kind over another model. */
  protected rebuild(model: SpModel): SentencePieceTokenizer {
    return new SentencePieceTokenizer(model);
  }
}

/** UTF-8 decoding where each byte of an invalid sequence becomes U+FFFD, as the reference does. */
function decodeUtf8PerByte(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    let cp = n === 1 ? b : n === 2 ? b & 0x1f : n === 3 ? b & 0x0f : b & 0x07;
    let ok = n > 0 && i + n <= bytes.length;
    for (let k = 1; ok && k < n; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = false;
    if (ok) { out += String.fromCodePoint(cp); i += n; } else { out += '\ufffd'; i += 1; }
  }
  return out;
}

export function loadSentencePiece(bytes: Uint8Array, what?: string): SentencePieceTokenizer {
  return new SentencePieceTokenizer(parseSentencePieceModel(bytes, what), what);
}
