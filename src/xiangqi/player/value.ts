/**
 * The value model (the post's idea 3): position → probabilities of red winning, a draw and black
 * winning, from which P(side to move wins). A head on the player's own network (the shared trunk,
 * frozen): it reads the final hidden state after a move's last character, the same state the scorer
 * computes for every legal move (MoveScorer with `hidden`), so valuing every move costs no extra
 * network run. The head is small (a linear layer, or one hidden layer) and trained on the host from
 * features of CCPD games and their recorded results (`bert4ts xiangqi value`).
 *
 * Why a head on the frozen trunk first: it is the cheap one. The trunk is already trained; its
 * features are computed once (one network run per 63-move window of a game gives 63 positions),
 * and fitting the head takes seconds. A separate network would need its own training run.
 */
import type * as Crypto from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from '../../util/node/fs.ts';
import { dirname, join } from '../../util/node/path.ts';
import { builtin } from '../../util/node/builtin.ts';
import { input } from '../../graph/ops.ts';
import { Scope } from '../../nn/params.ts';
import { Random } from '../../util/random.ts';
import { gpt2 } from '../../models/gpt2.ts';
import { compile, type Executable, type RuntimeOptions } from '../../runtime/session.ts';
import { SafetensorsReader, writeSafetensors } from '../../checkpoint/safetensors.ts';
import { tempPathFor, writeFileAtomic } from '../../util/files.ts';
import { toFloat32, type HostTensor } from '../../graph/dtype.ts';
import { positionSequence, positionWindowMoves, type CorpusGame } from './dataset.ts';
import { FORMATS, MOVE_TOKENS, PAD } from './vocab.ts';
import type { PlayerModel } from './model.ts';
import type { Side } from '../board.ts';

/** Result classes, from red's side: 0 red wins, 1 draw, 2 black wins. */
export const RED_WIN = 0, DRAWN = 1, BLACK_WIN = 2;

export function resultClass(result: string): number | undefined {
  return result === '1-0' ? RED_WIN : result === '0-1' ? BLACK_WIN : result === '1/2-1/2' ? DRAWN : undefined;
}

/** The head: standardise, then linear (hiddenSize 0) or one tanh layer, then softmax over 3 classes. */
export interface ValueHead {
  inputSize: number;
  hiddenSize: number;
  mean: Float32Array;
  scale: Float32Array;
  /** [hidden or input, 3] output layer and, with a hidden layer, [input, hidden] before it. */
  w1: Float32Array;
  b1: Float32Array;
  w2?: Float32Array;
  b2?: Float32Array;
  /** Facts saved with it: the trunk's file hash, the data, the figures. */
  metadata: Record<string, string>;
}

/** [P(red wins), P(draw), P(black wins)] for one feature vector. */
export function valueProbs(head: ValueHead, feature: Float32Array): [number, number, number] {
  const { inputSize: n, hiddenSize: h } = head;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = (feature[i]! - head.mean[i]!) * head.scale[i]!;
  let z: Float64Array = x;
  if (h > 0) {
    z = new Float64Array(h);
    for (let j = 0; j < h; j++) {
      let s = head.b1[j]!;
      for (let i = 0; i < n; i++) s += x[i]! * head.w1[i * h + j]!;
      z[j] = Math.tanh(s);
    }
  }
  const [w, b] = h > 0 ? [head.w2!, head.b2!] : [head.w1, head.b1];
  const logits = [0, 1, 2].map((k) => { let s = b[k]!; for (let i = 0; i < z.length; i++) s += z[i]! * w[i * 3 + k]!; return s; });
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const sum = e[0]! + e[1]! + e[2]!;
  return [e[0]! / sum, e[1]! / sum, e[2]! / sum];
}

/** Expected score (win 1, draw ½) for `side`. */
export const expectedScore = (p: readonly number[], side: Side): number => (side === 0 ? p[RED_WIN]! : p[BLACK_WIN]!) + 0.5 * p[DRAWN]!;

/** Features of positions: one row of `size` floats each, with the game result and the ply. */
export interface Features {
  size: number;
  x: Float32Array;
  /** Result class (red's side) of the game each position is from. */
  y: Uint8Array;
  /** Plies played when the position arose (its side to move is ply % 2). */
  ply: Uint16Array;
  /** Index of the game in the list it was extracted from. */
  game: Uint32Array;
}

