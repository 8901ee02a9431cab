/**
 * Self-play records for the board value (the post's idea 4, on the value): the alphabeta search over
 * a board value network plays both sides, and the games' results become training positions for the
 * next value (`bert4ts xiangqi value --mix`). Expert records rarely leave material hanging, so a value
 * fitted on them alone barely learns that material wins (a red rook off the start position moves
 * its P(red wins) from 0.34 to 0.24); in self-play the side that loses material is the side that gets
 * mated, and the value fitted on those games learns it. No language model runs: each move is a
 * shallow search (default 2 plies and the capture search, well under a second a game), so thousands
 * of games take minutes. Variety comes from `randomPlies` uniformly random opening moves and from the
 * root moves' seeded shuffle, which decides ties between equal moves.
 *
 * With `opponent: 'random'` the search plays the uniformly random mover instead (red in the
 * even-numbered games), and only the search's moves are targets: records of converting a won position
 * into mate, for the policy (`xiangqi train --mix`), which on its own wins material from the random
 * mover and then repeats moves instead of mating (expert iteration: imitate the search). Measured
 * (docs/XIANGQI.md): neither these records nor the learner's (`learnerGames`) lifted the plain
 * policy, because once the search is a rook up the value is ≈ 1 for every move and its quiet moves
 * are its tie-break, not a plan.
 */
import { Position, moveToIccs, type GameResult } from '../board.ts';
import { alphaBeta } from './alphabeta.ts';
import { boardValueProbs } from './boardValue.ts';
import { playableMoves, type Player } from './player.ts';
import { expectedScore, type ValueHead } from './value.ts';
import { Progress } from '../../util/progress.ts';
import { Random } from '../../util/random.ts';
import { AtomicFile } from '../../util/files.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';

export interface SelfPlayOptions {
  /** Full-width plies of each move's search (default 2). */
  depth?: number;
  /** Uniformly random moves that open each game (default 8). */
  randomPlies?: number;
  /** Over this many plies a game is cut and scored a draw (default 300). */
  maxPlies?: number;
  /** Who plays the search: itself (default), or the uniformly random mover. */
  opponent?: SelfPlayOpponent;
}

export type SelfPlayOpponent = 'self' | 'random';
export const SELF_PLAY_OPPONENTS: readonly SelfPlayOpponent[] = ['self', 'random'];

export interface SelfPlayRecord {
  id: string;
  iccs: string;
  /** The board's result; '*' for a learner's correction record (an unfinished game, which the board value skips). */
  result: GameResult | '*';
  /** How the game ended (checkmate, stalemate, repetition, ..., or 'ply limit'; 'correction' for a learner's correction record). */
  ending: string;
  /** Training targets for a policy (`xiangqi train --mix`): the search's moves, not the random ones. */
  learn: string;
}

/** Game `index` of a self-play run with `seed`: the same game for the same value, seed and options. */
export async function selfPlayGame(value: ValueHead, seed: number, index: number, o: SelfPlayOptions = {}): Promise<SelfPlayRecord> {
  return (await playSelfPlayGame(value, seed, index, o))[0]!;
}

/**
 * Expert iteration in the learner's own games (DAgger, Ross et al. 2011): the policy `learner` (its
 * plain choice, no rule checks) plays the random mover in the search's place, and the search (over
 * `value`, to `depth`) labels every one of the learner's decisions. Where the two agree, the move is
 * a target in the game's record; where they differ, the search's move is played with probability
 * `expertShare` (default ½, a target too) and otherwise the learner's (not a target), and a
 * correction record teaches the search's move after the game so far. So the targets are the
 * search's moves in the positions the learner reaches, which imitation of the search's own games
 * never shows it (the learner's mistakes). A game's record keeps the board's result; a correction
 * record, an unfinished game, has '*' (so the policy learns it with the result hidden, and the board
 * value, which needs results, skips it), and `ending` 'correction'.
 */
export async function learnerGames(value: ValueHead, learner: Player, seed: number, index: number, o: SelfPlayOptions & { expertShare?: number } = {}): Promise<SelfPlayRecord[]> {
  if (learner.mode !== 'policy' || learner.ruleChecks) throw new Error('the learner plays its plain policy: mode policy, rule checks off');
  if ((o.opponent ?? 'random') !== 'random') throw new Error(`a learner plays the random mover, not opponent "${o.opponent}"`);
  const expertShare = o.expertShare ?? 0.5;
  if (!(expertShare >= 0 && expertShare <= 1)) throw new Error(`expert share must be from 0 to 1, got ${o.expertShare}`);
  return playSelfPlayGame(value, seed, index, { ...o, opponent: 'random' }, { learner, expertShare });
}

