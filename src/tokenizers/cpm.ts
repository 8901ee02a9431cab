/**
 * CPM-LM (TsinghuaAI CPM-Generate, 2020) tokenizer: jieba word segmentation, then inside each word
 * ' ' → '▂' and '\n' → '▃', words joined with single spaces, then the SentencePiece model
 * (bpe_3w_new/chinese_vocab.model). Decoding runs SentencePiece's decoder, drops the joining
 * spaces and maps '▂' / '▃' back. See docs/TOKENIZERS.md for how this compares with the release.
 *
 * Offsets are computed through the join: joined-text positions map back to the original text
 * (a joining space maps to the boundary between its two words).
 */
import type { Pieces } from './base.ts';
import { SentencePieceTokenizer, type SpModel } from './sentencepiece.ts';
import { TokenizerError, type DecodeOptions } from './types.ts';
import { isNode } from '../util/node/builtin.ts';

/** Splits text into words whose concatenation is the text (jieba's default, HMM on). */
export type Segmenter = (text: string) => string[];

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

let jieba: Segmenter | undefined;
/**
 * jieba from @node-rs/jieba with its bundled dictionary (loaded once, ~0.3 s). A native Node module
 * (an optional dependency): in a browser, give CpmTokenizer a segmenter of your own.
 */
export async function jiebaSegmenter(): Promise<Segmenter> {
  if (!jieba) {
    if (!isNode()) throw new TokenizerError('CPM tokenization segments words with jieba (@node-rs/jieba), a native Node module that cannot run in a browser: construct new CpmTokenizer(model, segmenter) with a segmenter of your own');
    // The specifier is not a literal, so bundlers for the browser leave the native module out.
    const pkg: string = '@node-rs/jieba';
    let mods: [typeof import('@node-rs/jieba'), typeof import('@node-rs/jieba/dict.js')];
    try {
      mods = await Promise.all([import(pkg), import(`${pkg}/dict.js`)]);
    } catch (e) {
      throw new TokenizerError(`CPM tokenization needs @node-rs/jieba (an optional dependency of bert4ts; npm install @node-rs/jieba): ${(e as Error).message}`);
    }
    const [{ Jieba }, { dict }] = mods;
    const j = Jieba.withDict(dict);
    jieba = (text) => j.cut(text, true);
  }
  return jieba;
}

/** True when a SentencePiece model looks like CPM's: it has the '▂' (space) and '▃' (newline) pieces. */
export function looksLikeCpm(model: SpModel): boolean {
  const pieces = new Set(model.pieces.map((p) => p.piece));
  return pieces.has('\u2582') && pieces.has('\u2583');
}

export class CpmTokenizer extends SentencePieceTokenizer {
  override readonly kind: string = 'cpm';

  constructor(model: SpModel, private readonly segment: Segmenter, what = 'CPM model') {
    super(model, what);
    this.framing = 'none'; // CPM-LM adds no special tokens; documents end with <eod> (id 7)
  }

  protected override pieces(text: string): Pieces {
    // jieba sees UTF-8, where a lone surrogate is U+FFFD; do the same so words still tile the text.
    const clean = text.replace(LONE_SURROGATE, '\ufffd');
    let joined = '';
    const toOrig: number[] = [];
    let pos = 0;
    for (const word of this.segment(clean)) {
      if (word === '') continue;
      if (clean.startsWith(word, pos) === false) throw new TokenizerError(`CPM: word segmentation does not tile the text at ${pos} (${JSON.stringify(word)})`);
      if (joined) { joined += ' '; toOrig.push(pos); }
      for (let k = 0; k < word.length; k++) {
        const c = word[k]!;
        joined += c === ' ' ? '\u2582' : c === '\n' ? '\u2583' : c;
        toOrig.push(pos + k);
      }
      pos += word.length;
    }
    if (pos !== clean.length) throw new TokenizerError(`CPM: word segmentation covered ${pos} of ${clean.length} characters`);
    toOrig.push(pos);
    const p = super.pieces(joined);
    p.offsets = p.offsets.map(([s, e]) => [toOrig[s]!, toOrig[e]!]);
    return p;
  }

  protected override rebuild(model: SpModel): SentencePieceTokenizer {
    return new CpmTokenizer(model, this.segment);
  }

  override decode(ids: ArrayLike<number>, options?: DecodeOptions): string {
    return super.decode(ids, options).replaceAll(' ', '').replaceAll('\u2582', ' ').replaceAll('\u2583', '\n');
  }
}