/** Runs the trunk over whole windows (batch of right-padded sequences) and returns its final hidden states. */
export class FeatureExtractor {
  private constructor(readonly model: PlayerModel, private readonly exe: Executable) {}

  static async create(model: PlayerModel, runtime: RuntimeOptions = {}): Promise<FeatureExtractor> {
    if (model.format === 'moves') throw new Error('the value head needs a position- or board-format model (the moves format has no board in its context)');
    const scope = new Scope(model.store);
    const { hidden } = gpt2(scope, model.config, { ids: input('ids', 'int64', ['batch', 'seq']) });
    return new FeatureExtractor(model, await compile({ hidden }, { params: 'initializers', paramValue: (n) => model.store.get(n) }, runtime));
  }

  /**
   * Every position of the games that have a result (1-0, 0-1, 1/2-1/2), as the player sees it: the
   * result hidden ([*]), the board up to 62 plies before, the moves since, read after each move's
   * last character. Windows of 63 moves (a sequence's last token is never an input in training).
   */
  async extract(games: CorpusGame[], onGame?: (i: number) => void, batch = 8): Promise<Features> {
    const C = this.model.config.hiddenSize;
    const per = positionWindowMoves(this.model.format, this.model.config.maxPosition) - 1;
    const prefix = 1 + FORMATS[this.model.format].prefixTokens;
    const xs: Float32Array[] = [];
    const y: number[] = [], ply: number[] = [], game: number[] = [];
    const pending: { tokens: number[]; from: number; moves: number; cls: number; game: number }[] = [];
    const flush = async () => {
      if (!pending.length) return;
      const T = Math.max(...pending.map((p) => p.tokens.length));
      const ids = new BigInt64Array(pending.length * T).fill(BigInt(PAD));
      pending.forEach((p, b) => p.tokens.forEach((t, i) => { ids[b * T + i] = BigInt(t); }));
      const out = await this.exe.run({ ids: { dtype: 'int64', shape: [pending.length, T], data: ids } });
      const h = out.hidden!.data as Float32Array;
      pending.forEach((p, b) => {
        for (let k = 0; k < p.moves; k++) {
          const at = prefix + k * MOVE_TOKENS + MOVE_TOKENS - 1;
          xs.push(h.slice((b * T + at) * C, (b * T + at + 1) * C));
          y.push(p.cls);
          ply.push(p.from + k + 1);
          game.push(p.game);
        }
      });
      pending.length = 0;
    };
    for (let gi = 0; gi < games.length; gi++) {
      const g = games[gi]!;
      const cls = resultClass(g.result);
      if (cls !== undefined) {
        for (let from = 0; from < g.moves.length; from += per) {
          const s = positionSequence(this.model.format, g, from, per, true);
          pending.push({ tokens: s.tokens, from, moves: Math.min(per, g.moves.length - from), cls, game: gi });
          if (pending.length >= batch) await flush();
        }
      }
      onGame?.(gi);
    }
    await flush();
    const x = new Float32Array(xs.length * C);
    xs.forEach((v, i) => x.set(v, i * C));
    return { size: C, x, y: Uint8Array.from(y), ply: Uint16Array.from(ply), game: Uint32Array.from(game) };
  }

  async release(): Promise<void> {
    await this.exe.release();
  }
}

export interface FitOptions {
  /** 0: a linear head; otherwise the width of one tanh layer. */
  hiddenSize?: number;
  epochs?: number;
  lr?: number;
  /** L2 penalty on the weights. */
  l2?: number;
  seed?: number;
  /**
   * Weight of each position: by default 1 / (positions of its game), so a long game counts no more
   * than a short one (positions within a game share one label and are far from independent).
   */
  perGame?: boolean;
}

