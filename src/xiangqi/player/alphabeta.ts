/**
 * Alpha-beta search over the board value network: the `alphabeta` play mode. Negamax to a full
 * width depth, deepened one ply at a time while the budget lasts, then a capture search
 * (quiescence) so that a leaf is never valued in the middle of an exchange: the side to move may
 * stand on the value of the position or take; in check it must answer the check. A leaf's score is
 * the value network's expected score for the side to move (win 1, draw ½, loss 0), so the search
 * needs a value that is cheap per position (the board network, boardValue.ts: microseconds), not a
 * network run. The rules inside the tree: no legal move loses (mate and stalemate alike); a
 * position seen before (in the game or on the path) is scored a draw, which keeps the search out of
 * cycles (perpetual check at the root is left to playableMoves, the 60-move rule is not scored).
 * The root's moves are searched in the order given (the policy's, most likely first) and, from the
 * second depth on, the previous depth's best first; a tie keeps the earlier move, so the policy
 * breaks ties. Capture order (most valuable victim, least valuable attacker) only speeds the search.
 */
import { moveFrom, moveTo, type Move, type Position } from '../board.ts';
import type { Budget } from './search.ts';

export interface AlphaBetaResult {
  move: Move;
  /**
   * Per root move, in root order, at the deepest completed depth: the chosen move's expected score,
   * and for the others a bound it does not exceed (alpha-beta proves a move worse, not by how much).
   */
  scores: number[];
  /** Positions visited (interior, leaves and capture search). */
  nodes: number;
  /** Deepest full-width depth completed. */
  depth: number;
  ms: number;
}

/** Deepest full-width depth when the budget sets none (iterative deepening stops earlier on time or nodes). */
export const MAX_DEPTH = 32;
/** Plies of the capture search below the full-width depth. */
const CAPTURE_PLIES = 8;
/** Ordering only: which captures to try first (king, advisor, elephant, horse, rook, cannon, pawn). */
const ORDER = [0, 100, 2, 2, 4, 9, 4.5, 1];

class OutOfBudget extends Error {}

/**
 * Search from `pos` (left as it was) over `rootMoves` within `budget` (depth: full-width plies; nodes:
 * positions visited; timeMs; stop). At least depth 1 is always completed. `value(pos)` is the
 * expected score of `pos` for its side to move.
 */
export async function alphaBeta(pos: Position, rootMoves: Move[], budget: Budget, value: (pos: Position) => number): Promise<AlphaBetaResult> {
  const started = performance.now();
  if (rootMoves.length === 0) throw new Error('no move to search');
  const maxDepth = budget.depth ?? MAX_DEPTH;
  if (!(Number.isInteger(maxDepth) && maxDepth >= 1)) throw new Error(`search depth must be an integer of at least 1, got ${budget.depth}`);
  if (budget.nodes !== undefined && !(budget.nodes >= 1)) throw new Error(`search nodes must be at least 1, got ${budget.nodes}`);
  let nodes = 0, limited = false;
  const out = () => (budget.stop?.stopped ?? false) || (budget.nodes !== undefined && nodes >= budget.nodes) || (budget.timeMs !== undefined && performance.now() - started > budget.timeMs);
  const visit = () => {
    // Checked every 256 positions (a clock read per position would cost more than the position).
    if (limited && (++nodes & 255) === 0 && out()) throw new OutOfBudget();
    if (!limited) nodes++;
  };

  const { bestOf, captureSearch } = captureSearcher(pos, value, visit);

  const search = (depth: number, alpha: number, beta: number): number => {
    const moves = pos.legalMoves();
    if (moves.length === 0) { visit(); return 0; }
    // The game's positions and the path's are on one stack: back to any of them is a draw here.
    if (pos.repetitions() > 0) { visit(); return 0.5; }
    if (depth === 0) return captureSearch(alpha, beta, CAPTURE_PLIES);
    visit();
    return bestOf(moves, alpha, beta, -1, (a, b) => search(depth - 1, a, b));
  };

  let order = rootMoves.map((_, i) => i);
  let scores = rootMoves.map(() => NaN);
  let chosen = 0, completed = 0;
  for (let depth = 1; depth <= maxDepth; depth++) {
    limited = depth > 1; // depth 1 always completes
    const now = rootMoves.map(() => NaN);
    let alpha = -1, bestIndex = order[0]!;
    try {
      for (const i of order) {
        // Between root moves the event loop runs, so a UCI `stop` can arrive.
        if (limited) { await new Promise((r) => setImmediate(r)); if (out()) throw new OutOfBudget(); }
        pos.make(rootMoves[i]!);
        let s: number;
        try {
          // Above the best so far or not: a worse move fails low, which is all the root needs to know.
          s = 1 - search(depth - 1, -1e-9, 1 - alpha);
        } finally {
          pos.unmake();
        }
        now[i] = s;
        if (s > alpha) { alpha = s; bestIndex = i; }
      }
    } catch (e) {
      if (!(e instanceof OutOfBudget)) throw e;
      // Cut short: the previous depth's best was searched first at this depth; a move that beat it
      // there is the better choice, otherwise it stays.
      if (!Number.isNaN(now[order[0]!]!)) chosen = bestIndex;
      break;
    }
    scores = now;
    completed = depth;
    chosen = bestIndex;
    order = [bestIndex, ...order.filter((i) => i !== bestIndex)]; // best first at the next depth, the rest as given
    if (rootMoves.length === 1 || alpha >= 1 || out()) break; // a forced win needs no deeper look
  }
  return { move: rootMoves[chosen]!, scores, nodes, depth: completed, ms: performance.now() - started };
}

