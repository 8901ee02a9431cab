/**
 * The language-model player: score every legal move (MoveScorer) and play the most likely one, or
 * sample with a temperature. Only legal moves are ever scored, so every move it plays is legal; moves
 * that lose by the perpetual-check rule (now, or after the opponent repeats) are not played while
 * another move exists, as the rules forbid them in practice. With its rule checks on (the default) it
 * also takes a win on the spot or a forced win in two, does not allow a win on the spot, and does
 * not offer a draw by repetition (see ruleChecks).
 */
import { Position, type Move, type Side } from '../board.ts';
import type { RuntimeOptions } from '../../runtime/session.ts';
import { loadPlayerModel, type PlayerModel } from './model.ts';
import { fitContext, MoveScorer, withProbabilities, type ScoredMove } from './scorer.ts';
import { positionWindowMoves } from './dataset.ts';
import { FORMATS, moveTokens, UNKNOWN_RESULT, winFor } from './vocab.ts';
import { expectedScore, loadValueHead, valueHeadPathFor, valueProbs, type ValueHead } from './value.ts';
import { puct, type Budget, type Expansion } from './search.ts';
import { alphaBeta, captureSearchValue } from './alphabeta.ts';
import { boardValueProbs } from './boardValue.ts';
import { SHIPPED_MODEL } from './model.ts';
import { existsSync, statSync } from '../../util/node/fs.ts';
import { join } from '../../util/node/path.ts';

/**
 * How the player chooses (its strength levels):
 * - `policy`: the post's choice, the most likely move (or sampled with a temperature);
 * - `value`: one ply, the move whose resulting position the value head likes best for the mover;
 * - `search`: a PUCT search with the policy as priors and the value head at the leaves, within a
 *   node or time budget (search.ts); with a board value network only the root runs the language
 *   model, and a node below it is valued by capture searches (priors from its children's values);
 * - `alphabeta`: an alpha-beta search, deepened while the budget lasts, with a capture search
 *   below it, valuing positions by the board value network and trying the policy's moves first
 *   (alphabeta.ts); it needs a board value network.
 */
export type PlayMode = 'policy' | 'value' | 'search' | 'alphabeta';
export const PLAY_MODES: readonly PlayMode[] = ['policy', 'value', 'search', 'alphabeta'];

export function isPlayMode(name: string): name is PlayMode {
  return (PLAY_MODES as readonly string[]).includes(name);
}

export type { Budget } from './search.ts';

export interface ChooseOptions {
  /** 0 (default) plays the most likely move; above 0 samples from softmax(logProb / temperature). */
  temperature?: number;
  /** Source of randomness for sampling (default Math.random). */
  random?: () => number;
  /** Condition on "the side to move wins" (default) or on an unknown result. */
  condition?: 'win' | 'unknown';
  /** Result guidance (default: the player's `guidance`); see Player.analyse. */
  guidance?: number;
  /** `search` and `alphabeta` modes: when to stop (default: the player's defaultBudget). */
  budget?: Budget;
}

export type Condition = 'win' | 'lose' | 'unknown';

export interface Choice {
  move: Move;
  /** Every legal move, best first. */
  candidates: ScoredMove[];
  thinkMs: number;
  /** `value`, `search` and `alphabeta` modes: the chosen move's expected score for the mover (win 1, draw ½). */
  value?: number;
  /** `search` mode: nodes expanded (each a network run, unless the value is the board network) and the deepest ply reached; `alphabeta`: positions visited and the deepest full-width depth completed. */
  nodes?: number;
  depth?: number;
  /** `search` mode, when the search proved the chosen move's result: plies to the game's end through it. */
  provenPlies?: number;
}

/** The model file a player loads for `path`: the shipped model, `path/model.safetensors` for a directory, else `path`. */
export const playerModelFile = (path?: string): string => (path === undefined ? SHIPPED_MODEL : existsSync(path) && statSync(path).isDirectory() ? join(path, 'model.safetensors') : path);

export class Player {
  private constructor(readonly model: PlayerModel, readonly scorer: MoveScorer, private readonly runtime: RuntimeOptions | undefined) {
    this.history = Player.trainedHistory(model);
  }

  static async create(model: PlayerModel, runtime?: RuntimeOptions, o: { value?: ValueHead } = {}): Promise<Player> {
    const player = new Player(model, await MoveScorer.create(model, runtime), runtime);
    player.valueHead = o.value;
    return player;
  }