/** Fit the head by Adam on the softmax cross-entropy (host, minibatches of 256). */
export function fitValueHead(f: Features, o: FitOptions = {}): ValueHead {
  const n = f.size, h = o.hiddenSize ?? 0, N = f.y.length;
  if (N === 0) throw new Error('no positions to fit the value head on');
  const r = new Random(o.seed ?? 1);
  const mean = new Float32Array(n), scale = new Float32Array(n);
  for (let i = 0; i < N; i++) for (let j = 0; j < n; j++) mean[j]! += f.x[i * n + j]! / N;
  for (let i = 0; i < N; i++) for (let j = 0; j < n; j++) scale[j]! += (f.x[i * n + j]! - mean[j]!) ** 2 / N;
  for (let j = 0; j < n; j++) scale[j] = 1 / Math.sqrt(scale[j]! + 1e-6);
  const gameSize = new Map<number, number>();
  for (const g of f.game) gameSize.set(g, (gameSize.get(g) ?? 0) + 1);
  const meanGame = N / gameSize.size;
  const weight = (i: number) => (o.perGame === false ? 1 : meanGame / gameSize.get(f.game[i]!)!);
  const init = (len: number, fanIn: number) => Float32Array.from({ length: len }, () => r.normal() / Math.sqrt(fanIn));
  const params = h > 0 ? [init(n * h, n), new Float32Array(h), init(h * 3, h), new Float32Array(3)] : [new Float32Array(n * 3), new Float32Array(3)];
  const m = params.map((p) => new Float32Array(p.length)), v = params.map((p) => new Float32Array(p.length));
  const grads = params.map((p) => new Float32Array(p.length));
  const lr = o.lr ?? 1e-3, l2 = o.l2 ?? 1e-4, B = 256, epochs = o.epochs ?? 8;
  const order = Uint32Array.from({ length: N }, (_, i) => i);
  const x = new Float64Array(n), z = new Float64Array(Math.max(h, 1)), dz = new Float64Array(Math.max(h, 1));
  let t = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = N - 1; i > 0; i--) { const j = r.int(i + 1); [order[i], order[j]] = [order[j]!, order[i]!]; }
    for (let start = 0; start < N; start += B) {
      for (const g of grads) g.fill(0);
      const end = Math.min(N, start + B);
      for (let bi = start; bi < end; bi++) {
        const i = order[bi]!;
        for (let j = 0; j < n; j++) x[j] = (f.x[i * n + j]! - mean[j]!) * scale[j]!;
        const inner = h > 0 ? z : x, width = h > 0 ? h : n;
        const [wOut, bOut, gwOut, gbOut] = h > 0 ? [params[2]!, params[3]!, grads[2]!, grads[3]!] : [params[0]!, params[1]!, grads[0]!, grads[1]!];
        if (h > 0) {
          for (let k = 0; k < h; k++) {
            let s = params[1]![k]!;
            for (let j = 0; j < n; j++) s += x[j]! * params[0]![j * h + k]!;
            z[k] = Math.tanh(s);
          }
        }
        const logits = [0, 1, 2].map((c) => { let s = bOut[c]!; for (let j = 0; j < width; j++) s += inner[j]! * wOut[j * 3 + c]!; return s; });
        const max = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - max));
        const sum = e[0]! + e[1]! + e[2]!;
        const w = weight(i) / (end - start);
        const dl = e.map((ei, c) => w * (ei / sum - (c === f.y[i] ? 1 : 0)));
        for (let c = 0; c < 3; c++) gbOut[c]! += dl[c]!;
        for (let j = 0; j < width; j++) for (let c = 0; c < 3; c++) gwOut[j * 3 + c]! += inner[j]! * dl[c]!;
        if (h > 0) {
          for (let k = 0; k < h; k++) dz[k] = (dl[0]! * wOut[k * 3]! + dl[1]! * wOut[k * 3 + 1]! + dl[2]! * wOut[k * 3 + 2]!) * (1 - z[k]! * z[k]!);
          for (let k = 0; k < h; k++) grads[1]![k]! += dz[k]!;
          for (let j = 0; j < n; j++) { const xj = x[j]!; if (xj === 0) continue; for (let k = 0; k < h; k++) grads[0]![j * h + k]! += xj * dz[k]!; }
        }
      }
      t++;
      const c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
      params.forEach((p, pi) => {
        const g = grads[pi]!, mm = m[pi]!, vv = v[pi]!;
        const decay = pi % 2 === 0 ? l2 : 0; // weights, not biases
        for (let k = 0; k < p.length; k++) {
          const gk = g[k]! + decay * p[k]!;
          mm[k] = 0.9 * mm[k]! + 0.1 * gk;
          vv[k] = 0.999 * vv[k]! + 0.001 * gk * gk;
          p[k]! -= (lr * mm[k]! / c1) / (Math.sqrt(vv[k]! / c2) + 1e-8);
        }
      });
    }
  }
  return h > 0
    ? { inputSize: n, hiddenSize: h, mean, scale, w1: params[0]!, b1: params[1]!, w2: params[2]!, b2: params[3]!, metadata: {} }
    : { inputSize: n, hiddenSize: 0, mean, scale, w1: params[0]!, b1: params[1]!, metadata: {} };
}