/**
 * The capture search (quiescence) and the move loop it shares with the full-width search, over
 * `pos`; `visit` is called once per position (alphaBeta counts them and stops there on its budget).
 */
function captureSearcher(pos: Position, value: (pos: Position) => number, visit: () => void) {
  const ordered = (moves: Move[]): Move[] => {
    const victim = (m: Move) => ORDER[pos.pieceAt(moveTo(m)) & 7]!;
    const captures = moves.filter((m) => pos.pieceAt(moveTo(m)) !== 0);
    captures.sort((a, b) => victim(b) - victim(a) || ORDER[pos.pieceAt(moveFrom(a)) & 7]! - ORDER[pos.pieceAt(moveFrom(b)) & 7]!);
    return captures.length ? [...captures, ...moves.filter((m) => pos.pieceAt(moveTo(m)) === 0)] : moves;
  };

  /** The best score of `moves` for the side to move, from `best` up, each move scored by `reply` (the opponent's score after it, in the flipped window). */
  const bestOf = (moves: Move[], alpha: number, beta: number, best: number, reply: (alpha: number, beta: number) => number): number => {
    for (const m of ordered(moves)) {
      pos.make(m);
      let s: number;
      try {
        s = 1 - reply(1 - beta, 1 - alpha);
      } finally {
        pos.unmake();
      }
      if (s > best) best = s;
      if (s > alpha) alpha = s;
      if (alpha >= beta) break;
    }
    return best;
  };

  const captureSearch = (alpha: number, beta: number, plies: number): number => {
    visit();
    const moves = pos.legalMoves();
    if (moves.length === 0) return 0;
    const inCheck = pos.inCheck();
    let best = -1;
    if (!inCheck) {
      best = value(pos);
      if (best >= beta || plies === 0) return best;
      if (best > alpha) alpha = best;
    } else if (plies === 0) return value(pos);
    const tried = inCheck ? moves : moves.filter((x) => pos.pieceAt(moveTo(x)) !== 0);
    return bestOf(tried, alpha, beta, best, (a, b) => captureSearch(a, b, plies - 1));
  };

  return { bestOf, captureSearch };
}

/**
 * The expected score of `pos` for its side to move once the captures are played out: the capture
 * search alone (no full-width ply), as at the alpha-beta search's leaves. No legal move scores 0.
 */
export function captureSearchValue(pos: Position, value: (pos: Position) => number, plies = CAPTURE_PLIES): number {
  return captureSearcher(pos, value, () => {}).captureSearch(-1, 2, plies);
}