  /**
   * Load weights (default: the shipped models/xiangqi/model.safetensors), and the value head beside
   * them (value.safetensors) when there is one, or from `o.value`.
   */
  static async load(path?: string, runtime?: RuntimeOptions, o: { value?: string } = {}): Promise<Player> {
    const file = playerModelFile(path);
    const model = loadPlayerModel(file);
    const valuePath = o.value ?? valueHeadPathFor(file);
    const value = o.value !== undefined || existsSync(valuePath) ? loadValueHead(valuePath, file) : undefined;
    return Player.create(model, runtime, { value });
  }

  /** The value head (value.ts) the `value` and `search` modes need. */
  valueHead: ValueHead | undefined;

  private playMode: PlayMode = 'policy';

  /** How it chooses (PlayMode); `value` and `search` need a value head. */
  get mode(): PlayMode {
    return this.playMode;
  }

  set mode(mode: PlayMode) {
    if (!isPlayMode(mode)) throw new Error(`mode must be one of ${PLAY_MODES.join(', ')}, got "${mode}"`);
    if (mode !== 'policy' && !this.valueHead) throw new Error(`the ${mode} mode needs a value head: train one with \`bert4ts xiangqi value\` and put value.safetensors beside the model`);
    if (mode === 'alphabeta' && !this.valuesBoards) throw new Error('the alphabeta mode values thousands of positions a move, which needs the board value network (`bert4ts xiangqi value --input board`), not a head on the language model');
    this.playMode = mode;
  }

  /** The modes this player can play: policy always; value and search with a value head; alphabeta with a board value network. */
  get availableModes(): PlayMode[] {
    return PLAY_MODES.filter((m) => m === 'policy' || (this.valueHead && (m !== 'alphabeta' || this.valuesBoards)));
  }

  /**
   * The mode that measured strongest with this player's value (docs/XIANGQI.md): the search over a
   * board value network (100% against the random mover, 55-60% against Fairy-Stockfish depth 1);
   * otherwise the policy, since over a head on the language model the search sees too few nodes to
   * help and the value mode looks one ply deep.
   */
  get strongestMode(): PlayMode {
    return this.valuesBoards ? 'search' : 'policy';
  }

  /** Whether the value head is the board value network (microseconds a position), not a head on the language model. */
  private get valuesBoards(): boolean {
    return this.valueHead?.metadata.input === 'board';
  }

  /**
   * The search mode's budget when a choice gives none, with a value head on the language model (a
   * network run per node): about 1 s a move on 2 busy cores.
   */
  searchBudget: Budget = { nodes: 24, timeMs: 900 };

  /**
   * The search mode's budget with a board value network (a node is a few capture searches, not a
   * network run: a few hundred nodes in 900 ms); the node cap bounds the tree's memory.
   */
  boardSearchBudget: Budget = { nodes: 20_000, timeMs: 900 };

  /** The alphabeta mode's budget when a choice gives none: 4 plies and a capture search, cut at 900 ms. */
  alphaBetaBudget: Budget = { depth: 4, timeMs: 900 };

  /** The budget of the current mode when a choice gives none. */
  get defaultBudget(): Budget {
    return this.budgetFor(this.playMode);
  }

  /** The budget a mode searches with when a choice gives none (this player's value head decides the search mode's). */
  budgetFor(mode: PlayMode): Budget {
    return { ...(mode === 'alphabeta' ? this.alphaBetaBudget : this.valuesBoards ? this.boardSearchBudget : this.searchBudget) };
  }

  private evaluator: MoveScorer | undefined;

  /**
   * Plies of history a `position`- or `board`-format model is shown before the move: by default the
   * most it was trained with (trainedHistory). The prefix is the board that many plies ago (or where the game started).
   */
  get historyPlies(): number {
    return this.history;
  }

  set historyPlies(plies: number) {
    const most = Player.maxHistory(this.model);
    if (!Number.isInteger(plies) || plies < 0 || plies > most) throw new Error(`historyPlies must be an integer from 0 to ${most} for this model, got ${plies}`);
    this.history = plies;
  }

  private history: number;