export interface Calibration {
  positions: number;
  games: number;
  /** Brier score of P(side to move wins), the outcome 1 for a win and 0 for a draw or a loss. */
  brier: number;
  /** The same for a constant forecast: the training rate of side-to-move wins. */
  brierBaseRate: number;
  /** Mean log loss over the 3 classes. */
  logLoss: number;
  /** Share of positions whose most likely class is the game's result, by plies played. */
  accuracyByPly: { plies: string; positions: number; accuracy: number; brier: number }[];
  accuracy: number;
}

const PLY_BUCKETS: [number, number][] = [[0, 20], [20, 40], [40, 60], [60, 80], [80, 120], [120, 10_000]];

/** How well the head's forecasts match the results of held-out games. `baseRate`: P(side to move wins) of a constant forecast. */
export function calibration(head: ValueHead, f: Features, baseRate: number): Calibration {
  return calibrate((i) => valueProbs(head, f.x.subarray(i * f.size, (i + 1) * f.size)), f.y, f.ply, f.game, baseRate);
}

/** Calibration of any forecast: `probs(i)` is [P(red wins), P(draw), P(black wins)] for position i. */
export function calibrate(probs: (i: number) => number[], y: Uint8Array, plies: Uint16Array, games: Uint32Array, baseRate: number): Calibration {
  const N = y.length;
  let brier = 0, brierBase = 0, logLoss = 0, hits = 0;
  const buckets = PLY_BUCKETS.map(() => ({ n: 0, hits: 0, brier: 0 }));
  for (let i = 0; i < N; i++) {
    const p = probs(i);
    const side = (plies[i]! % 2) as Side;
    const won = y[i] === (side === 0 ? RED_WIN : BLACK_WIN) ? 1 : 0;
    const pWin = side === 0 ? p[RED_WIN]! : p[BLACK_WIN]!;
    const b = (pWin - won) ** 2;
    brier += b;
    brierBase += (baseRate - won) ** 2;
    logLoss -= Math.log(Math.max(1e-12, p[y[i]!]!));
    const hit = p.indexOf(Math.max(...p)) === y[i] ? 1 : 0;
    hits += hit;
    const k = PLY_BUCKETS.findIndex(([lo, hi]) => plies[i]! >= lo && plies[i]! < hi);
    buckets[k]!.n++;
    buckets[k]!.hits += hit;
    buckets[k]!.brier += b;
  }
  const round = (x: number) => Number(x.toFixed(4));
  return {
    positions: N, games: new Set(games).size, brier: round(brier / N), brierBaseRate: round(brierBase / N), logLoss: round(logLoss / N), accuracy: round(hits / N),
    accuracyByPly: PLY_BUCKETS.map(([lo, hi], k) => ({ plies: hi > 1000 ? `${lo}+` : `${lo}-${hi - 1}`, positions: buckets[k]!.n, accuracy: round(buckets[k]!.hits / Math.max(1, buckets[k]!.n)), brier: round(buckets[k]!.brier / Math.max(1, buckets[k]!.n)) })),
  };
}

/** Share of positions whose side to move went on to win. */
export function sideToMoveWinRate(f: { y: Uint8Array; ply: Uint16Array }): number {
  let wins = 0;
  for (let i = 0; i < f.y.length; i++) if (f.y[i] === (f.ply[i]! % 2 === 0 ? RED_WIN : BLACK_WIN)) wins++;
  return wins / Math.max(1, f.y.length);
}

/** sha256 of a file's bytes: ties a head to the trunk it was trained on. */
export const fileSha256 = (path: string): string => builtin<typeof Crypto>('node:crypto').createHash('sha256').update(readFileSync(path)).digest('hex');

/** The value head's file beside a player's model file. */
export const valueHeadPathFor = (modelFile: string): string => join(dirname(modelFile), 'value.safetensors');

