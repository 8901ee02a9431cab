/**
 * Training data for the player: the corpus JSONL (`bert4ts xiangqi corpus`), games from the standard
 * start only (the model never sees a set-up position), split into train / validation / test by a
 * hash of the game id, so the split never depends on file order and never changes between runs.
 */
import { closeSync, readFileSync } from '../../util/node/fs.ts';
import { FileError, openRegularFile } from '../../util/files.ts';
import type { HostTensor } from '../../graph/dtype.ts';
import { Random } from '../../util/random.ts';
import { MAX_GAME_PLIES, Position, START_FEN } from '../board.ts';
import { FORMATS, gameTokens, iccsTokens, moveFromIccs, MOVE_TOKENS, PAD, resultToken, UNKNOWN_RESULT, type ContextFormat } from './vocab.ts';

export type Split = 'train' | 'validation' | 'test';

export interface CorpusGame {
  id: string;
  /** ICCS moves. */
  moves: string[];
  result: string;
  /**
   * Which plies are training targets, one '1' or '0' per move (default: all). Synthetic records
   * (synthetic.ts) teach only the expert's decisive moves, not its opponent's or its random ones.
   */
  learn?: string;
}

/** 90 / 5 / 5 by FNV-1a of the game id. */
export function splitOf(id: string): Split {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  const bucket = (h >>> 0) % 100;
  return bucket < 90 ? 'train' : bucket < 95 ? 'validation' : 'test';
}

const START_BOARD = START_FEN.split(' ')[0];

/** Read the corpus and keep games from the standard start with at least one move. */
export function readCorpus(path: string): { games: Record<Split, CorpusGame[]>; skipped: number } {
  let text: string;
  try {
    const fd = openRegularFile(path); // a FIFO or device is refused, not read forever
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new FileError(path, `cannot read the corpus: ${(e as Error).message} (build it with \`bert4ts xiangqi corpus\`)`);
  }
  const games: Record<Split, CorpusGame[]> = { train: [], validation: [], test: [] };
  let skipped = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let g: { id?: unknown; iccs?: unknown; result?: unknown; fen?: unknown; learn?: unknown };
    try {
      g = JSON.parse(line);
    } catch {
      throw new FileError(`${path}:${i + 1}`, 'not a JSON object');
    }
    if (typeof g?.id !== 'string' || typeof g.iccs !== 'string') throw new FileError(`${path}:${i + 1}`, 'a game needs string fields "id" and "iccs"');
    const fen = typeof g.fen === 'string' ? g.fen : '';
    const moves = g.iccs.split(/\s+/).filter(Boolean);
    // Checked here so a bad line is named, not met later as a garbled board in a batch.
    const bad = moves.find((m) => !/^[a-i][0-9][a-i][0-9]$/.test(m));
    if (bad !== undefined || moves.length > MAX_GAME_PLIES) throw new FileError(`${path}:${i + 1}`, bad !== undefined ? `"${bad.slice(0, 20)}" is not an ICCS move` : `more than ${MAX_GAME_PLIES} moves`);
    if ((fen && fen.split(' ')[0] !== START_BOARD) || (fen && fen.split(' ')[1] === 'b') || moves.length === 0) {
      skipped++;
      continue;
    }
    if (g.learn !== undefined && (typeof g.learn !== 'string' || !/^[01]*$/.test(g.learn) || g.learn.length !== moves.length)) {
      throw new FileError(`${path}:${i + 1}`, `"learn" must be a string of 0s and 1s, one per move (${moves.length})`);
    }
    const game: CorpusGame = { id: g.id, moves, result: typeof g.result === 'string' ? g.result : '*' };
    if (typeof g.learn === 'string') game.learn = g.learn;
    games[splitOf(g.id)].push(game);
  }
  return { games, skipped };
}

export interface Batch {
  ids: HostTensor;
  labels: HostTensor;
  tokens: number;
}

/** A training sequence: its tokens, of which the first `prompt` are given, not predicted. */
export interface Sequence {
  tokens: number[];
  prompt: number;
  /** Tokens after the prompt that are not targets either (1), see CorpusGame.learn. */
  skip?: Uint8Array;
}