  /** The history it trained with: its `history` metadata (`train --history`, checked by loadPlayerModel), else maxHistory. */
  static trainedHistory(model: PlayerModel): number {
    return model.metadata.history === undefined ? Player.maxHistory(model) : Number(model.metadata.history);
  }

  /** The most history its positions hold: a window of W moves puts 0 to W - 1 moves before each one. */
  static maxHistory(model: PlayerModel): number {
    return Math.max(0, positionWindowMoves(model.format, model.config.maxPosition) - 1);
  }

  /**
   * The model's token context for `pos`. `moves` format: the result token, then every move since the
   * start (the most recent whole move pairs when the game outgrows the window). `position` and
   * `board` formats: the result token, the board historyPlies ago, then the moves since.
   */
  context(pos: Position, condition: Condition = 'win', historyPlies = this.historyPlies): number[] {
    const ctx = [condition === 'win' ? winFor(pos.side) : condition === 'lose' ? winFor((1 - pos.side) as Side) : UNKNOWN_RESULT];
    const history = pos.history();
    if (this.model.format === 'moves') {
      for (const m of history) ctx.push(...moveTokens(m));
      return fitContext(ctx, this.scorer.maxContext);
    }
    const shown = Math.min(history.length, historyPlies);
    const before = pos.clone();
    for (let i = 0; i < shown; i++) before.unmake();
    ctx.push(...FORMATS[this.model.format].prefix(before));
    for (const m of history.slice(history.length - shown)) ctx.push(...moveTokens(m));
    return ctx;
  }

  /**
   * Result guidance γ (0 by default: the post's plain score). With γ > 0 and the `win` condition a
   * move's score is log P(m | side to move wins) + γ·(log P(m | wins) − log P(m | loses)): moves the
   * model expects more from winners than from losers (taking a hanging piece, not leaving one) gain,
   * as in classifier-free guidance. It costs a second scoring run.
   */
  guidance = 0;

  /**
   * Rule checks (default on): the player uses the rules of how a game ends, which the model does not
   * learn from records. A side left without a legal move has lost (checkmate, or stalemate, which
   * also loses in xiangqi). So it plays a move that wins on the spot if there is one; otherwise it
   * leaves out, while other moves remain, moves after which a reply wins on the spot, and then moves
   * that let the game be drawn by repetition (back to a position already seen, or a reply brings one
   * about for the third time). Among the moves left, it plays a forced win in two if there is one: a
   * move after which every reply lets it win on the spot. It looks ahead only for these outcomes,
   * never at material. `false` is the post's plain choice among the playable moves.
   */
  ruleChecks = true;

  /** The moves it chooses from: playableMoves, narrowed by the rule checks when they are on. */
  candidateMoves(pos: Position): Move[] {
    const moves = playableMoves(pos);
    if (!this.ruleChecks) return moves;
    const after = <T>(m: Move, f: () => T): T => { pos.make(m); try { return f(); } finally { pos.unmake(); } };
    const endsGame = (m: Move) => after(m, () => !pos.hasLegalMove());
    const canWinOnTheSpot = () => pos.legalMoves().some(endsGame);
    const goesOn = () => pos.outcome() === undefined;
    const wins = moves.filter(endsGame);
    if (wins.length) return wins;
    let pool = moves;
    const keep = (f: (m: Move) => boolean) => { const kept = pool.filter(f); if (kept.length) pool = kept; };
    keep((m) => after(m, () => !canWinOnTheSpot()));
    // No draw by repetition: not back to a position seen before, and no reply makes one appear a third time.
    keep((m) => after(m, () => pos.repetitions() === 0 && !pos.legalMoves().some((reply) => after(reply, () => pos.repetitions() >= 2))));
    // A forced win in two: after the move every reply, none of which ends the game, allows a win on the spot.
    const forced = pool.filter((m) => after(m, () => goesOn() && pos.legalMoves().every((reply) => after(reply, () => goesOn() && canWinOnTheSpot()))));
    return forced.length ? forced : pool;
  }

  /** Every playable move with its score (log-probability, or the guided score), best first. */
  async analyse(pos: Position, condition: 'win' | 'unknown' = 'win', guidance = this.guidance): Promise<ScoredMove[]> {
    if (!(guidance >= 0)) throw new Error(`guidance must be >= 0, got ${guidance}`);
    const moves = this.candidateMoves(pos);
    const scored = await this.scorer.score(this.context(pos, condition), moves);
    if (condition !== 'win' || guidance === 0 || moves.length === 0) return scored;
    const losing = new Map((await this.scorer.score(this.context(pos, 'lose'), moves)).map((s) => [s.move, s.logProb]));
    for (const s of scored) s.logProb += guidance * (s.logProb - losing.get(s.move)!);
    return withProbabilities(scored);
  }

