/**
 * The value model as a separate small network: the board alone (one input per piece kind, colour and
 * point, 1,260 of them, plus who is to move), one tanh layer, then red wins / draw / black wins. It
 * never reads the game's moves or the language model: valuing a position is a make, ~32 table rows
 * summed and a 3-way softmax (microseconds), so the value mode and the search value every move at
 * no network cost. Trained on the host from the corpus results (sparse inputs: only the rows of the
 * pieces on the board are touched). Saved in the value head's file format (value.ts) with
 * `input: board` in its metadata; the weights are a ValueHead over a one-hot input.
 */
import { BLACK, Position, squareAt } from '../board.ts';
import { Random } from '../../util/random.ts';
import type { CorpusGame } from './dataset.ts';
import { moveFromIccs } from './vocab.ts';
import { resultClass, valueProbs, type Calibration, type ValueHead } from './value.ts';

/** 14 piece kinds (7 per colour) x 90 points, then one input for black to move. */
export const BOARD_INPUTS = 14 * 90 + 1;
/** At most 32 pieces and the side input. */
const MAX_ACTIVE = 33;
const NONE = 0xffff;

/** The inputs that are 1 for `pos` (the rest are 0). */
export function boardInputs(pos: Position): number[] {
  const active: number[] = [];
  for (let row = 0; row < 10; row++) {
    for (let file = 0; file < 9; file++) {
      const p = pos.pieceAt(squareAt(file, row));
      if (p) active.push(((p & BLACK ? 7 : 0) + (p & 7) - 1) * 90 + row * 9 + file);
    }
  }
  if (pos.side === 1) active.push(14 * 90);
  return active;
}

/** [P(red wins), P(draw), P(black wins)] of `pos` by a board head: the rows of the inputs that are 1, summed. */
export function boardValueProbs(head: ValueHead, pos: Position): [number, number, number] {
  const H = head.hiddenSize;
  if (H === 0 || head.inputSize !== BOARD_INPUTS) throw new Error(`not a board value head (inputs ${head.inputSize}, hidden ${H})`);
  const z = Float64Array.from(head.b1);
  // A board head is fitted without standardisation (mean 0, scale 1), so an input of 1 adds its row.
  for (const i of boardInputs(pos)) for (let k = 0; k < H; k++) z[k]! += head.w1[i * H + k]!;
  const logits = [0, 1, 2].map((c) => { let x = head.b2![c]!; for (let k = 0; k < H; k++) x += Math.tanh(z[k]!) * head.w2![k * 3 + c]!; return x; });
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const sum = e[0]! + e[1]! + e[2]!;
  return [e[0]! / sum, e[1]! / sum, e[2]! / sum];
}

/** Positions of games with a result, as active-input lists (MAX_ACTIVE slots each, NONE-padded). */
export interface BoardSamples { active: Uint16Array; y: Uint8Array; ply: Uint16Array; game: Uint32Array }

/** Every position after each move of the games that have a result. */
export function boardSamples(games: CorpusGame[]): BoardSamples {
  const active: number[] = [], y: number[] = [], ply: number[] = [], game: number[] = [];
  games.forEach((g, gi) => {
    const cls = resultClass(g.result);
    if (cls === undefined) return;
    const pos = Position.start();
    for (const iccs of g.moves) {
      pos.make(moveFromIccs(iccs));
      const a = boardInputs(pos);
      for (let k = 0; k < MAX_ACTIVE; k++) active.push(a[k] ?? NONE);
      y.push(cls);
      ply.push(pos.ply);
      game.push(gi);
    }
  });
  return { active: Uint16Array.from(active), y: Uint8Array.from(y), ply: Uint16Array.from(ply), game: Uint32Array.from(game) };
}

/**
 * Fit a board head (hidden tanh layer of `hiddenSize`) by Adam on the softmax cross-entropy, each
 * game weighted equally (its positions share one label). Returns a ValueHead over the one-hot input.
 */