/**
 * Pack sequences into one right-padded batch: ids are tokens[:-1], labels tokens[1:]; padding and the
 * prompt (result token, position prefix) are ignored (-100).
 */
export function packBatch(sequences: Sequence[]): Batch {
  const longest = Math.max(...sequences.map((s) => s.tokens.length)) - 1;
  const B = sequences.length;
  const ids = new BigInt64Array(B * longest).fill(BigInt(PAD));
  const labels = new BigInt64Array(B * longest).fill(-100n);
  let tokens = 0;
  sequences.forEach(({ tokens: s, prompt, skip }, b) => {
    for (let t = 0; t + 1 < s.length; t++) {
      ids[b * longest + t] = BigInt(s[t]!);
      if (t + 1 < prompt || skip?.[t + 1]) continue;
      labels[b * longest + t] = BigInt(s[t + 1]!);
      tokens++;
    }
  });
  return { ids: { dtype: 'int64', shape: [B, longest], data: ids }, labels: { dtype: 'int64', shape: [B, longest], data: labels }, tokens };
}

/**
 * The post's idea 1, learn only the winner's moves: in a decisive game the loser's moves become
 * context only (CorpusGame.learn, combined with any the game has); a drawn or unfinished game has no
 * winner and teaches nothing (it is never drawn as a target).
 */
export function winnerOnly(g: CorpusGame): CorpusGame {
  const winner = g.result === '1-0' ? 0 : g.result === '0-1' ? 1 : -1;
  const learn = g.moves.map((_, i) => (i % 2 === winner && (g.learn === undefined || g.learn[i] === '1') ? '1' : '0')).join('');
  return { ...g, learn };
}

/** One batch from several samplers (the corpus and mixed-in records), each drawing its own token budget. */
export const mixedBatchAt = (samplers: BatchSampler[], step: number): Batch => packBatch(samplers.flatMap((s) => s.sequencesAt(step)));

/** Whether any token after the prompt is a target. */
export function hasTarget(s: Sequence): boolean {
  for (let t = s.prompt; t < s.tokens.length; t++) if (!s.skip?.[t]) return true;
  return false;
}

/**
 * `moves` format: a game's tokens from the start, truncated to `window` + 1 (inputs and targets
 * overlap by one). `hideResult` replaces the result token by [*], so the model also learns to play
 * without being told the outcome.
 */
export function gameSequence(g: CorpusGame, window: number, hideResult = false): Sequence {
  const seq = gameTokens(g.moves, hideResult ? UNKNOWN_RESULT : resultToken(g.result));
  return withSkip({ tokens: seq.slice(0, window + 1), prompt: 1 }, g, 0);
}

/** Mark the moves of `g` from ply `from` on that are not targets (CorpusGame.learn). */
function withSkip(s: Sequence, g: CorpusGame, from: number): Sequence {
  if (!g.learn) return s;
  const skip = new Uint8Array(s.tokens.length);
  for (let t = s.prompt; t < s.tokens.length; t++) skip[t] = g.learn[from + Math.floor((t - s.prompt) / MOVE_TOKENS)] === '1' ? 0 : 1;
  return { ...s, skip };
}

/**
 * `position` and `board` formats: the result token, the position after `from` plies written as the
 * format's prefix, then up to `moves` moves from there.
 */
export function positionSequence(format: ContextFormat, g: CorpusGame, from: number, moves: number, hideResult = false): Sequence {
  const pos = Position.start();
  for (let i = 0; i < from; i++) pos.make(moveFromIccs(g.moves[i]!));
  const tokens = [hideResult ? UNKNOWN_RESULT : resultToken(g.result), ...FORMATS[format].prefix(pos)];
  for (const m of g.moves.slice(from, from + moves)) tokens.push(...iccsTokens(m));
  return withSkip({ tokens, prompt: 1 + FORMATS[format].prefixTokens }, g, from);
}

/**
 * Moves that fit in a model of `maxPosition` positions: a sequence has maxPosition + 1 tokens (inputs
 * are tokens[:-1]), the result token and the prefix first.
 */
export const positionWindowMoves = (format: ContextFormat, maxPosition: number): number => Math.floor((maxPosition - FORMATS[format].prefixTokens) / 4);