  /**
   * One network run for the `value` and `search` modes: each move's probability (the result not
   * given, [*]) as its prior, and the value head's expected score, for the side to move in `pos`,
   * of the position after it. Moves in the order given.
   */
  async evaluate(pos: Position, moves: Move[]): Promise<{ scored: ScoredMove[]; prior: number[]; value: number[] }> {
    const head = this.valueHead;
    if (!head) throw new Error('no value head: train one with `bert4ts xiangqi value`');
    if (this.valuesBoards) {
      // The board network values positions without the language model: priors from one scoring run.
      const scored = await this.scorer.score(this.context(pos, 'unknown'), moves);
      const byMove = new Map(scored.map((s) => [s.move, s]));
      const value = moves.map((m) => {
        pos.make(m);
        try {
          return (byMove.get(m)!.value = expectedScore(boardValueProbs(head, pos), (1 - pos.side) as Side));
        } finally {
          pos.unmake();
        }
      });
      return { scored, prior: moves.map((m) => byMove.get(m)!.probability), value };
    }
    this.evaluator ??= await MoveScorer.create(this.model, this.runtime, { hidden: true });
    // A whole move follows the context here (its last character is where the value is read), so the
    // context holds one move of history less than the policy's at most.
    const scored = await this.evaluator.score(this.context(pos, 'unknown', Math.min(this.historyPlies, Player.maxHistory(this.model) - 1)), moves);
    const byMove = new Map(scored.map((s) => [s.move, s]));
    const prior = moves.map((m) => byMove.get(m)!.probability);
    const value = moves.map((m) => {
      const s = byMove.get(m)!;
      s.value = expectedScore(valueProbs(head, s.hidden!), pos.side);
      s.hidden = undefined;
      return s.value;
    });
    return { scored, prior, value };
  }

  async choose(pos: Position, o: ChooseOptions = {}): Promise<Choice> {
    if (this.playMode !== 'policy') return this.chooseByValue(pos, o.budget);
    const started = performance.now();
    const candidates = await this.analyse(pos, o.condition, o.guidance);
    if (candidates.length === 0) throw new Error(pos.inCheck() ? 'no legal move: checkmated' : 'no legal move: stalemated');
    const t = o.temperature ?? 0;
    if (!(t >= 0)) throw new Error(`temperature must be >= 0, got ${t}`);
    let move = candidates[0]!.move;
    if (t > 0) {
      const weights = candidates.map((c) => Math.exp((c.logProb - candidates[0]!.logProb) / t));
      let x = (o.random ?? Math.random)() * weights.reduce((a, b) => a + b, 0);
      for (let i = 0; i < weights.length; i++) {
        x -= weights[i]!;
        if (x <= 0) { move = candidates[i]!.move; break; }
      }
    }
    return { move, candidates, thinkMs: performance.now() - started };
  }

