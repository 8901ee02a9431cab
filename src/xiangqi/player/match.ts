/**
 * Games between movers: the model player and two baselines (a uniformly random legal mover and a
 * 1-ply material-greedy player), used by the strength benchmark and the tests.
 */
import { spawn } from 'node:child_process';
import { Position, moveTo, squareAt, BLACK, KING, type GameResult, type Move, type Outcome } from '../board.ts';
import { moveToUci, parseUci } from '../notation.ts';
import { hashString, Random } from '../../util/random.ts';
import { playableMoves, type Budget, type Player } from './player.ts';

/** Something that picks a legal move in a position that is not over. */
export interface Mover {
  name: string;
  move(pos: Position): Promise<Move> | Move;
  /**
   * Called before each game with its index in the match (a UCI engine is sent `ucinewgame`; a seeded
   * mover reseeds from its seed and the index, so game i is the same game whether or not the games
   * before it were played in this process, and a match can resume).
   */
  newGame?(game?: number): Promise<void> | void;
}

/** A seeded stream that restarts at each game from (seed, game index): see Mover.newGame. */
function perGameRandom(seed: number): { random: Random; newGame(game?: number): void } {
  const state = { random: new Random(seed), newGame(game?: number) { if (game !== undefined) state.random = new Random(hashString(`${seed}:${game}`)); } };
  return state;
}

/**
 * A UCI engine in a child process (Fairy-Stockfish's xiangqi squares, ranks 1-10): each move sends
 * the game from the start and `go <go>` (e.g. `depth 1`; an empty `go`: the engine's default budget), and plays its bestmove. `options` are
 * sent as setoption commands after `uci`. close() ends the process.
 */
export async function uciMover(name: string, command: string, args: string[], o: { go: string; options?: Record<string, string>; timeoutMs?: number }): Promise<Mover & { close(): Promise<void> }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let buffer = '', stderr = '';
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, nl).trim());
      buffer = buffer.slice(nl + 1);
    }
    wake?.();
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-2000); });
  const send = (line: string) => child.stdin.write(line + '\n');
  const until = async (pattern: RegExp): Promise<string> => {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    for (;;) {
      const i = lines.findIndex((l) => pattern.test(l));
      if (i >= 0) return lines.splice(0, i + 1)[i]!;
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) before answering ${pattern}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`${name} did not answer ${pattern} within ${o.timeoutMs ?? 60_000} ms`);
      await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    }
  };
  send('uci');
  await until(/^uciok$/);
  for (const [k, v] of Object.entries(o.options ?? {})) send(`setoption name ${k} value ${v}`);
  send('isready');
  await until(/^readyok$/);
  return {
    name,
    async newGame() {
      send('ucinewgame');
      send('isready');
      await until(/^readyok$/);
    },
    async move(pos) {
      send(`position startpos moves ${pos.history().map(moveToUci).join(' ')}`.trimEnd());
      send(o.go ? `go ${o.go}` : 'go');
      const best = (await until(/^bestmove /)).split(/\s+/)[1]!;
      return parseUci(pos, best);
    },
    async close() {
      send('quit');
      child.stdin.end();
      if (child.exitCode === null) await new Promise((resolve) => { child.once('exit', resolve); setTimeout(resolve, 3000); });
      if (child.exitCode === null) child.kill();
    },
  };
}