export interface SamplerOptions {
  format: ContextFormat;
  /** Tokens per batch (inputs), before padding. */
  tokensPerBatch: number;
  /** `moves`: the window (positions) at a given optimizer step, the length curriculum. `position`, `board`: the moves after the prefix. */
  windowAt: (step: number) => number;
  /** Share of games shown with the result hidden. */
  hideResultRate: number;
  seed: number;
}

/**
 * Batches as a pure function of the step number, so a resumed run sees exactly the batches it would
 * have seen.
 * - `moves`: games from the start, drawn from a length-sorted list a neighbourhood at a time, so a
 *   batch holds games of similar length and little padding.
 * - `position`, `board`: a move drawn uniformly from all training moves, and a window of moves
 *   around it that starts from the position a random number of plies before it (0 to window - 1),
 *   so every move is seen with every amount of history the player may give it.
 */
export class BatchSampler {
  private readonly byLength: CorpusGame[];
  /** Cumulative move counts of byLength, for drawing a move uniformly. */
  private readonly movesBefore: Float64Array;
  constructor(games: CorpusGame[], readonly options: SamplerOptions) {
    if (games.length === 0) throw new Error('no training games');
    if (!games.some((g) => !g.learn || g.learn.includes('1'))) throw new Error('no training games with a move to learn ("learn" is all 0s)');
    this.byLength = [...games].sort((a, b) => a.moves.length - b.moves.length || (a.id < b.id ? -1 : 1));
    this.movesBefore = new Float64Array(this.byLength.length + 1);
    this.byLength.forEach((g, i) => { this.movesBefore[i + 1] = this.movesBefore[i]! + g.moves.length; });
  }

  batchAt(step: number): Batch {
    return packBatch(this.sequencesAt(step));
  }

  sequencesAt(step: number): Sequence[] {
    const o = this.options;
    const r = new Random((o.seed * 7919) ^ (step * 2654435761));
    return o.format === 'moves' ? this.gameSequences(r, o.windowAt(step)) : this.positionSequences(r, o.windowAt(step));
  }

  private positionSequences(r: Random, window: number): Sequence[] {
    const o = this.options;
    const size = Math.max(1, Math.floor(o.tokensPerBatch / (FORMATS[o.format].prefixTokens + 1 + window * 4)));
    const total = this.movesBefore[this.byLength.length]!;
    const sequences: Sequence[] = [];
    while (sequences.length < size) {
      const target = Math.floor(r.next() * total);
      let lo = 0, hi = this.byLength.length - 1; // the game holding move number `target`
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.movesBefore[mid]! <= target) lo = mid; else hi = mid - 1;
      }
      const g = this.byLength[lo]!;
      const ply = target - this.movesBefore[lo]!;
      const from = Math.max(0, ply - r.int(window));
      const s = positionSequence(o.format, g, from, window, r.next() < o.hideResultRate);
      if (hasTarget(s)) sequences.push(s); // a sequence with nothing to learn would make the loss 0/0
    }
    return sequences;
  }

  private gameSequences(r: Random, window: number): Sequence[] {
    const o = this.options;
    const n = this.byLength.length;
    const anchorIndex = r.int(n);
    const anchorWidth = Math.min(window, this.byLength[anchorIndex]!.moves.length * 4);
    // A neighbourhood 4x the batch around the anchor in length order...
    const span = Math.min(n, Math.max(1, Math.floor(o.tokensPerBatch / anchorWidth)) * 4);
    const startIndex = Math.max(0, Math.min(n - span, anchorIndex - Math.floor(span / 2)));
    // ...and as many games as fit the budget when all are as long as its longest.
    const width = Math.min(window, this.byLength[startIndex + span - 1]!.moves.length * 4);
    const size = Math.max(1, Math.floor(o.tokensPerBatch / width));
    const sequences: Sequence[] = [];
    for (let tries = 0; sequences.length < size && tries < 100 * size; tries++) {
      const g = this.byLength[startIndex + r.int(span)]!;
      const s = gameSequence(g, window, r.next() < o.hideResultRate);
      if (hasTarget(s)) sequences.push(s);
    }
    if (sequences.length === 0) sequences.push(...this.gameSequences(r, window)); // a neighbourhood with nothing to learn: another one
    return sequences;
  }
}
