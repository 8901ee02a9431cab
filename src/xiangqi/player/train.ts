/**
 * Training the player: next-character cross-entropy over the moves (teacher forcing), AdamW with
 * warmup + cosine decay, periodic validation and resumable checkpoints. `moves` format: whole games
 * with a length curriculum (short game openings first, whole games last); `position` and `board`
 * formats: windows of moves after a board prefix (see vocab.ts). Batches are a pure function of the
 * step (see BatchSampler), so `--resume` continues exactly where the run stopped.
 */
import { existsSync, mkdirSync, renameSync, appendFileSync } from 'node:fs';
import { assertNotInput } from '../../util/files.ts';
import { join } from 'node:path';
import type { HostTensor } from '../../graph/dtype.ts';
import { crossEntropy } from '../../graph/composite.ts';
import { input } from '../../graph/ops.ts';
import { ParamStore, Scope } from '../../nn/params.ts';
import { gpt2, type GPT2Config } from '../../models/gpt2.ts';
import { Trainer } from '../../training/trainer.ts';
import { adamW } from '../../training/optimizers.ts';
import { warmupCosine } from '../../training/schedules.ts';
import { compile } from '../../runtime/session.ts';
import { SafetensorsReader, writeSafetensors } from '../../checkpoint/safetensors.ts';
import { Progress } from '../../util/progress.ts';
import { BatchSampler, gameSequence, mixedBatchAt, packBatch, positionSequence, positionWindowMoves, readCorpus, winnerOnly, type CorpusGame, type Sequence } from './dataset.ts';
import { defaultConfig, loadPlayerModel, parseConfig, savePlayerModel } from './model.ts';
import { FORMATS, isContextFormat, MOVE_TOKENS, VOCAB, type ContextFormat } from './vocab.ts';

