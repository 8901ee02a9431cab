/**
 * The player's vocabulary: ICCS characters, one token each, as in the post. A game is
 * `[result] c c c c c c c c ...` (4 characters per move). The first token says how the game ended
 * (or that we do not say): it gives the model something to predict the first move from, and at play
 * time we ask for "the side the model plays wins" (see docs/XIANGQI.md, "The language-model player").
 */
import { IllegalMoveError, moveToIccs, parseSquare, makeMove, type Move, type Side } from '../board.ts';

export const PAD = 0;
export const MOVE_CHARS = '0123456789abcdefghi';
/** Result tokens, after [PAD] and the 19 ICCS characters. */
export const RED_WINS = 20, BLACK_WINS = 21, DRAW = 22, UNKNOWN_RESULT = 23;
export const VOCAB = ['[PAD]', ...MOVE_CHARS, '[1-0]', '[0-1]', '[1/2-1/2]', '[*]'];
export const VOCAB_SIZE = VOCAB.length;
/** Tokens per move (ICCS `h2e2`). */
export const MOVE_TOKENS = 4;

const CHAR_ID = new Map([...MOVE_CHARS].map((c, i) => [c, i + 1]));

export function resultToken(result: string | undefined): number {
  switch (result) {
    case '1-0': return RED_WINS;
    case '0-1': return BLACK_WINS;
    case '1/2-1/2': return DRAW;
    default: return UNKNOWN_RESULT;
  }
}

/** The result token that asks the model to play for `side`'s win. */
export const winFor = (side: Side): number => (side === 0 ? RED_WINS : BLACK_WINS);

export function charId(c: string): number {
  const id = CHAR_ID.get(c);
  if (id === undefined) throw new Error(`'${c}' is not an ICCS character (expected one of ${MOVE_CHARS})`);
  return id;
}

/** Token ids of one ICCS move, e.g. h2e2 -> [8, 3, 5, 3]. */
export function iccsTokens(iccs: string): number[] {
  if (!/^[a-i][0-9][a-i][0-9]$/.test(iccs)) throw new Error(`"${iccs}" is not an ICCS move like h2e2`);
  return [...iccs].map(charId);
}

export const moveTokens = (m: Move): number[] => iccsTokens(moveToIccs(m));

/** Token id -> ICCS character (for the 19 move characters). */
export function tokenChar(id: number): string {
  if (id < 1 || id > MOVE_CHARS.length) throw new Error(`token ${id} is not a move character`);
  return MOVE_CHARS[id - 1]!;
}

/** Tokens of a game: result token, then 4 characters per move. */
export function gameTokens(iccsMoves: readonly string[], result: number): number[] {
  const out = [result];
  for (const m of iccsMoves) out.push(...iccsTokens(m));
  return out;
}

export function moveFromIccs(iccs: string): Move {
  if (!/^[a-i][0-9][a-i][0-9]$/.test(iccs)) throw new IllegalMoveError(`"${iccs}" is not an ICCS move like h2e2`);
  return makeMove(parseSquare(iccs.slice(0, 2)), parseSquare(iccs.slice(2)));
}