export function fitBoardValue(s: BoardSamples, o: { hiddenSize?: number; epochs?: number; lr?: number; l2?: number; seed?: number } = {}): ValueHead {
  const H = o.hiddenSize ?? 32, n = BOARD_INPUTS, N = s.y.length;
  if (N === 0) throw new Error('no positions to fit the board value on');
  if (!(H >= 1)) throw new Error(`the board value needs a hidden layer, got hiddenSize ${H}`);
  const r = new Random(o.seed ?? 1);
  const w1 = Float32Array.from({ length: n * H }, () => r.normal() * 0.1), b1 = new Float32Array(H);
  const w2 = Float32Array.from({ length: H * 3 }, () => r.normal() / Math.sqrt(H)), b2 = new Float32Array(3);
  const params = [w1, b1, w2, b2];
  const m = params.map((p) => new Float32Array(p.length)), v = params.map((p) => new Float32Array(p.length));
  const grads = params.map((p) => new Float32Array(p.length));
  const touched = new Uint8Array(n); // rows of w1 with a gradient in this batch
  const gameSize = new Map<number, number>();
  for (const g of s.game) gameSize.set(g, (gameSize.get(g) ?? 0) + 1);
  const meanGame = N / gameSize.size;
  const lr = o.lr ?? 3e-3, l2 = o.l2 ?? 1e-5, B = 512, epochs = o.epochs ?? 4;
  const order = Uint32Array.from({ length: N }, (_, i) => i);
  const z = new Float64Array(H), dz = new Float64Array(H);
  let t = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = N - 1; i > 0; i--) { const j = r.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    for (let start = 0; start < N; start += B) {
      for (const g of grads.slice(1)) g.fill(0);
      const end = Math.min(N, start + B);
      const rows: number[] = [];
      for (let bi = start; bi < end; bi++) {
        const i = order[bi]!;
        for (let k = 0; k < H; k++) z[k] = b1[k]!;
        for (let a = 0; a < MAX_ACTIVE; a++) {
          const idx = s.active[i * MAX_ACTIVE + a]!;
          if (idx === NONE) break;
          for (let k = 0; k < H; k++) z[k]! += w1[idx * H + k]!;
        }
        for (let k = 0; k < H; k++) z[k] = Math.tanh(z[k]!);
        const logits = [0, 1, 2].map((c) => { let x = b2[c]!; for (let k = 0; k < H; k++) x += z[k]! * w2[k * 3 + c]!; return x; });
        const max = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - max));
        const sum = e[0]! + e[1]! + e[2]!;
        const w = meanGame / gameSize.get(s.game[i]!)! / (end - start);
        const dl = e.map((ei, c) => w * (ei / sum - (c === s.y[i] ? 1 : 0)));
        for (let c = 0; c < 3; c++) grads[3]![c]! += dl[c]!;
        for (let k = 0; k < H; k++) {
          for (let c = 0; c < 3; c++) grads[2]![k * 3 + c]! += z[k]! * dl[c]!;
          dz[k] = (dl[0]! * w2[k * 3]! + dl[1]! * w2[k * 3 + 1]! + dl[2]! * w2[k * 3 + 2]!) * (1 - z[k]! * z[k]!);
          grads[1]![k]! += dz[k]!;
        }
        for (let a = 0; a < MAX_ACTIVE; a++) {
          const idx = s.active[i * MAX_ACTIVE + a]!;
          if (idx === NONE) break;
          if (!touched[idx]) { touched[idx] = 1; rows.push(idx); grads[0]!.fill(0, idx * H, (idx + 1) * H); }
          for (let k = 0; k < H; k++) grads[0]![idx * H + k]! += dz[k]!;
        }
      }
      t++;
      const c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
      const update = (pi: number, from: number, to: number, decay: number) => {
        const p = params[pi]!, g = grads[pi]!, mm = m[pi]!, vv = v[pi]!;
        for (let k = from; k < to; k++) {
          const gk = g[k]! + decay * p[k]!;
          mm[k] = 0.9 * mm[k]! + 0.1 * gk;
          vv[k] = 0.999 * vv[k]! + 0.001 * gk * gk;
          p[k]! -= (lr * mm[k]! / c1) / (Math.sqrt(vv[k]! / c2) + 1e-8);
        }
      };
      // Lazy Adam for the input rows: only the rows of pieces seen in this batch move.
      for (const idx of rows) { update(0, idx * H, (idx + 1) * H, l2); touched[idx] = 0; }
      update(1, 0, H, 0);
      update(2, 0, H * 3, l2);
      update(3, 0, 3, 0);
    }
  }
  return { inputSize: n, hiddenSize: H, mean: new Float32Array(n), scale: new Float32Array(n).fill(1), w1, b1, w2, b2, metadata: { input: 'board' } };
}

/** calibration() for a board head on board samples. */
export function boardCalibration(head: ValueHead, s: BoardSamples, baseRate: number, calibrate: (probs: (i: number) => number[], y: Uint8Array, ply: Uint16Array, game: Uint32Array, baseRate: number) => Calibration): Calibration {
  const x = new Float32Array(BOARD_INPUTS);
  return calibrate((i) => {
    x.fill(0);
    for (let a = 0; a < MAX_ACTIVE; a++) {
      const idx = s.active[i * MAX_ACTIVE + a]!;
      if (idx === NONE) break;
      x[idx] = 1;
    }
    return valueProbs(head, x);
  }, s.y, s.ply, s.game, baseRate);
}

