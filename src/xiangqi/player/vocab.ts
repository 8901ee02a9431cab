/**
 * The player's vocabulary: ICCS characters, one token each, as in the post, plus result tokens and
 * the tokens that write a board (by format, see FORMATS). A game is `[result] c c c c c c c c ...`
 * (4 characters per move), after the board prefix if the format has one. The first token says how the game ended
 * (or that we do not say): it gives the model something to predict the first move from, and at play
 * time we ask for "the side the model plays wins" (see docs/XIANGQI.md, "The language-model player").
 */
import { FEN_LETTERS, IllegalMoveError, moveToIccs, parseSquare, makeMove, squareAt, KING, ADVISOR, ELEPHANT, HORSE, ROOK, CANNON, PAWN, type Move, type Position, type Side } from '../board.ts';

export const PAD = 0;
export const MOVE_CHARS = '0123456789abcdefghi';
/** Result tokens, after [PAD] and the 19 ICCS characters. */
export const RED_WINS = 20, BLACK_WINS = 21, DRAW = 22, UNKNOWN_RESULT = 23;
/** Position-prefix tokens (see positionTokens): an empty piece slot, and who is to move. */
export const ABSENT = 24, RED_TO_MOVE = 25, BLACK_TO_MOVE = 26;
/** Board-prefix tokens (see boardTokens): an empty point, then red and black pieces by kind (FEN letters). */
export const EMPTY_POINT = 27;
export const VOCAB = ['[PAD]', ...MOVE_CHARS, '[1-0]', '[0-1]', '[1/2-1/2]', '[*]', '[x]', '[red]', '[black]', '[.]', ...FEN_LETTERS.slice(1).toUpperCase(), ...FEN_LETTERS.slice(1)];

/**
 * How a model reads the game:
 * - `moves`: the result token, then every move since the start (the post's format).
 * - `position`: the result token, the position some plies ago written as piece squares
 *   (positionTokens), then the moves since. The model reads the board instead of replaying a long
 *   game in its head, never runs out of window in long games, and can start from any FEN.
 * - `board`: the same with the position written point by point (boardTokens): each of the 90
 *   points is a token at a fixed place, so what stands between two pieces is in plain sight.
 */
export type ContextFormat = 'moves' | 'position' | 'board';

/** Piece slots of one side in the position prefix: king, 2 advisors, 2 elephants, 2 horses, 2 rooks, 2 cannons, 5 pawns. */
const SLOTS: ReadonlyArray<readonly [number, number]> = [[KING, 1], [ADVISOR, 2], [ELEPHANT, 2], [HORSE, 2], [ROOK, 2], [CANNON, 2], [PAWN, 5]];

/**
 * The position in ICCS characters only: who is to move, then each piece's square (`e0` for the red
 * king at the start) in a fixed slot order (side, then kind, then square), `[x] [x]` for a captured
 * one: 65 tokens. The slot says what the piece is, so no piece letters are needed.
 */
export function positionTokens(pos: Position): number[] {
  const squares: string[][] = Array.from({ length: 16 }, () => []); // [side * 8 + kind]
  for (let file = 0; file < 9; file++) {
    for (let rank = 0; rank < 10; rank++) {
      const piece = pos.pieceAt(squareAt(file, 9 - rank));
      if (piece) squares[(piece & 16 ? 8 : 0) + (piece & 7)]!.push(MOVE_CHARS[10 + file]! + rank);
    }
  }
  const out = [sideToken(pos.side)];
  for (const side of [0, 8]) {
    for (const [kind, count] of SLOTS) {
      const found = squares[side + kind]!;
      if (found.length > count) throw new Error(`the position has ${found.length} pieces of kind ${kind} for one side, at most ${count} fit the prefix`);
      for (let i = 0; i < count; i++) {
        const sq = found[i];
        if (sq) out.push(charId(sq[0]!), charId(sq[1]!));
        else out.push(ABSENT, ABSENT);
      }
    }
  }
  return out;
}

/**
 * The position point by point: who is to move, then the 90 points in FEN order (rank 9 down to
 * rank 0, files a to i), each `[.]` or the piece standing there: 91 tokens.
 */
export function boardTokens(pos: Position): number[] {
  const out = [sideToken(pos.side)];
  for (let row = 0; row < 10; row++) {
    for (let file = 0; file < 9; file++) {
      const piece = pos.pieceAt(squareAt(file, row));
      out.push(piece ? EMPTY_POINT + (piece & 7) + (piece & 16 ? 7 : 0) : EMPTY_POINT);
    }
  }
  return out;
}

const sideToken = (side: Side): number => (side === 0 ? RED_TO_MOVE : BLACK_TO_MOVE);

/**
 * Per format: the vocabulary its models have (the first vocabSize tokens of VOCAB: saved models are
 * checked against it, so tokens are only ever appended), the board prefix it reads, and the default
 * window (result token + prefix + 64 moves - 1; `moves`: 127 moves, most games).
 */
export const FORMATS: Record<ContextFormat, { vocabSize: number; prefixTokens: number; prefix: (pos: Position) => number[]; defaultMaxPosition: number }> = {
  moves: { vocabSize: UNKNOWN_RESULT + 1, prefixTokens: 0, prefix: () => [], defaultMaxPosition: 512 },
  position: { vocabSize: BLACK_TO_MOVE + 1, prefixTokens: 65, prefix: positionTokens, defaultMaxPosition: 1 + 65 + 64 * 4 - 1 },
  board: { vocabSize: EMPTY_POINT + 15, prefixTokens: 91, prefix: boardTokens, defaultMaxPosition: 1 + 91 + 64 * 4 - 1 },
};

export function isContextFormat(name: string): name is ContextFormat {
  return Object.hasOwn(FORMATS, name);
}

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