export function randomMover(seed: number): Mover {
  const r = perGameRandom(seed);
  return { name: 'random', newGame: r.newGame, move: (pos) => { const legal = pos.legalMoves(); return legal[r.random.int(legal.length)]!; } };
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
  const r = perGameRandom(seed);
  return {
    name: 'greedy',
    newGame: r.newGame,
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
      return best[r.random.int(best.length)]!;
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
  const r = perGameRandom(seed);
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
  const choose = (pos: Position) => { const { moves, ...judgement } = best(pos); return { move: moves[r.random.int(moves.length)]!, ...judgement }; };
  return { name: 'search', best, choose, newGame: r.newGame, move: (pos) => choose(pos).move };
}

/**
 * The player as a mover. Per move it records the think time and the nodes searched (1 for the modes
 * that do not search): on a loaded machine a time-budgeted search sees fewer nodes, and only the
 * nodes show by how much.
 */
export function modelMover(player: Player, o: { temperature?: number; seed?: number; budget?: Budget } = {}): Mover & { thinkMs: number[]; nodes: number[] } {
  const r = perGameRandom(o.seed ?? 1);
  const thinkMs: number[] = [];
  const nodes: number[] = [];
  return {
    name: 'model',
    thinkMs,
    nodes,
    newGame: r.newGame,
    async move(pos) {
      const c = await player.choose(pos, { temperature: o.temperature ?? 0, random: () => r.random.next(), budget: o.budget });
      thinkMs.push(c.thinkMs);
      nodes.push(c.nodes ?? 1);
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

/**
 * Play one game from the start, after the `opening` moves if given (they count as the game's first
 * plies). Over `maxPlies` plies it is scored a draw.
 */
export async function playGame(red: Mover, black: Mover, o: { maxPlies?: number; quietLimit?: number; opening?: readonly Move[]; game?: number } = {}): Promise<GameRecord> {
  const pos = Position.start();
  for (const m of o.opening ?? []) pos.play(m);
  await red.newGame?.(o.game);
  await black.newGame?.(o.game);
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

/**
 * Common first moves for each side (ICCS), so games against a deterministic engine differ: central
 * cannon, same- and opposite-direction cannons, the elephant, horse and pawn openings and replies.
 */
export const OPENINGS: readonly string[] = [
  'h2e2 h9g7', 'h2e2 b9c7', 'b2e2 h7e7', 'c3c4 g6g5', 'g3g4 c6c5', 'b0c2 h9g7', 'c0e2 h7e7', 'h0g2 b9c7',
  'b2d2 h9g7', 'h2f2 b7e7', 'g3g4 h9g7', 'c3c4 b9c7', 'h2e2 h7e7', 'b2e2 b9c7', 'c0e2 c6c5', 'h0g2 g6g5',
];

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

/**
 * Score (win 1, draw ½) and the Elo difference it implies, 400·log10(s / (1 − s)), with a 95%
 * interval from the normal approximation of the mean game score (±1.96 standard errors, the
 * variance measured from the games). A score of 0 or 1 has no finite Elo: ±Infinity.
 */
export function eloEstimate(f: { wins: number; draws: number; losses: number }): { score: number; elo: number; low: number; high: number } {
  const n = f.wins + f.draws + f.losses;
  if (n === 0) return { score: NaN, elo: NaN, low: NaN, high: NaN };
  const score = (f.wins + 0.5 * f.draws) / n;
  const variance = (f.wins * (1 - score) ** 2 + f.draws * (0.5 - score) ** 2 + f.losses * score ** 2) / n;
  const se = Math.sqrt(variance / n);
  const elo = (s: number) => (s <= 0 ? -Infinity : s >= 1 ? Infinity : 400 * Math.log10(s / (1 - s)));
  return { score, elo: elo(score), low: elo(score - 1.96 * se), high: elo(score + 1.96 * se) };
}

/** The game's result from one side's view. */
export function resultFor(g: GameRecord, red: boolean): 'win' | 'draw' | 'loss' {
  return g.result === '1/2-1/2' ? 'draw' : (g.result === '1-0') === red ? 'win' : 'loss';
}

/**
 * `games` games, W/D/L from the model's side. Without openings the model is red in the first half and
 * black in the second; with `openings` game i starts from opening ⌊i/2⌋ (cycled) and colours
 * alternate, so each opening is played from both sides. `first` resumes a match: games before it are
 * not played (nor counted), and each game's movers are told its index (Mover.newGame), so game i
 * is the same game either way.
 */
export async function playMatch(model: Mover, opponent: Mover, games: number, onGame?: (i: number, g: GameRecord, modelIsRed: boolean) => void, o: { openings?: readonly (readonly Move[])[]; first?: number } = {}): Promise<MatchFigures> {
  const first = o.first ?? 0;
  if (!Number.isInteger(first) || first < 0) throw new Error(`playMatch: first must be a whole number >= 0, got ${first}`);
  const f: MatchFigures = { games: Math.max(0, games - first), wins: 0, draws: 0, losses: 0 };
  const openings = o.openings?.length ? o.openings : undefined;
  for (let i = first; i < games; i++) {
    const modelIsRed = openings ? i % 2 === 0 : i < Math.ceil(games / 2);
    const opening = openings?.[Math.floor(i / 2) % openings.length];
    const g = modelIsRed ? await playGame(model, opponent, { opening, game: i }) : await playGame(opponent, model, { opening, game: i });
    const r = resultFor(g, modelIsRed);
    if (r === 'draw') f.draws++;
    else if (r === 'win') f.wins++;
    else f.losses++;
    onGame?.(i, g, modelIsRed);
  }
  return f;
}
