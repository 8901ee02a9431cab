/**
 * Move scoring as in the post: log P(move | game so far) = the sum of the log-probabilities of its 4
 * ICCS characters. One ORT run per position: the game so far goes through the network once (batch
 * 1), its keys/values are broadcast to every legal move, and each move's first 3 characters run as
 * one batch on top of that cache. That is N x 3 new tokens instead of N x (game length).
 */
import { expand, input, slice } from '../../graph/ops.ts';
import { Scope } from '../../nn/params.ts';
import { gpt2, type LayerCache } from '../../models/gpt2.ts';
import type { Tensor } from '../../graph/tensor.ts';
import { lower } from '../../runtime/lower.ts';
import { compile, type Executable, type RuntimeOptions } from '../../runtime/session.ts';
import { logSoftmaxRow } from '../../generation/decode.ts';
import { moveToIccs, type Move } from '../board.ts';
import type { PlayerModel } from './model.ts';
import { iccsTokens, MOVE_TOKENS } from './vocab.ts';

export interface ScoredMove {
  move: Move;
  iccs: string;
  /** Sum of the 4 characters' log-probabilities. */
  logProb: number;
  /** Probability among the legal moves (softmax of logProb over them). */
  probability: number;
  /** The network's final hidden state after the whole move (MoveScorer.create with `hidden`): what a value head reads. */
  hidden?: Float32Array | undefined;
  /** `value` and `search` modes: expected score (win 1, draw ½) for the mover after this move. */
  value?: number;
  /** `search` mode: root visits. */
  visits?: number;
}

/**
 * The scoring network: inputs `context` [1, past] and `candidates` [cand, 3] (each move's first 3
 * tokens); outputs `contextLogits` [1, past, vocab] and `candidateLogits` [cand, 3, vocab]. With
 * `hidden`, candidates are whole moves [cand, 4] and `candidateHidden` [cand, 1, hidden] is the final
 * hidden state after each move's last character (the position after it, for a value head).
 */
export function scorerGraph(model: PlayerModel, o: { hidden?: boolean } = {}): { contextLogits: Tensor; candidateLogits: Tensor; candidateHidden?: Tensor } {
  const { config, store } = model;
  const scope = new Scope(store);
  const context = input('context', 'int64', [1, 'past']);
  const candidates = input('candidates', 'int64', ['cand', o.hidden ? MOVE_TOKENS : MOVE_TOKENS - 1]);
  const head = gpt2(scope, config, { ids: context });
  const headSize = config.hiddenSize / config.numHeads;
  const broadcast = (t: LayerCache): LayerCache => ({
    k: expand(t.k, ['cand', config.numHeads, 'past', headSize]),
    v: expand(t.v, ['cand', config.numHeads, 'past', headSize]),
  });
  const tail = gpt2(scope, config, { ids: candidates, cache: head.cache.map(broadcast), past: 'past' });
  if (!o.hidden) return { contextLogits: head.logits, candidateLogits: tail.logits };
  return { contextLogits: head.logits, candidateLogits: tail.logits, candidateHidden: slice(tail.hidden, 1, MOVE_TOKENS - 1, MOVE_TOKENS) };
}

/** The scoring network as an ONNX model (weights inside), for onnxruntime-web in the page. */
export function scorerOnnx(model: PlayerModel): Uint8Array {
  return lower(scorerGraph(model), { params: 'initializers', paramValue: (n) => model.store.get(n), name: 'bert4ts-xiangqi-scorer' }).toBytes();
}

export class MoveScorer {
  private constructor(readonly model: PlayerModel, private readonly exe: Executable, readonly withHidden: boolean) {}

  /** `hidden`: also return each move's final hidden state (ScoredMove.hidden), in the same run. */
  static async create(model: PlayerModel, runtime: RuntimeOptions = {}, o: { hidden?: boolean } = {}): Promise<MoveScorer> {
    const exe = await compile(scorerGraph(model, o), { params: 'initializers', paramValue: (n) => model.store.get(n) }, runtime);
    return new MoveScorer(model, exe, Boolean(o.hidden));
  }

  /** Longest context (result token + moves) the model can take with a move after it (a whole move when it returns hidden states). */
  get maxContext(): number {
    return this.model.config.maxPosition - (this.withHidden ? MOVE_TOKENS : MOVE_TOKENS - 1);
  }

  /** Score `moves` after `context` (token ids, at most maxContext of them; see Player.context). Returns them best first. */
  async score(context: number[], moves: Move[]): Promise<ScoredMove[]> {
    if (moves.length === 0) return [];
    if (context.length === 0) throw new Error('the context needs at least the result token');
    if (context.length > this.maxContext) throw new Error(`a context of ${context.length} tokens does not fit the model's window (${this.maxContext} before a move); see fitContext`);
    const V = this.model.config.vocabSize;
    const given = this.withHidden ? MOVE_TOKENS : MOVE_TOKENS - 1; // candidate tokens fed per move
    const cand = new BigInt64Array(moves.length * given);
    const tokens = moves.map((m) => iccsTokens(moveToIccs(m)));
    tokens.forEach((t, i) => { for (let j = 0; j < given; j++) cand[i * given + j] = BigInt(t[j]!); });
    const out = await this.exe.run({
      context: { dtype: 'int64', shape: [1, context.length], data: BigInt64Array.from(context, BigInt) },
      candidates: { dtype: 'int64', shape: [moves.length, given], data: cand },
    });
    const head = out.contextLogits!.data as Float32Array;
    const tail = out.candidateLogits!.data as Float32Array;
    const hidden = out.candidateHidden?.data as Float32Array | undefined;
    const C = this.model.config.hiddenSize;
    const first = logSoftmaxRow(head, (context.length - 1) * V, V);
    const scored = moves.map((move, i) => {
      let lp = first[tokens[i]![0]!]!;
      for (let j = 1; j < MOVE_TOKENS; j++) {
        const row = logSoftmaxRow(tail, (i * given + j - 1) * V, V);
        lp += row[tokens[i]![j]!]!;
      }
      const s: ScoredMove = { move, iccs: moveToIccs(move), logProb: lp, probability: 0 };
      if (hidden) s.hidden = hidden.slice(i * C, (i + 1) * C);
      return s;
    });
    return withProbabilities(scored);
  }

  async release(): Promise<void> {
    await this.exe.release();
  }
}

/** Fill in each move's probability (softmax of the scores) and sort best first. */
export function withProbabilities(scored: ScoredMove[]): ScoredMove[] {
  const max = Math.max(...scored.map((s) => s.logProb));
  const z = scored.reduce((s, m) => s + Math.exp(m.logProb - max), 0);
  for (const s of scored) s.probability = Math.exp(s.logProb - max) / z;
  return scored.sort((a, b) => b.logProb - a.logProb);
}

/** Keep the first token and the most recent whole move pairs that fit in `limit` tokens. */
export function fitContext(context: number[], limit: number): number[] {
  if (context.length <= limit) return context;
  const pair = 2 * MOVE_TOKENS;
  const drop = Math.ceil((context.length - limit) / pair) * pair;
  return [context[0]!, ...context.slice(1 + drop)];
}
