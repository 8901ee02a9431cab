/**
 * Games between movers: the model player and two baselines (a uniformly random legal mover and a
 * 1-ply material-greedy player), used by the strength benchmark and the tests.
 */
import { Position, moveTo, squareAt, BLACK, KING, type GameResult, type Move, type Outcome } from '../board.ts';
import { Random } from '../../nn/params.ts';
import { playableMoves, type Player } from './player.ts';

/** Something that picks a legal move in a position that is not over. */
export interface Mover {
  name: string;
  move(pos: Position): Promise<Move> | Move;
}

export function randomMover(seed: number): Mover {
  const r = new Random(seed);
  return { name: 'random', move: (pos) => { const legal = pos.legalMoves(); return legal[r.int(legal.length)]!; } };
}

/** Material values (pawn 1; pawns across the river are worth more in play, ignored here). */
const VALUE = [0, 1000, 2, 2, 4, 9, 4.5, 1];

/** Material on the board for the side to move, less the opponent's (generals not counted). */
export function materialLead(pos: Position): number {
  let lead = 0;
  for (let row = 0; row < 10; row++) {
    for (let file = 0; file < 9; file++) {
      const p = pos.pieceAt(squareAt(file, row));
      if (p === 0 || (p & 7) === KING) continue;
      lead += (((p & BLACK) !== 0) === (pos.side === 1) ? 1 : -1) * VALUE[p & 7]!;
    }
  }
  return lead;
}

/**
 * Looks one ply ahead: mates if it can, otherwise takes the biggest capture, otherwise a random
 * move; never looks at the reply, so it hangs pieces.
 */
export function greedyMover(seed: number): Mover {
  const r = new Random(seed);
  return {
    name: 'greedy',
    move(pos) {
      let best: Move[] = [];
      let bestValue = -Infinity;
      for (const m of pos.legalMoves()) {
        let value = VALUE[pos.pieceAt(moveTo(m)) & 7]!;
        pos.make(m);
        if (!pos.hasLegalMove()) value = Infinity;
        pos.unmake();
        if (value > bestValue) { bestValue = value; best = [m]; }
        else if (value === bestValue) best.push(m);
      }
      return best[r.int(best.length)]!;
    },
  };
}

/**
 * What a move is worth after the opponent's best material reply: the piece it takes, minus the most
 * the opponent's reply nets (the piece it takes, less its own capturing piece if that can be taken
 * back on the spot). Mating or stalemating (both lose in xiangqi) is worth MATE; a reply that does
 * either costs MATE. The opponent can always take nothing, so its reply nets it at least 0. Two
 * plies and a recapture: enough never to hang a piece or miss a free one.
 */
export function materialValue(pos: Position, m: Move): number {
  return judge(pos, m).value;
}

/** materialValue, with the opponent's number of replies and whether the move repeats a position. */
function judge(pos: Position, m: Move): { value: number; replies: number; repeats: boolean } {
  const gain = VALUE[pos.pieceAt(moveTo(m)) & 7]!;
  pos.make(m);
  let worst = 0;
  const replies = pos.legalMoves();
  const repeats = pos.repetitions() > 0;
  if (replies.length === 0) worst = -MATE;
  for (const r of replies) {
    const to = moveTo(r);
    let loss = VALUE[pos.pieceAt(to) & 7]!;
    pos.make(r);
    if (!pos.hasLegalMove()) loss = MATE; // mated or stalemated: both lose
    else if (loss > 0 && pos.legalMoves().some((back) => moveTo(back) === to)) loss -= VALUE[pos.pieceAt(to) & 7]!;
    pos.unmake();
    if (loss > worst) worst = loss;
  }
  pos.unmake();
  return { value: gain - worst, replies: replies.length, repeats };
}

const MATE = 1000;

/**
 * How a search move compares: its material value, and the shares of playable moves worse on material
 * and worse at all.
 */
export interface Judgement { value: number; worse: number; outranked: number }

/**
 * Looks ahead on material (materialValue): mates in one, takes what it can keep, keeps what is
 * attacked, never walks into a mate in one. Among moves equal on material it avoids repeating a
 * position and leaves the opponent the fewest replies: a side with no legal move has lost (mate or
 * stalemate), so squeezing the opponent's moves is how it converts a material lead. A random move
 * among those still equal. The expert of the synthetic records (synthetic.ts) and a stronger
 * baseline than greedyMover.
 */
