/**
 * Synthetic game records: a 2-ply material search (searchMover) against the uniformly random mover.
 * Expert records almost never show free material, so a model trained on them alone does not learn
 * to take it or to keep its own (see MODEL_CARD.md). These records do, and they are written as
 * corpus lines that teach only the expert's decisive moves (see `decisive`): those that win or keep
 * material, and, once it leads on material, those that squeeze the opponent's replies towards mate
 * or stalemate. The random mover's moves teach nothing and are never targets.
 */
import { Position, moveToIccs, type Move } from '../board.ts';
import { materialLead, materialValue, searchMover, type Judgement } from './match.ts';
import { moveFromIccs } from './vocab.ts';
import { Progress } from '../../util/progress.ts';
import { Random } from '../../util/random.ts';
import { AtomicFile } from '../../util/files.ts';

export interface SyntheticOptions {
  games: number;
  seed: number;
  /** Over this many plies a game is cut (draw); default 400, as in the benchmark. */
  maxPlies?: number;
  quiet?: boolean;
}

export interface SyntheticRecord {
  id: string;
  iccs: string;
  result: string;
  /** One '1' per ply that is a training target (the expert's decisive moves), else '0'. */
  learn: string;
}

/** A material lead (in materialValue's units, a horse is 4) from which the search is converting. */
export const CONVERTING_LEAD = 4;

/**
 * Whether the search's choice teaches something: some moves are worse than it on material, and it
 * wins material or mates (value > 0), loses the least it can (value < 0), or avoids what most moves
 * would lose; or it is converting a lead (`lead` ≥ CONVERTING_LEAD) and some move is worse at all,
 * so the choice squeezes the opponent's replies without repeating.
 */
export const decisive = (choice: Judgement, lead: number): boolean => targetKind(choice, lead) !== undefined;

/** Why a decisive choice teaches: it wins or keeps material, or it converts a lead; undefined if it does not teach. */
export function targetKind(choice: Judgement, lead: number): 'material' | 'converting' | undefined {
  if (choice.worse > 0 && (choice.value !== 0 || choice.worse > 0.5)) return 'material';
  if (lead >= CONVERTING_LEAD && choice.outranked > 0) return 'converting';
  return undefined;
}

/** Play one game, the expert red when `expertIsRed`; returns it as a corpus record. */
export function syntheticGame(id: string, expertIsRed: boolean, seed: number, maxPlies = 400): SyntheticRecord {
  const expert = searchMover(seed);
  const opponent = new Random(seed + 1);
  const pos = Position.start();
  const moves: string[] = [];
  let learn = '';
  let result = '1/2-1/2';
  for (;;) {
    const outcome = pos.outcome();
    if (outcome) { result = outcome.result; break; }
    if (pos.ply >= maxPlies) break;
    let m;
    if ((pos.side === 0) === expertIsRed) {
      const choice = expert.choose(pos);
      m = choice.move;
      learn += decisive(choice, materialLead(pos)) ? '1' : '0';
    } else {
      const legal = pos.legalMoves();
      m = legal[opponent.int(legal.length)]!;
      learn += '0';
    }
    moves.push(moveToIccs(m));
    pos.make(m);
  }
  return { id, iccs: moves.join(' '), result, learn };
}

/** In `synth`'s records the expert is red in the even-numbered games. */
const expertIsRedIn = (i: number): boolean => i % 2 === 0;

/** Game `i` of `synth --seed <seed>`. */
export const recordGame = (seed: number, i: number, maxPlies?: number): SyntheticRecord =>
  syntheticGame(`synthetic-${seed}-${i}`, expertIsRedIn(i), seed * 1_000_003 + i * 2, maxPlies);

/** Write `games` synthetic records to `path` (JSONL). */
export async function writeSyntheticCorpus(path: string, o: SyntheticOptions): Promise<{ games: number; expertWins: number; targets: number; moves: number }> {
  let expertWins = 0, targets = 0, moves = 0;
  const out = new AtomicFile(path); // renamed over `path` only when every game is written
  try {
    const progress = new Progress({ label: 'synthetic games', total: o.games, unit: 'game', silent: o.quiet });
    for (let i = 0; i < o.games; i++) {
      const g = recordGame(o.seed, i, o.maxPlies);
      if (g.result === (expertIsRedIn(i) ? '1-0' : '0-1')) expertWins++;
      for (const c of g.learn) targets += c === '1' ? 1 : 0;
      moves += g.learn.length;
      out.write(Buffer.from(JSON.stringify(g) + '\n'));
      progress.tick(1, { expert_wins: expertWins / (i + 1) });
    }
    progress.finish();
    out.commit();
  } finally {
    out.abort();
  }
  return { games: o.games, expertWins, targets, moves };
}

export interface Agreement {
  /** Target positions of each kind, and how many of them the player's move was one of the search's best. */
  material: { positions: number; agreed: number };
  converting: { positions: number; agreed: number };
  /** Converting positions where the player's move was worse on material than the search's best (it gave material away). */
  convertingGaveMaterial: number;
}

/**
 * How well a player imitates the records' expert: on the first `games` games `synth --seed <seed>`
 * would write (a seed no records were written with gives fresh games), at each position the records
 * would teach, whether the player's move is one of the search's best moves. The games are the
 * search's, not the player's.
 */
export async function searchAgreement(player: (pos: Position) => Promise<Move>, games: number, seed: number, onGame?: () => void): Promise<Agreement> {
  const judge = searchMover(seed);
  const a: Agreement = { material: { positions: 0, agreed: 0 }, converting: { positions: 0, agreed: 0 }, convertingGaveMaterial: 0 };
  for (let i = 0; i < games; i++) {
    const g = recordGame(seed, i);
    const pos = Position.start();
    for (const [k, iccs] of g.iccs.split(' ').entries()) {
      if (g.learn[k] === '1') {
        const best = judge.best(pos);
        const kind = targetKind(best, materialLead(pos))!;
        const m = await player(pos);
        a[kind].positions++;
        if (best.moves.includes(m)) a[kind].agreed++;
        else if (kind === 'converting' && materialValue(pos, m) < best.value) a.convertingGaveMaterial++;
      }
      pos.make(moveFromIccs(iccs));
    }
    onGame?.();
  }
  return a;
}