/**
 * Train the board value on the first N games (by id) of the training split and report its
 * calibration on the same validation and test games as trainValueHead; the width with the best
 * validation Brier score is saved as `out/value.safetensors`, the report as `out/calibration.json`.
 * `mix`: synthetic records (`bert4ts xiangqi synth`) whose first `mixGames` games (all by default)
 * join the training games, each weighted as one game: material won and lost decides them, which
 * expert games, rarely leaving a piece hanging, seldom show. Validation and test stay expert games.
 */
export async function trainBoardValue(o: { corpus: string; out: string; trainGames?: number; validationGames?: number; testGames?: number; hidden?: number[]; epochs?: number; mix?: string; mixGames?: number; log?: (line: string) => void }): Promise<{ chosenHidden: number; heads: { hidden: number; validation: Calibration; test: Calibration; fitSeconds: number }[]; baseRate: number; trainPositions: number; mixGames: number }> {
  const { readCorpus } = await import('./dataset.ts');
  const { calibrate, saveValueHead, sideToMoveWinRate } = await import('./value.ts');
  const { mkdirSync } = await import('../../util/node/fs.ts');
  const { writeFileAtomic } = await import('../../util/files.ts');
  const { join } = await import('../../util/node/path.ts');
  const log = o.log ?? ((line: string) => process.stdout.write(line + '\n'));
  mkdirSync(o.out, { recursive: true });
  const { games } = readCorpus(o.corpus);
  const pick = (split: 'train' | 'validation' | 'test', n: number) => games[split].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, n);
  const expert = pick('train', o.trainGames ?? Infinity);
  const mixed = o.mix ? Object.values(readCorpus(o.mix).games).flat().slice(0, o.mixGames ?? Infinity).filter((g) => resultClass(g.result) !== undefined) : [];
  if (o.mix && mixed.length === 0) throw new Error(`${o.mix}: no records with a result from the standard start to mix in`);
  const expertSamples = boardSamples(expert);
  const train = mixed.length ? boardSamples([...expert, ...mixed]) : expertSamples;
  const validation = boardSamples(pick('validation', o.validationGames ?? 150));
  const test = boardSamples(pick('test', o.testGames ?? 300));
  log(`board value: ${train.y.length} training positions${mixed.length ? ` (${train.y.length - expertSamples.y.length} of them from ${mixed.length} records of ${o.mix})` : ''}, ${validation.y.length} validation, ${test.y.length} test`);
  // The base-rate forecast is the experts' (the records' results are nearly all the search's wins).
  const baseRate = sideToMoveWinRate(expertSamples);
  const heads: { hidden: number; validation: Calibration; test: Calibration; fitSeconds: number }[] = [];
  let best: { head: ValueHead; brier: number; hidden: number } | undefined;
  for (const hidden of o.hidden ?? [32]) {
    const t0 = performance.now();
    const head = fitBoardValue(train, { hiddenSize: hidden, epochs: o.epochs });
    const fitSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    const v = boardCalibration(head, validation, baseRate, calibrate), te = boardCalibration(head, test, baseRate, calibrate);
    heads.push({ hidden, validation: v, test: te, fitSeconds });
    log(`board head tanh ${hidden} (${fitSeconds} s): validation Brier ${v.brier} (base rate ${v.brierBaseRate}), test Brier ${te.brier} (base rate ${te.brierBaseRate}), log loss ${te.logLoss}, result accuracy ${te.accuracy}; by plies ${te.accuracyByPly.map((b) => `${b.plies}: ${b.accuracy}`).join(', ')}`);
    if (!best || v.brier < best.brier) best = { head, brier: v.brier, hidden };
  }
  const chosen = heads.find((h) => h.hidden === best!.hidden)!;
  best!.head.metadata = { input: 'board', trainGames: String(expert.length), ...(mixed.length ? { mix: o.mix!, mixGames: String(mixed.length) } : {}), trainPositions: String(train.y.length), testBrier: String(chosen.test.brier), testBrierBaseRate: String(chosen.test.brierBaseRate), testAccuracy: String(chosen.test.accuracy) };
  saveValueHead(join(o.out, 'value.safetensors'), best!.head);
  const report = { input: 'board', chosenHidden: best!.hidden, baseRate: Number(baseRate.toFixed(4)), trainPositions: train.y.length, mixGames: mixed.length, heads };
  writeFileAtomic(join(o.out, 'calibration.json'), JSON.stringify(report, null, 1) + '\n');
  return report;
}