export function searchMover(seed: number): Mover & {
  /**
   * The best moves, their material value, the share of playable moves worse on material, and the
   * share worse at all (on material, repeating or replies).
   */
  best(pos: Position): Judgement & { moves: Move[] };
  /** A random one of the best moves, with best()'s judgement. */
  choose(pos: Position): Judgement & { move: Move };
} {
  const r = new Random(seed);
  type Judged = ReturnType<typeof judge>;
  // > 0 when a is better than b: material first, then not repeating, then fewer replies.
  const compare = (a: Judged, b: Judged): number =>
    a.value !== b.value ? a.value - b.value : a.repeats !== b.repeats ? (a.repeats ? -1 : 1) : b.replies - a.replies;
  const best = (pos: Position) => {
    const all = playableMoves(pos);
    const judged = all.map((m) => judge(pos, m));
    let top = judged[0]!;
    for (const j of judged) if (compare(j, top) > 0) top = j;
    const moves = all.filter((_, i) => compare(judged[i]!, top) === 0);
    const share = (worse: (j: Judged) => boolean) => judged.filter(worse).length / all.length;
    return { moves, value: top.value, worse: share((j) => j.value < top.value), outranked: share((j) => compare(j, top) < 0) };
  };
  const choose = (pos: Position) => { const { moves, ...judgement } = best(pos); return { move: moves[r.int(moves.length)]!, ...judgement }; };
  return { name: 'search', best, choose, move: (pos) => choose(pos).move };
}

export function modelMover(player: Player, o: { temperature?: number; seed?: number } = {}): Mover & { thinkMs: number[] } {
  const r = new Random(o.seed ?? 1);
  const thinkMs: number[] = [];
  return {
    name: 'model',
    thinkMs,
    async move(pos) {
      const c = await player.choose(pos, { temperature: o.temperature ?? 0, random: () => r.next() });
      thinkMs.push(c.thinkMs);
      return c.move;
    },
  };
}

export interface GameRecord {
  result: GameResult;
  reason: Outcome['reason'] | 'ply limit';
  plies: number;
  moves: Move[];
}

/** Play one game from the start. Over `maxPlies` plies it is scored a draw. */
export async function playGame(red: Mover, black: Mover, o: { maxPlies?: number; quietLimit?: number } = {}): Promise<GameRecord> {
  const pos = Position.start();
  const maxPlies = o.maxPlies ?? 400;
  for (;;) {
    const outcome = pos.outcome(o.quietLimit ?? 120);
    if (outcome) return { ...outcome, plies: pos.ply, moves: pos.history() };
    if (pos.ply >= maxPlies) return { result: '1/2-1/2', reason: 'ply limit', plies: pos.ply, moves: pos.history() };
    const mover = pos.side === 0 ? red : black;
    const m = await mover.move(pos);
    if (!pos.isLegal(m)) throw new Error(`${mover.name} played an illegal move at ply ${pos.ply}: ${pos.whyIllegal(m)}`);
    pos.make(m);
  }
}

/** Captures the opponent cannot answer by taking back on the same point: free material. */
export function freeCaptures(pos: Position): Move[] {
  const free: Move[] = [];
  for (const m of pos.legalMoves()) {
    const to = moveTo(m);
    if (!pos.pieceAt(to)) continue;
    pos.make(m);
    if (!pos.legalMoves().some((reply) => moveTo(reply) === to)) free.push(m);
    pos.unmake();
  }
  return free;
}

/** Material each side captured in a game ([red, black]), in VALUE units: who won the fight for pieces. */
export function capturedMaterial(moves: readonly Move[]): [number, number] {
  const pos = Position.start();
  const taken: [number, number] = [0, 0];
  for (const m of moves) {
    taken[pos.side] += VALUE[pos.pieceAt(moveTo(m)) & 7]!;
    pos.make(m);
  }
  return taken;
}

export interface MatchFigures { games: number; wins: number; draws: number; losses: number }

/** The game's result from one side's view. */
export function resultFor(g: GameRecord, red: boolean): 'win' | 'draw' | 'loss' {
  return g.result === '1/2-1/2' ? 'draw' : (g.result === '1-0') === red ? 'win' : 'loss';
}

/** `games` games, the model red in the first half and black in the second; W/D/L from the model's side. */
export async function playMatch(model: Mover, opponent: Mover, games: number, onGame?: (i: number, g: GameRecord, modelIsRed: boolean) => void): Promise<MatchFigures> {
  const f: MatchFigures = { games, wins: 0, draws: 0, losses: 0 };
  for (let i = 0; i < games; i++) {
    const modelIsRed = i < Math.ceil(games / 2);
    const g = modelIsRed ? await playGame(model, opponent) : await playGame(opponent, model);
    const r = resultFor(g, modelIsRed);
    if (r === 'draw') f.draws++;
    else if (r === 'win') f.wins++;
    else f.losses++;
    onGame?.(i, g, modelIsRed);
  }
  return f;
}
