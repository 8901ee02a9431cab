/**
 * The one interface every tokenizer kind implements, and the shapes it returns.
 *
 * Offsets are [start, end) indices into the ORIGINAL text in UTF-16 code units, so
 * `text.slice(start, end)` is the surface of a token (bert4keras's `rematch`, Hugging Face's
 * `offset_mapping`). Special tokens added by framing get [0, 0].
 */

/** Names under which special tokens are exposed; a kind exposes the ones its vocabulary has. */
export type SpecialName = 'cls' | 'sep' | 'pad' | 'unk' | 'mask' | 'bos' | 'eos' | 'eod';

export interface SpecialToken {
  token: string;
  id: number;
}

export type Truncation = 'longest_first' | 'only_first' | 'only_second';

export interface EncodeOptions {
  /** Maximum total length including special tokens. */
  maxlen?: number;
  /** Which sequence loses tokens (from its end) when over `maxlen`. Default 'longest_first'. */
  truncation?: Truncation;
  /** Add the kind's framing ([CLS] a [SEP] b [SEP], a </s>, ...). Default true. */
  addSpecialTokens?: boolean;
  /**
   * Special tokens written in the text ("今天[MASK]气", "</s>") become their own ids, each stretch
   * between them tokenized alone, as Hugging Face tokenizers read them. Default false: the text is
   * tokenized as written, as bert4keras and the reference WordPiece / SentencePiece algorithms do.
   */
  parseSpecialTokens?: boolean;
}

export interface Encoding {
  ids: number[];
  tokens: string[];
  /** Segment (token type) ids: 0 for the first text and its framing, 1 for the pair. */
  segments: number[];
  /** [start, end) in UTF-16 code units of the text the token came from; [0, 0] for added tokens. */
  offsets: [number, number][];
}

export interface BatchOptions extends EncodeOptions {
  /** 'longest' pads to the longest row; 'max_length' pads every row to `maxlen`. Default 'longest'. */
  padding?: 'longest' | 'max_length';
}

export interface BatchEncoding {
  ids: number[][];
  segments: number[][];
  /** 1 for real tokens, 0 for padding. */
  attentionMask: number[][];
  /** Unpadded length of each row. */
  lengths: number[];
}

export interface DecodeOptions {
  /** Drop special (control) tokens from the text. Default true. */
  skipSpecialTokens?: boolean;
}

/** How special tokens frame one text or a pair. */
export type Framing = 'bert' | 'eos' | 'none';

export interface Tokenizer {
  /** 'wordpiece' | 'sentencepiece-unigram' | 'sentencepiece-bpe' | 'byte-bpe' | 'cpm' ... */
  readonly kind: string;
  readonly vocabSize: number;
  readonly specialTokens: Readonly<Partial<Record<SpecialName, SpecialToken>>>;
  readonly framing: Framing;
  /**
   * For a trimmed vocabulary: original id of each kept token, in new-id order, so a checkpoint's
   * embedding rows can be sliced with it (bert4keras `keep_tokens`).
   */
  keepTokens?: number[];
  tokenize(text: string): string[];
  encode(text: string, pair?: string, options?: EncodeOptions): Encoding;
  encodeBatch(texts: (string | [string, string])[], options?: BatchOptions): BatchEncoding;
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** Id of a token, or undefined when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined;
  /** Token of an id; throws TokenizerError when the id is out of range. */
  idToToken(id: number): string;
}

/** Every tokenizer error: bad files, unsupported models, ids out of range, bad options. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}