async function playSelfPlayGame(value: ValueHead, seed: number, index: number, o: SelfPlayOptions, imitation?: { learner: Player; expertShare: number }): Promise<SelfPlayRecord[]> {
  if (value.metadata.input !== 'board') throw new Error('self-play needs a board value network (`bert4ts xiangqi value --input board`), not a head on the language model');
  const opponent = o.opponent ?? 'self';
  if (!SELF_PLAY_OPPONENTS.includes(opponent)) throw new Error(`self-play opponent must be one of ${SELF_PLAY_OPPONENTS.join(', ')}, got "${opponent}"`);
  // Against the random mover its moves give the variety; random opening plies would only spoil the search's side.
  const depth = o.depth ?? 2, randomPlies = o.randomPlies ?? (opponent === 'self' ? 8 : 0), maxPlies = o.maxPlies ?? 300;
  if (!(Number.isInteger(depth) && depth >= 1 && depth <= 8)) throw new Error(`self-play depth must be an integer from 1 to 8, got ${o.depth}`);
  if (!(Number.isInteger(randomPlies) && randomPlies >= 0)) throw new Error(`self-play random plies must be a whole number, got ${o.randomPlies}`);
  if (!(Number.isInteger(maxPlies) && maxPlies >= 1)) throw new Error(`self-play ply limit must be a positive integer, got ${o.maxPlies}`);
  const r = new Random(seed * 100_003 + index);
  const score = (pos: Position) => expectedScore(boardValueProbs(value, pos), pos.side);
  const pos = Position.start();
  const searchIsRed = index % 2 === 0;
  /** Whether the random mover chooses at `ply` (played from the start position, so red moves at even plies). */
  const opponentMoves = (ply: number) => opponent === 'random' && (ply % 2 === 0) !== searchIsRed;
  /** Plies that are targets: the search's (or, with a learner, the ones where the search's move was played). */
  const learn: boolean[] = [];
  const prefix = recordPrefix(o, Boolean(imitation));
  const corrections: SelfPlayRecord[] = [];
  const record = (result: GameResult, ending: string): SelfPlayRecord => ({
    id: `${prefix}-${seed}-${index}`, iccs: pos.history().map(moveToIccs).join(' '), result, ending,
    learn: learn.map((l) => (l ? '1' : '0')).join(''),
  });
  for (;;) {
    const outcome = pos.outcome();
    if (outcome) return [record(outcome.result, outcome.reason), ...corrections];
    if (pos.ply >= maxPlies) return [record('1/2-1/2', 'ply limit'), ...corrections];
    // The random mover draws from every legal move, as the bench's does; the search (and the opening plies) from the playable ones.
    const moves = opponentMoves(pos.ply) ? pos.legalMoves() : playableMoves(pos);
    for (let i = moves.length - 1; i > 0; i--) { const j = r.int(i + 1); [moves[i], moves[j]] = [moves[j]!, moves[i]!]; }
    if (pos.ply < randomPlies || opponentMoves(pos.ply)) {
      learn.push(false);
      pos.make(moves[0]!);
      continue;
    }
    const expert = (await alphaBeta(pos, moves, { depth }, score)).move;
    if (!imitation) {
      learn.push(true);
      pos.make(expert);
      continue;
    }
    const choice = (await imitation.learner.choose(pos)).move;
    const expertPlays = choice === expert || r.next() < imitation.expertShare;
    if (!expertPlays) {
      const iccs = [...pos.history(), expert].map(moveToIccs).join(' ');
      corrections.push({ id: `${prefix}-${seed}-${index}-${pos.ply}`, iccs, result: '*', ending: 'correction', learn: '0'.repeat(pos.ply) + '1' });
    }
    learn.push(expertPlays);
    pos.make(expertPlays ? expert : choice);
  }
}

/** The records' id prefix: who played (sp: the search both sides, sr: against the random mover, sl: a learner labelled by the search). */
const recordPrefix = (o: SelfPlayOptions, learner: boolean): string => (learner ? 'sl' : (o.opponent ?? 'self') === 'self' ? 'sp' : 'sr');

export interface SelfPlayTally {
  /** Games in the file (resumed ones included). */
  games: number;
  redWins: number;
  blackWins: number;
  draws: number;
  plies: number;
  corrections: number;
  /** Games that were already in the file (`resume`). */
  resumed: number;
  /** Stopped by the signal before `games` were played: the file holds the games finished. */
  interrupted: boolean;
}