export function saveValueHead(path: string, head: ValueHead): void {
  const t = (data: Float32Array, shape: number[]): HostTensor => ({ dtype: 'float32', shape, data });
  const tensors: [string, HostTensor][] = [['value.mean', t(head.mean, [head.inputSize])], ['value.scale', t(head.scale, [head.inputSize])]];
  if (head.hiddenSize > 0) tensors.push(['value.w1', t(head.w1, [head.inputSize, head.hiddenSize])], ['value.b1', t(head.b1, [head.hiddenSize])], ['value.w2', t(head.w2!, [head.hiddenSize, 3])], ['value.b2', t(head.b2!, [3])]);
  else tensors.push(['value.w1', t(head.w1, [head.inputSize, 3])], ['value.b1', t(head.b1, [3])]);
  const tmp = tempPathFor(path);
  try {
    writeSafetensors(tmp, tensors, { ...head.metadata, format: 'bert4ts-xiangqi-value', hiddenSize: String(head.hiddenSize) });
    renameSync(tmp, path);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
}

/**
 * Load a head. With `trunkFile`, refuse a head trained on another trunk (its features would mean
 * nothing): the head's metadata names the sha256 of the model file it read.
 */
export function loadValueHead(path: string, trunkFile?: string): ValueHead {
  if (!existsSync(path)) throw new Error(`no value head at ${path}: train one with \`bert4ts xiangqi value --corpus games.jsonl --model <model> --out <dir>\``);
  const reader = new SafetensorsReader(path);
  try {
    if (reader.metadata.format !== 'bert4ts-xiangqi-value') throw new Error(`${path} is not a bert4ts xiangqi value head`);
    if (trunkFile && reader.metadata.trunkSha256 && reader.metadata.trunkSha256 !== fileSha256(trunkFile)) {
      throw new Error(`${path} was trained on another model than ${trunkFile} (sha256 differs): retrain it with \`bert4ts xiangqi value\``);
    }
    const get = (name: string) => toFloat32(reader.read(name)).data as Float32Array;
    const mean = get('value.mean');
    const hiddenSize = Number(reader.metadata.hiddenSize ?? 0);
    const head: ValueHead = { inputSize: mean.length, hiddenSize, mean, scale: get('value.scale'), w1: get('value.w1'), b1: get('value.b1'), metadata: { ...reader.metadata } };
    if (hiddenSize > 0) { head.w2 = get('value.w2'); head.b2 = get('value.b2'); }
    return head;
  } finally {
    reader.close();
  }
}

/** Features to a file (a JSON header line, then x, y, ply and game as raw little-endian arrays), so a head can be refitted without the network. */
export function saveFeatures(path: string, f: Features, meta: Record<string, string | number>): void {
  const header = Buffer.from(JSON.stringify({ ...meta, size: f.size, positions: f.y.length }) + '\n');
  const parts = [header, Buffer.from(f.x.buffer, f.x.byteOffset, f.x.byteLength), Buffer.from(f.y), Buffer.from(f.ply.buffer, f.ply.byteOffset, f.ply.byteLength), Buffer.from(f.game.buffer, f.game.byteOffset, f.game.byteLength)];
  const tmp = tempPathFor(path);
  writeFileSync(tmp, Buffer.concat(parts));
  renameSync(tmp, path);
}

/** Read saveFeatures' file; undefined when absent or made with other `meta` (another model or game count). */
export function loadFeatures(path: string, meta: Record<string, string | number>): Features | undefined {
  if (!existsSync(path)) return undefined;
  const buf = readFileSync(path);
  const nl = buf.indexOf(10);
  const header = JSON.parse(buf.subarray(0, nl).toString()) as Record<string, string | number>;
  if (Object.entries(meta).some(([k, v]) => header[k] !== v)) return undefined;
  const size = Number(header.size), N = Number(header.positions);
  let at = nl + 1;
  const take = (bytes: number) => { const b = new Uint8Array(bytes); b.set(buf.subarray(at, at + bytes)); at += bytes; return b.buffer; };
  const x = new Float32Array(take(N * size * 4)), y = new Uint8Array(take(N)), ply = new Uint16Array(take(N * 2)), game = new Uint32Array(take(N * 4));
  return { size, x, y, ply, game };
}

export interface TrainValueOptions {
  corpus: string;
  /** The trunk: a player model file (default: the shipped one). */
  model?: string;
  /** Directory for the feature caches, value.safetensors and calibration.json. */
  out: string;
  trainGames?: number;
  validationGames?: number;
  testGames?: number;
  /** Head widths to try (0 = linear); the one with the lowest validation Brier score is saved. */
  hidden?: number[];
  epochs?: number;
  runtime?: RuntimeOptions;
  log?: (line: string) => void;
  quiet?: boolean;
}

export interface ValueReport {
  model: string;
  trunkSha256: string;
  chosenHidden: number;
  baseRate: number;
  heads: { hidden: number; validation: Calibration; test: Calibration; fitSeconds: number }[];
  extractSeconds: Record<string, number>;
}

/**
 * Train the value head: features of the first N games (by id) of each split, cached in `out`; a head
 * per width on the training features, the one with the best validation Brier score saved as
 * `out/value.safetensors`, every head's calibration on the test games in `out/calibration.json`.
 */
export async function trainValueHead(o: TrainValueOptions): Promise<ValueReport> {
  const { readCorpus } = await import('./dataset.ts');
  const { loadPlayerModel, SHIPPED_MODEL } = await import('./model.ts');
  const { Progress } = await import('../../util/progress.ts');
  const log = o.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const modelFile = o.model ? (existsSync(o.model) && statSync(o.model).isDirectory() ? join(o.model, 'model.safetensors') : o.model) : SHIPPED_MODEL;
  const model = loadPlayerModel(modelFile);
  const trunkSha256 = fileSha256(modelFile);
  mkdirSync(o.out, { recursive: true });
  const { games } = readCorpus(o.corpus);
  const counts = { train: o.trainGames ?? 2000, validation: o.validationGames ?? 150, test: o.testGames ?? 300 };
  const features: Partial<Record<keyof typeof counts, Features>> = {};
  const extractSeconds: Record<string, number> = {};
  let extractor: FeatureExtractor | undefined;
  try {
    for (const split of ['train', 'validation', 'test'] as const) {
      const list = games[split].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, counts[split]);
      const meta = { trunkSha256, split, games: list.length, corpusGames: games[split].length };
      const cache = join(o.out, `features-${split}.bin`);
      let f = loadFeatures(cache, meta);
      if (!f) {
        extractor ??= await FeatureExtractor.create(model, o.runtime);
        const progress = o.quiet ? undefined : new Progress({ label: `features ${split}`, total: list.length, unit: 'game' });
        const t0 = performance.now();
        f = await extractor.extract(list, () => progress?.tick(1));
        progress?.finish();
        extractSeconds[split] = Number(((performance.now() - t0) / 1000).toFixed(1));
        saveFeatures(cache, f, meta);
      }
      features[split] = f;
      log(`${split}: ${f.y.length} positions from ${new Set(f.game).size} games with a result`);
    }
  } finally {
    await extractor?.release();
  }
  const baseRate = sideToMoveWinRate(features.train!);
  const heads: ValueReport['heads'] = [];
  let best: { head: ValueHead; brier: number; hidden: number } | undefined;
  for (const hidden of o.hidden ?? [0]) {
    const t0 = performance.now();
    const head = fitValueHead(features.train!, { hiddenSize: hidden, epochs: o.epochs });
    const fitSeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    const validation = calibration(head, features.validation!, baseRate);
    const test = calibration(head, features.test!, baseRate);
    heads.push({ hidden, validation, test, fitSeconds });
    log(`head ${hidden ? `tanh ${hidden}` : 'linear'} (${fitSeconds} s): validation Brier ${validation.brier} (base rate ${validation.brierBaseRate}), test Brier ${test.brier} (base rate ${test.brierBaseRate}), log loss ${test.logLoss}, result accuracy ${test.accuracy}; by plies ${test.accuracyByPly.map((b) => `${b.plies}: ${b.accuracy}`).join(', ')}`);
    if (!best || validation.brier < best.brier) best = { head, brier: validation.brier, hidden };
  }
  const chosen = heads.find((h) => h.hidden === best!.hidden)!;
  best!.head.metadata = {
    trunkSha256, trunk: modelFile, trainGames: String(counts.train), trainPositions: String(features.train!.y.length),
    testBrier: String(chosen.test.brier), testBrierBaseRate: String(chosen.test.brierBaseRate), testAccuracy: String(chosen.test.accuracy),
  };
  saveValueHead(join(o.out, 'value.safetensors'), best!.head);
  const report: ValueReport = { model: modelFile, trunkSha256, chosenHidden: best!.hidden, baseRate: Number(baseRate.toFixed(4)), heads, extractSeconds };
  writeFileAtomic(join(o.out, 'calibration.json'), JSON.stringify(report, null, 1) + '\n');
  return report;
}