export interface TrainOptions {
  corpus: string;
  out: string;
  /** Total optimizer steps of the schedule (a resumed run continues towards it). */
  steps: number;
  tokensPerBatch: number;
  learningRate: number;
  warmup: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Validation games used by the periodic evaluation. */
  evalGames: number;
  /** Stop (with a checkpoint) after this many minutes of wall clock, whatever the step. */
  timeLimitMinutes?: number;
  /** Stop (with a checkpoint) at this step of the schedule; `--resume` continues from there. */
  stopAt?: number;
  resume: boolean;
  seed: number;
  /** The network (default: defaultConfig(format)); a resumed run keeps its checkpoint's. */
  config?: GPT2Config;
  /** How the model reads the game (vocab.ts); a resumed run keeps its checkpoint's. */
  format: ContextFormat;
  /** Start from this model's weights (config and format too) on a fresh schedule: fine-tuning. */
  init?: string;
  /**
   * More training records (a corpus JSONL, every game used, e.g. synthetic.ts's) and the share of
   * each batch's tokens drawn from them; the rest comes from the corpus.
   */
  mix?: { corpus: string; share: number };
  /** Targets are only the winners' moves of decisive corpus games (winnerOnly); validation still scores every move. */
  winnerOnly?: boolean;
  /**
   * `position` and `board` formats: show each target move at most this many plies after the board
   * (windows of history + 1 moves), instead of the most the model's positions hold. The player reads
   * it from the model's metadata as its default historyPlies.
   */
  history?: number;
  quiet?: boolean;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'corpus' | 'out'> = {
  steps: 3000,
  tokensPerBatch: 8192,
  learningRate: 1e-3,
  warmup: 200,
  evalEvery: 250,
  checkpointEvery: 250,
  evalGames: 300,
  resume: false,
  seed: 1,
  format: 'position',
};

/**
 * The length curriculum: windows of 128, 256, 512 and then the model's full length, over 15%, 20%,
 * 30% and 35% of the steps. Short windows (openings) are cheap and where the data is densest; the
 * long ones, which hold whole games, get most of the steps. Windows are capped at maxPosition - 1.
 */
export function windowSchedule(steps: number, maxPosition: number): (step: number) => number {
  const windows = [128, 256, 512, maxPosition].map((w) => Math.min(w, maxPosition - 1));
  const ends = [0.15, 0.35, 0.65, 1].map((f) => f * steps);
  return (step) => windows[ends.findIndex((e) => step < e)] ?? windows[windows.length - 1]!;
}

export interface EvalFigures {
  loss: number;
  /** Next-character accuracy. */
  charAccuracy: number;
  /** Moves whose 4 characters are all the model's argmax given the true game so far. */
  moveAccuracy: number;
}

/**
 * The validation sequences of a game (result hidden): `moves` format, the game from the start;
 * `position` format, consecutive windows each after the position where it starts.
 */
export function validationSequences(format: ContextFormat, config: GPT2Config, g: CorpusGame): Sequence[] {
  if (format === 'moves') return [gameSequence(g, config.maxPosition - 1, true)];
  const window = positionWindowMoves(format, config.maxPosition);
  const out: Sequence[] = [];
  for (let from = 0; from < g.moves.length; from += window) out.push(positionSequence(format, g, from, window, true));
  return out;
}

/** Teacher-forced validation over the games' moves (result hidden), in batches of similar length. */
export async function evaluateGames(config: GPT2Config, format: ContextFormat, store: ParamStore, games: CorpusGame[], batchSequences = 16): Promise<EvalFigures> {
  const scope = new Scope(store);
  const logits = gpt2(scope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits;
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const V = config.vocabSize;
  let lossSum = 0, chars = 0, charHits = 0, moves = 0, moveHits = 0;
  const sequences = games.flatMap((g) => validationSequences(format, config, g)).sort((a, b) => a.tokens.length - b.tokens.length);
  try {
    for (let i = 0; i < sequences.length; i += batchSequences) {
      const seqs = sequences.slice(i, i + batchSequences);
      const batch = packBatch(seqs);
      const out = (await exe.run({ ids: batch.ids })).logits!.data as Float32Array;
      const T = batch.ids.shape[1]!;
      seqs.forEach(({ tokens: s, prompt }, b) => {
        let allRight = true;
        for (let t = prompt - 1; t + 1 < s.length; t++) {
          const row = (b * T + t) * V;
          const y = s[t + 1]!;
          let max = -Infinity, best = 0;
          for (let v = 0; v < V; v++) if (out[row + v]! > max) { max = out[row + v]!; best = v; }
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp(out[row + v]! - max);
          lossSum += Math.log(z) + max - out[row + y]!;
          chars++;
          const hit = best === y;
          charHits += hit ? 1 : 0;
          allRight &&= hit;
          if ((t + 1 - prompt) % MOVE_TOKENS === MOVE_TOKENS - 1) { // position t predicts the last character of a move
            moves++;
            moveHits += allRight ? 1 : 0;
            allRight = true;
          }
        }
      });
    }
  } finally {
    await exe.release();
  }
  return { loss: lossSum / chars, charAccuracy: charHits / chars, moveAccuracy: moveHits / moves };
}

const CHECKPOINT = 'checkpoint.safetensors';

export async function trainPlayer(o: TrainOptions): Promise<{ step: number; evals: Record<string, number>[] }> {
  mkdirSync(o.out, { recursive: true });
  const inputs = [o.corpus, ...(o.mix ? [o.mix.corpus] : []), ...(o.init ? [o.init] : [])];
  assertNotInput(inputs, [CHECKPOINT, 'model.safetensors', 'log.jsonl'].map((f) => join(o.out, f)));
  const log = (s: string) => { if (!o.quiet) process.stderr.write(s + '\n'); };
  const { games, skipped } = readCorpus(o.corpus);
  log(`corpus: ${games.train.length} train / ${games.validation.length} validation / ${games.test.length} test games (${skipped} skipped: set-up positions or empty)`);
  if (games.train.length === 0) throw new Error(`${o.corpus} has no games from the standard start to train on`);

  const share = o.mix ? o.mix.share : 0;
  if (!(share >= 0 && share < 1)) throw new Error(`the mixed-in share must be in [0, 1), got ${share}`);
  const mixed = o.mix ? Object.values(readCorpus(o.mix.corpus).games).flat() : [];
  if (o.mix && mixed.length === 0) throw new Error(`${o.mix.corpus} has no games from the standard start`);
  if (o.init && !existsSync(o.init)) throw new Error(`--init: no model file at ${o.init}`);

  let config = o.config ?? defaultConfig(o.format);
  let init = o.init;
  let format = o.format;
  let startStep = 0;
  const store = new ParamStore(o.seed);
  let optimizerState: Map<string, HostTensor> | undefined;
  const checkpointPath = join(o.out, CHECKPOINT);
  if (o.resume) {
    if (!existsSync(checkpointPath)) throw new Error(`--resume: no ${CHECKPOINT} in ${o.out}`);
    const reader = new SafetensorsReader(checkpointPath);
    try {
      config = parseConfig(checkpointPath, reader.metadata.config);
      const savedFormat = reader.metadata.contextFormat ?? 'moves';
      if (!isContextFormat(savedFormat)) throw new Error(`${checkpointPath}: unknown contextFormat "${savedFormat}"`);
      format = savedFormat;
      startStep = Number(reader.metadata.step);
      // A fine-tune keeps its origin; a run that mixed records in must say what it mixes now.
      const saved = JSON.parse(reader.metadata.train ?? '{}') as { init?: string; mix?: { corpus: string; share: number }; winnerOnly?: boolean; history?: number };
      init ??= saved.init;
      if (Boolean(saved.winnerOnly) !== Boolean(o.winnerOnly)) throw new Error(`${checkpointPath} was trained ${saved.winnerOnly ? 'with' : 'without'} --winner-only: resume it the same way`);
      if (saved.history !== o.history) throw new Error(`${checkpointPath} was trained with ${saved.history === undefined ? 'the full history' : `--history ${saved.history}`}: resume it the same way`);
      if (saved.mix && !o.mix) throw new Error(`${checkpointPath} was trained with --mix ${saved.mix.corpus} --mix-share ${saved.mix.share}: pass --mix again to resume it (or other records to change them)`);
      if (saved.mix && o.mix && (saved.mix.corpus !== o.mix.corpus || saved.mix.share !== o.mix.share)) {
        log(`the mix changes from ${saved.mix.corpus} at ${saved.mix.share} to ${o.mix.corpus} at ${o.mix.share}: batches differ from here on`);
      }
      optimizerState = new Map();
      for (const info of reader.list()) {
        const t = reader.read(info.name);
        if (info.name.startsWith('opt/')) optimizerState.set(info.name, t);
        else store.set(info.name, t);
      }
    } finally {
      reader.close();
    }
    log(`resumed from ${checkpointPath} at step ${startStep}`);
    if (startStep >= o.steps) throw new Error(`the checkpoint is at step ${startStep}, already at --steps ${o.steps}; pass a larger --steps to train longer`);
  }

  if (o.init && !o.resume) {
    const start = loadPlayerModel(o.init);
    config = start.config;
    format = start.format;
    for (const name of start.store.names()) store.set(name, start.store.get(name)!);
    log(`fine-tuning ${o.init} (${start.metadata.step ?? '?'} steps)`);
  }
  if (!o.resume) config = { ...config, vocabSize: FORMATS[format].vocabSize };
  const fullWindow = positionWindowMoves(format, config.maxPosition);
  if (o.history !== undefined && format === 'moves') throw new Error('a history limit needs the position or board format (a moves-format model reads the game from its start)');
  if (o.history !== undefined && !(Number.isInteger(o.history) && o.history >= 0 && o.history < fullWindow)) throw new Error(`the history must be an integer from 0 to ${fullWindow - 1} for this model, got ${o.history}`);
  const window = o.history === undefined ? fullWindow : o.history + 1;
  const windowAt = format === 'moves' ? windowSchedule(o.steps, config.maxPosition) : () => window;
  if (windowAt(0) < 1) throw new Error(`a maxPosition of ${config.maxPosition} leaves no room for a move after the position prefix`);
  const trainer = await Trainer.create({
    store,
    loss: (scope) => crossEntropy(gpt2(scope, config, { ids: input('ids', 'int64', ['batch', 'seq']) }).logits, input('labels', 'int64', ['batch', 'seq'])),
    optimizer: adamW(warmupCosine({ peak: o.learningRate, warmup: o.warmup, total: o.steps, min: o.learningRate / 10 }), { weightDecay: 0.01 }),
    clipNorm: 1,
    seed: o.seed,
  });
  if (optimizerState) trainer.loadOptimizerState(optimizerState, startStep);
  else trainer.step = 0;
  const params = trainer.trainable.reduce((n, name) => n + store.get(name)!.data.length, 0);
  log(`model: ${config.numLayers} layers, hidden ${config.hiddenSize}, ${config.numHeads} heads, ${(params / 1e6).toFixed(2)}M parameters, ${format} format; ${o.steps} steps of ~${o.tokensPerBatch} tokens`);

  const trainGames = o.winnerOnly ? games.train.map(winnerOnly) : games.train;
  if (o.winnerOnly) log(`winner-only targets: ${trainGames.filter((g) => g.learn!.includes('1')).length} decisive games of ${games.train.length}`);
  const sampler = new BatchSampler(trainGames, { format, tokensPerBatch: o.tokensPerBatch * (1 - share), windowAt, hideResultRate: 0.1, seed: o.seed });
  // The share is of tokens: records teach only some of their moves, so they carry less of the loss.
  const mixSampler = o.mix ? new BatchSampler(mixed, { format, tokensPerBatch: o.tokensPerBatch * share, windowAt, hideResultRate: 0.1, seed: o.seed + 1 }) : undefined;
  if (o.mix) log(`mixing in ${mixed.length} games from ${o.mix.corpus}: ${Math.round(share * 100)}% of each batch's tokens`);
  const evalSet = [...games.validation].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, o.evalGames);
  const started = Date.now();
  const deadline = o.timeLimitMinutes ? started + o.timeLimitMinutes * 60_000 : Infinity;
  const trainMeta = { steps: o.steps, tokensPerBatch: o.tokensPerBatch, learningRate: o.learningRate, warmup: o.warmup, seed: o.seed, ...(init ? { init } : {}), ...(o.mix ? { mix: o.mix } : {}), ...(o.winnerOnly ? { winnerOnly: true } : {}), ...(o.history !== undefined ? { history: o.history } : {}) };

  const saveCheckpoint = (step: number, extra: Record<string, string> = {}) => {
    const metadata = { config: JSON.stringify(config), contextFormat: format, vocab: VOCAB.slice(0, config.vocabSize).join(' '), step: String(step), train: JSON.stringify(trainMeta), ...extra };
    const tensors: [string, HostTensor][] = [...trainer.trainable.map((n) => [n, store.get(n)!] as [string, HostTensor]), ...trainer.optimizerState()];
    // Write to a temporary name first: a crash mid-write must not destroy the last good checkpoint.
    writeSafetensors(checkpointPath + '.tmp', tensors, metadata);
    renameSync(checkpointPath + '.tmp', checkpointPath);
    savePlayerModel(join(o.out, 'model.safetensors'), { config, format, store }, { metadata: { step: String(step), train: JSON.stringify(trainMeta), ...(o.history !== undefined ? { history: String(o.history) } : {}), ...extra } });
  };

  let lastEval: Record<string, number> = {};
  let lastEvalStep = -1;
  const evaluate = async (step: number) => {
    const f = await evaluateGames(config, format, store, evalSet);
    lastEval = { loss: f.loss, charAccuracy: f.charAccuracy, moveAccuracy: f.moveAccuracy };
    lastEvalStep = step;
    appendFileSync(join(o.out, 'log.jsonl'), JSON.stringify({ step, time: new Date().toISOString(), ...lastEval }) + '\n');
    return { val_loss: f.loss, val_char_acc: f.charAccuracy, val_move_acc: f.moveAccuracy };
  };
  // Counts this run's steps (so rate and ETA are right after a resume); the label says where it started.
  const progress = new Progress({ label: startStep ? `train (from step ${startStep})` : 'train', total: o.steps - startStep, unit: 'step', silent: o.quiet });
  async function* batches() {
    for (let s = startStep; Date.now() < deadline && s < (o.stopAt ?? Infinity); s++) {
      const b = mixedBatchAt(mixSampler ? [sampler, mixSampler] : [sampler], s);
      progress.set({ window: windowAt(s) });
      yield { ids: b.ids, labels: b.labels };
    }
  }
  const result = await trainer.fit({
    batches: batches(),
    steps: o.steps - startStep,
    progress,
    evalEvery: o.evalEvery,
    evaluate,
    checkpointEvery: o.checkpointEvery,
    onCheckpoint: async (step) => saveCheckpoint(step, { validation: JSON.stringify(lastEval) }),
  });
  // The end of the schedule is always evaluated, so the log's last row is the final model.
  if (trainer.step === o.steps && lastEvalStep !== trainer.step) result.evals.push({ step: trainer.step, ...(await evaluate(trainer.step)) });
  saveCheckpoint(trainer.step, { validation: JSON.stringify(lastEval) });
  log(`saved ${join(o.out, 'model.safetensors')} at step ${trainer.step}${trainer.step < o.steps ? ` (stopped early; --resume continues)` : ''}`);
  return { step: trainer.step, evals: result.evals };
}
