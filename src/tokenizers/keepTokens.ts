/**
 * Vocabulary trimming (bert4keras `keep_tokens`): keep only some tokens of a vocabulary, renumber
 * them 0..n-1, and remember each kept token's original id so a checkpoint's embedding (and output
 * bias) rows can be sliced to match: `newEmbedding[i] = oldEmbedding[keepTokens[i]]`.
 *
 * Kept tokens stay in their original order. Special tokens (and, for SentencePiece, the unknown,
 * control and byte pieces it cannot work without) are always kept. Texts of the corpus a trimmed
 * vocabulary was chosen from tokenize to the same pieces as before: Viterbi and greedy
 * longest-match only ever lose alternatives they did not pick.
 */
import { preview } from './base.ts';
import { PieceType, SentencePieceTokenizer } from './sentencepiece.ts';
import { WordPieceTokenizer } from './wordpiece.ts';
import { TokenizerError, type Tokenizer } from './types.ts';

export interface KeepOptions {
  /** Tokens to keep, as strings of the vocabulary. */
  tokens?: Iterable<string>;
  /** Keep every token these texts encode to. */
  corpus?: Iterable<string>;
}

/** Original ids to keep (ascending): the requested tokens plus those the tokenizer needs. */
export function chooseKeepTokens(tokenizer: Tokenizer, options: KeepOptions): number[] {
  const keep = new Set<number>();
  for (const t of Object.values(tokenizer.specialTokens)) if (t) keep.add(t.id);
  if (tokenizer instanceof SentencePieceTokenizer) {
    tokenizer.model.pieces.forEach((p, id) => {
      if (p.type === PieceType.Unknown || p.type === PieceType.Control || p.type === PieceType.Byte) keep.add(id);
    });
  }
  for (const token of options.tokens ?? []) {
    const id = tokenizer.tokenToId(token);
    if (id === undefined) throw new TokenizerError(`keepTokens: ${JSON.stringify(token)} is not in the vocabulary`);
    keep.add(id);
  }
  for (const text of options.corpus ?? []) for (const id of tokenizer.encode(text, undefined, { addSpecialTokens: false }).ids) keep.add(id);
  return [...keep].sort((a, b) => a - b);
}

/** A tokenizer over only the tokens with these original ids (in this order); its `keepTokens` is `keep`. */
export function trimTokenizer(tokenizer: Tokenizer, keep: readonly number[]): Tokenizer {
  const seen = new Set<number>();
  for (const id of keep) {
    if (!Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize) throw new TokenizerError(`keepTokens: id ${id} is out of range [0, ${tokenizer.vocabSize})`);
    if (seen.has(id)) throw new TokenizerError(`keepTokens: id ${id} is listed twice`);
    seen.add(id);
  }
  let trimmed: Tokenizer;
  if (tokenizer instanceof WordPieceTokenizer) {
    if (!keep.some((id) => tokenizer.idToToken(id) === tokenizer.unkToken)) throw new TokenizerError(`keepTokens: a WordPiece vocabulary must keep ${tokenizer.unkToken}`);
    trimmed = tokenizer.withTokens([...keep]);
  } else if (tokenizer instanceof SentencePieceTokenizer) {
    trimmed = tokenizer.withPieces([...keep]);
  } else {
    throw new TokenizerError(`keepTokens: trimming a ${tokenizer.kind} vocabulary is not supported (only WordPiece, SentencePiece and CPM; byte-level BPE merges need every intermediate token)`);
  }
  trimmed.keepTokens = [...keep];
  return trimmed;
}

/** Parses a bert4keras keep_tokens.json: a JSON array of distinct non-negative integer ids. */
export function parseKeepTokens(text: string, source = 'keep_tokens.json'): number[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`corrupt keep_tokens file ${source}: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new TokenizerError(`corrupt keep_tokens file ${source}: expected a JSON array of ids`);
  const seen = new Set<number>();
  value.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0) throw new TokenizerError(`corrupt keep_tokens file ${source}: entry ${i} is ${preview(id)}, not a non-negative integer`);
    if (seen.has(id)) throw new TokenizerError(`corrupt keep_tokens file ${source}: id ${id} appears twice`);
    seen.add(id);
  });
  return value as number[];
}