/**
 * Write `games` self-play records to `path` (JSONL, written to a temporary file and renamed over
 * `path`); with a `learner`, each game's correction records follow it (learnerGames). The tally
 * counts games, not correction records. Game i is a function of the seed and i, so a run can stop and
 * go on: when `signal` aborts, the games finished so far are written and the tally says
 * `interrupted`; `resume` keeps the games already in `path` (their ids must be this run's: the same
 * seed and kind of run, games 0, 1, ... in order) and plays the rest. Depth and ply limits are not in
 * the records: resume with the same options.
 */
export async function writeSelfPlayRecords(path: string, value: ValueHead, o: SelfPlayOptions & { games: number; seed: number; learner?: Player; expertShare?: number; quiet?: boolean; resume?: boolean; signal?: AbortSignal }): Promise<SelfPlayTally> {
  const tally: SelfPlayTally = { games: 0, redWins: 0, blackWins: 0, draws: 0, plies: 0, corrections: 0, resumed: 0, interrupted: false };
  const count = (g: SelfPlayRecord, corrections: number) => {
    tally.games++;
    if (g.result === '1-0') tally.redWins++; else if (g.result === '0-1') tally.blackWins++; else tally.draws++;
    tally.plies += g.iccs ? g.iccs.split(' ').length : 0;
    tally.corrections += corrections;
  };
  const earlier = o.resume && existsSync(path) ? readEarlierRecords(path, recordPrefix(o, Boolean(o.learner)), o.seed) : [];
  if (earlier.length > o.games) throw new Error(`${path} already holds ${earlier.length} games, more than --games ${o.games}: pass a larger --games to play more`);
  const out = new AtomicFile(path);
  try {
    for (const { game, lines, corrections } of earlier) {
      out.write(Buffer.from(lines));
      count(game, corrections);
    }
    tally.resumed = earlier.length;
    const progress = new Progress({ label: 'self-play games', total: o.games - tally.resumed, unit: 'game', silent: o.quiet });
    for (let i = tally.resumed; i < o.games; i++) {
      // A turn of the event loop between games, so a signal handler can run (a game without a learner never awaits I/O).
      await new Promise((resolve) => setImmediate(resolve));
      if (o.signal?.aborted) {
        tally.interrupted = true;
        break;
      }
      const [g, ...corrections] = o.learner ? await learnerGames(value, o.learner, o.seed, i, o) : [await selfPlayGame(value, o.seed, i, o)];
      count(g!, corrections.length);
      for (const r of [g!, ...corrections]) out.write(Buffer.from(JSON.stringify(r) + '\n'));
      progress.tick(1, { decisive: (tally.redWins + tally.blackWins) / tally.games, plies: tally.plies / tally.games, ...(o.learner ? { corrections: tally.corrections } : {}) });
    }
    progress.finish();
    out.commit();
  } finally {
    out.abort();
  }
  return tally;
}

const MAX_RECORDS_BYTES = 256 * 1024 * 1024;

/** The games already in a records file being resumed, each with its correction records, checked to be games 0, 1, ... of this run. */
function readEarlierRecords(path: string, prefix: string, seed: number): { game: SelfPlayRecord; lines: string; corrections: number }[] {
  const games: { game: SelfPlayRecord; lines: string; corrections: number }[] = [];
  // Records run a few hundred bytes a game; far past any run's size the file is not one of ours (and would not fit in a string).
  const size = statSync(path).size;
  if (size > MAX_RECORDS_BYTES) throw new Error(`${path}: ${size} bytes, more than the ${MAX_RECORDS_BYTES} a records file to resume may hold; write to another file`);
  const text = readFileSync(path, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${path}: the last line is cut short; it was not written by selfplay`);
  text.split('\n').slice(0, -1).forEach((line, n) => {
    let r: SelfPlayRecord | null;
    try {
      r = JSON.parse(line) as SelfPlayRecord | null;
    } catch {
      r = null;
    }
    if (r === null || typeof r !== 'object') throw new Error(`${path}:${n + 1}: not a JSON record`);
    const index = games.length;
    if (r.id === `${prefix}-${seed}-${index}`) {
      games.push({ game: r, lines: line + '\n', corrections: 0 });
    } else if (index > 0 && typeof r.id === 'string' && r.id.startsWith(`${prefix}-${seed}-${index - 1}-`)) {
      games[index - 1]!.lines += line + '\n';
      games[index - 1]!.corrections++;
    } else {
      throw new Error(`${path}:${n + 1}: record "${r.id}" is not game ${index} of this run (ids ${prefix}-${seed}-0, -1, ...): resume with the --seed, --opponent and --learner it was written with, or write to another file`);
    }
  });
  return games;
}