  /** The `value` mode (one ply), the `search` mode (PUCT within the budget) and the `alphabeta` mode. */
  private async chooseByValue(pos: Position, budget: Budget = this.defaultBudget): Promise<Choice> {
    const started = performance.now();
    const moves = this.candidateMoves(pos);
    if (moves.length === 0) throw new Error(pos.inCheck() ? 'no legal move: checkmated' : 'no legal move: stalemated');
    const { scored } = await this.evaluate(pos, moves);
    // The time budget is for the whole move: the root's network run above counts against it.
    if (budget.timeMs !== undefined) budget = { ...budget, timeMs: Math.max(1, budget.timeMs - (performance.now() - started)) };
    const byValue = (a: ScoredMove, b: ScoredMove) => b.value! - a.value! || b.logProb - a.logProb;
    if (this.playMode === 'alphabeta') {
      const head = this.valueHead!;
      // scored is the policy's order, most likely first: the order the root's moves are tried in (ties go to the policy).
      const rootMoves = scored.map((s) => s.move);
      const r = await alphaBeta(pos, rootMoves, budget, (p) => expectedScore(boardValueProbs(head, p), p.side));
      scored.forEach((s, i) => { s.value = r.scores[i]; });
      const candidates = [r.move, ...rootMoves.filter((m) => m !== r.move)].map((m) => scored[rootMoves.indexOf(m)]!);
      return { move: r.move, candidates, thinkMs: performance.now() - started, value: r.scores[rootMoves.indexOf(r.move)], nodes: r.nodes, depth: r.depth };
    }
    if (this.playMode === 'value' || moves.length === 1) {
      const candidates = [...scored].sort(byValue);
      return { move: candidates[0]!.move, candidates, thinkMs: performance.now() - started, value: candidates[0]!.value, nodes: 1, depth: 1 };
    }
    // The root's run above is the search's first node: hand it over rather than run it again (over
    // the board network its children are valued as every other node's, by capture searches).
    const head = this.valueHead!;
    const prior = moves.map((m) => scored.find((s) => s.move === m)!.probability);
    let first: Expansion | undefined = { prior, value: this.valuesBoards ? boardExpansion(head, pos, moves).value : moves.map((m) => scored.find((s) => s.move === m)!.value!) };
    const r = await puct(pos, moves, budget, async (p, ms) => {
      if (first) { const e = first; first = undefined; return e; }
      return this.valuesBoards ? boardExpansion(head, p, ms) : this.evaluate(p, ms);
    }, playableMoves);
    for (const s of scored) { const a = moves.indexOf(s.move); s.visits = r.visits[a]; s.value = r.q[a]; }
    // The search's choice first (a proven win can have fewer visits than another move), then by visits.
    const candidates = [...scored].sort((a, b) => Number(b.move === r.move) - Number(a.move === r.move) || b.visits! - a.visits! || byValue(a, b));
    return { move: r.move, candidates, thinkMs: performance.now() - started, value: r.q[moves.indexOf(r.move)], provenPlies: r.provenPlies, nodes: r.nodes, depth: r.depth };
  }

  async release(): Promise<void> {
    await this.scorer.release();
    await this.evaluator?.release();
  }
}

/**
 * How sharply a node below the root prefers its better-valued children a priori (board value
 * network): priors are softmax(value / T) over expected scores in [0, 1], so a move worth 0.1 more
 * (about a horse) gets e times the prior.
 */
export const VALUE_PRIOR_TEMPERATURE = 0.1;

/**
 * A node below the search's root, without a network run: each move's value is the board network's
 * expected score for the mover once the captures after it are played out (captureSearchValue, as at
 * alphabeta's leaves), and its prior comes from those values. The policy would cost a
 * language-model run per node, which kept the search to a few dozen nodes; the capture search costs
 * ten times the positions of the board value alone and scored better against Fairy-Stockfish
 * (docs/XIANGQI.md, "The search mode over the board value").
 */
function boardExpansion(head: ValueHead, pos: Position, moves: Move[]): Expansion {
  const sideValue = (p: Position) => expectedScore(boardValueProbs(head, p), p.side);
  const value = moves.map((m) => {
    pos.make(m);
    try {
      return 1 - captureSearchValue(pos, sideValue);
    } finally {
      pos.unmake();
    }
  });
  const top = Math.max(...value);
  const weight = value.map((v) => Math.exp((v - top) / VALUE_PRIOR_TEMPERATURE));
  const sum = weight.reduce((a, b) => a + b, 0);
  return { prior: weight.map((w) => w / sum), value };
}

/**
 * Legal moves, without those that lose by the perpetual-check rule (unless all of them do): a move
 * that completes the losing repetition itself, and a check after which the opponent can complete it.
 */
export function playableMoves(pos: Position): Move[] {
  const mover = pos.side;
  const lost = (): boolean => {
    const outcome = pos.outcome();
    return outcome?.reason === 'perpetual check' && outcome.result === (mover === 0 ? '0-1' : '1-0');
  };
  const legal = pos.legalMoves();
  const playable = legal.filter((m) => {
    pos.make(m);
    let loses = lost();
    if (!loses && pos.inCheck() && pos.repetitions() >= 1) {
      for (const reply of pos.legalMoves()) {
        pos.make(reply);
        loses = lost();
        pos.unmake();
        if (loses) break;
      }
    }
    pos.unmake();
    return !loses;
  });
  return playable.length ? playable : legal;
}

