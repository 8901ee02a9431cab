/**
 * A resumable MLM pretraining run in one directory:
 *
 *   run.json                 the run's settings (sources, sizes, schedule, seed); `resume` reuses them
 *   config.json              the model (Hugging Face BERT config)
 *   vocab.txt, keep_tokens.json, tokenizer_config.json   the trimmed vocabulary
 *   checkpoint.safetensors   weights + AdamW state + step (metadata), replaced atomically
 *   best.safetensors         weights at the best held-out MLM accuracy so far
 *   log.jsonl                {step, loss, lr, tokens_per_s, ...} every logEvery steps; {step, heldout_acc, ...} every evalEvery
 *
 * Batches are a pure function of (seed, step) (data.ts), so the checkpoint's step is the data position.
 * The run stops cleanly (checkpoint first) at `steps`, `stopAt`, the deadline, a compute budget
 * (RunControl.trainSeconds), or SIGTERM/SIGINT.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../../graph/dtype.ts';
import { SafetensorsReader, writeSafetensors } from '../../checkpoint/safetensors.ts';
import { ParamStore } from '../../nn/params.ts';
import { Random } from '../../util/random.ts';
import { jiebaSegmenter } from '../../tokenizers/cpm.ts';
import { loadTokenizer } from '../../tokenizers/load.ts';
import { saveTokenizer } from '../../tokenizers/save.ts';
import type { Tokenizer } from '../../tokenizers/types.ts';
import { Trainer } from '../trainer.ts';
import { adamW } from '../optimizers.ts';
import { warmupLinear } from '../schedules.ts';
import { Progress } from '../../util/progress.ts';
import { writeFileAtomic } from '../../util/files.ts';
import { isHeldOut, readDocuments, type CorpusSource } from './corpus.ts';
import { PretrainStream, maskedBatch, nonSpecialIds, packRows, rowSeed, specialIds, tokenizeDocuments, trimVocabulary, type MaskOptions } from './data.ts';
import { bertConfigJson, evaluateMlm, gatheredMlm, parseConfig, readInitModel, type InitModel, type ModelSize } from './model.ts';
import { ElectraSampler, electraConfigs, electraLoss, evaluateDiscriminator, generatorLogits, parseElectra } from './electra.ts';

export interface PretrainSettings {
  sources: CorpusSource[];
  /** WordPiece vocab.txt (or its folder) to trim. */
  vocab: string;
  /** Keep tokens seen at least this often in the training text (data.ts keepTokensByCount). */
  minCount: number;
  size: ModelSize;
  maxlen: number;
  batchSize: number;
  /** Total optimizer steps of the schedule (warmup, then linear decay to 0 at this step). */
  steps: number;
  learningRate: number;
  warmup: number;
  weightDecay: number;
  dropout: number;
  seed: number;
  /** Held-out documents: this many of 1000 hash buckets of the text. */
  heldOutPermille: number;
  /** Rows of held-out text scored by the periodic evaluation (fixed masking). */
  evalRows: number;
  maskRate: number;
  wholeWord: boolean;
  /** 'mlm' (BERT/RoBERTa) or 'electra' (generator + discriminator, electra.ts; held-out accuracy is the generator's). */
  objective?: 'mlm' | 'electra';
  /** ELECTRA only: the generator's width over the discriminator's, in (0, 1] (electra.ts; default 0.25). */
  generatorRatio?: number;
  /**
   * Continue pretraining from this model directory (a BERT with an MLM head, e.g. an export): its
   * weights start the run, its (trimmed) vocabulary is the run's, and `size` must be its size. MLM only.
   */
  init?: string;
}

export const DEFAULT_SETTINGS: Omit<PretrainSettings, 'sources' | 'vocab'> = {
  minCount: 5, size: { layers: 4, hidden: 256, heads: 4, maxPosition: 128 }, maxlen: 128, batchSize: 32, steps: 20000,
  learningRate: 5e-4, warmup: 500, weightDecay: 0.01, dropout: 0.1, seed: 1, heldOutPermille: 10, evalRows: 256, maskRate: 0.15, wholeWord: true,
};

export interface RunControl {
  out: string;
  resume: boolean;
  /** Stop (with a checkpoint) at this step; a later resume continues. */
  stopAt?: number;
  /** Stop (with a checkpoint) at this time (ms since the epoch). */
  deadline?: number;
  /**
   * A compute budget: stop (with a checkpoint) once the training steps have taken this many seconds
   * (the run's trainSeconds, summed over resumes; data preparation and evaluation do not count). The
   * schedule is refit to end there: its length becomes the step the measured seconds per step
   * reach the budget at, and warmup keeps its share of it (settings warmup / steps). So runs of
   * unequal speed (MLM vs ELECTRA) each decay to 0 within the same compute. The LR then depends on
   * timing, so such runs do not repeat bit for bit. run.json ends with the schedule as it ran.
   */
  trainSeconds?: number;
  /** Checkpoint at least this often (minutes of wall clock). */
  checkpointMinutes: number;
  evalEvery: number;
  logEvery: number;
  /** Override the schedule's total steps on resume (train longer). */
  steps?: number;
  quiet?: boolean;
  /** Stop on SIGTERM/SIGINT after the current step, with a checkpoint (default true). */
  handleSignals?: boolean;
}

export class PretrainError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'PretrainError';
  }
}

export interface PreparedData {
  tokenizer: Tokenizer;
  train: ReturnType<typeof tokenizeDocuments>;
  heldOut: ReturnType<typeof tokenizeDocuments>;
  stats: { documents: number; heldOutDocuments: number; chars: number; heldOutChars: number; tokens: number; heldOutTokens: number; unk: number };
  maskOptions: MaskOptions;
}

/** The held-out result a run keeps as best.safetensors: higher accuracy, or on a tie (the same hits) lower loss. */
export function betterHeldOut(a: { accuracy: number; loss: number }, best: { accuracy: number; loss: number }): boolean {
  return a.accuracy > best.accuracy || (a.accuracy === best.accuracy && a.loss < best.loss);
}

/** Reads the sources, splits off the held-out slice, trims (or loads) the vocabulary and tokenizes. */
export async function prepareData(s: PretrainSettings, tokenizer?: Tokenizer): Promise<PreparedData> {
  const train: string[] = [], held: string[] = [];
  for (const src of s.sources) for (const d of readDocuments(src)) (isHeldOut(d.text, s.heldOutPermille) ? held : train).push(d.text);
  if (!train.length) throw new PretrainError(s.sources.map((x) => x.path).join(', '), 'no training documents');
  tokenizer ??= trimVocabulary(await loadTokenizer(s.vocab, { keepTokens: false }), train, s.minCount);
  const seg = await jiebaSegmenter();
  const tTrain = tokenizeDocuments(tokenizer, seg, train), tHeld = tokenizeDocuments(tokenizer, seg, held);
  const unkId = tokenizer.specialTokens.unk?.id;
  let unk = 0;
  for (const id of tTrain.ids) if (id === unkId) unk++;
  const chars = (a: string[]) => a.reduce((n, t) => n + t.length, 0);
  return {
    tokenizer, train: tTrain, heldOut: tHeld,
    stats: { documents: train.length, heldOutDocuments: held.length, chars: chars(train), heldOutChars: chars(held), tokens: tTrain.ids.length, heldOutTokens: tHeld.ids.length, unk },
    maskOptions: { rate: s.maskRate, maxPredictions: Math.ceil(s.maxlen * s.maskRate), maskId: specialIds(tokenizer).mask, randomIds: nonSpecialIds(tokenizer), wholeWord: s.wholeWord },
  };
}

/** The held-out evaluation batches: held-out documents in file order, masked with a fixed seed. */
export function heldOutBatches(data: PreparedData, s: PretrainSettings, batchSize = 32): Record<string, HostTensor>[] {
  const n = data.heldOut.offsets.length - 1;
  if (n === 0) return [];
  const packed = packRows(data.heldOut, Int32Array.from({ length: n }, (_, i) => i), s.maxlen, specialIds(data.tokenizer));
  const rows = Math.min(packed.rows, s.evalRows);
  const out: Record<string, HostTensor>[] = [];
  for (let r = 0; r < rows; r += batchSize) {
    const ids = Array.from({ length: Math.min(batchSize, rows - r) }, (_, i) => r + i);
    out.push(maskedBatch(packed, ids, ids.map((i) => rowSeed(12345, 0, i)), data.maskOptions));
  }
  return out;
}

const CHECKPOINT = 'checkpoint.safetensors';
const BEST = 'best.safetensors';

function readRunJson(path: string): PretrainSettings {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PretrainSettings;
  } catch (e) {
    throw new PretrainError(path, `cannot read the run settings: ${(e as Error).message}`);
  }
}

/** Refuses settings the run cannot use, naming the setting. */
export function checkSettings(s: PretrainSettings, where: string): void {
  if (s.generatorRatio !== undefined) {
    if (s.objective !== 'electra') throw new PretrainError(where, `generatorRatio ${s.generatorRatio} applies to objective 'electra' only (this run is '${s.objective ?? 'mlm'}')`);
    if (!(s.generatorRatio > 0 && s.generatorRatio <= 1)) throw new PretrainError(where, `generatorRatio must be > 0 and <= 1 (the generator's width over the discriminator's), got ${s.generatorRatio}`);
  }
  if (s.init !== undefined && s.objective === 'electra') throw new PretrainError(where, `init applies to objective 'mlm' only (an ELECTRA run starts its generator and discriminator from random weights)`);
}

/** Trains (or resumes) a run; returns the final step and the last held-out figures. */
export async function pretrain(settings: PretrainSettings | null, ctl: RunControl): Promise<{ step: number; heldOut: Record<string, number>; stopped: string }> {
  const { out } = ctl;
  const log = (m: string) => { if (!ctl.quiet) process.stderr.write(m + '\n'); };
  const runJson = join(out, 'run.json'), ckpt = join(out, CHECKPOINT);
  let s: PretrainSettings;
  let tokenizer: Tokenizer | undefined;
  let init: InitModel | undefined;
  if (ctl.resume) {
    if (!existsSync(ckpt)) throw new PretrainError(ckpt, 'no checkpoint to resume (start a run without --resume)');
    s = readRunJson(runJson);
    if (ctl.steps !== undefined) s = { ...s, steps: ctl.steps };
    tokenizer = await loadTokenizer(out);
  } else {
    if (!settings) throw new PretrainError(out, 'a new run needs settings');
    if (existsSync(ckpt)) throw new PretrainError(ckpt, 'a run already exists here: pass --resume to continue it, or choose another --out');
    s = settings;
    checkSettings(s, runJson);
    if (s.init !== undefined) {
      init = await readInitModel(s.init);
      const want = { ...s.size, intermediate: s.size.intermediate ?? 4 * s.size.hidden };
      if ((['layers', 'hidden', 'heads', 'intermediate', 'maxPosition'] as const).some((k) => want[k] !== init!.size[k])) throw new PretrainError(runJson, `size ${JSON.stringify(want)} is not the size of the init model ${s.init}: ${JSON.stringify(init.size)}`);
      tokenizer = init.tokenizer;
    }
    mkdirSync(out, { recursive: true });
  }
  const t0 = Date.now();
  const data = await prepareData(s, tokenizer);
  const V = data.tokenizer.vocabSize;
  log(`data: ${data.stats.documents} documents, ${data.stats.chars} characters, ${data.stats.tokens} tokens (${data.stats.unk} [UNK]); held out ${data.stats.heldOutDocuments} documents, ${data.stats.heldOutTokens} tokens; vocabulary ${V} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const electra = s.objective === 'electra' ? electraConfigs(s.size, V, { dropout: s.dropout, generatorRatio: s.generatorRatio }) : null;
  const configJson = electra ? electra.discriminator : bertConfigJson(s.size, V, s.dropout);
  if (!ctl.resume) {
    saveTokenizer(data.tokenizer, out);
    writeFileAtomic(join(out, 'config.json'), JSON.stringify(configJson, null, 2) + '\n');
    if (electra) writeFileAtomic(join(out, 'generator_config.json'), JSON.stringify(electra.generator, null, 2) + '\n');
    writeFileAtomic(runJson, JSON.stringify(s, null, 2) + '\n');
    writeFileAtomic(join(out, 'data.json'), JSON.stringify(data.stats, null, 2) + '\n');
  } else if (s.steps !== readRunJson(runJson).steps) {
    writeFileAtomic(runJson, JSON.stringify(s, null, 2) + '\n');
  }
  const config = electra ? parseElectra(electra).generator : parseConfig(configJson);
  const electraC = electra ? parseElectra(electra) : null;
  const sampler = electraC ? new ElectraSampler(electraC) : null;
  const store = new ParamStore(s.seed);
  let startStep = 0;
  let meta: Record<string, string> = {};
  let optState: Map<string, HostTensor> | undefined;
  if (ctl.resume) {
    const reader = new SafetensorsReader(ckpt);
    try {
      meta = { ...reader.metadata };
      startStep = Number(meta.step);
      if (!Number.isInteger(startStep) || startStep < 0) throw new PretrainError(ckpt, `metadata step '${meta.step}' is not a step count`);
      optState = new Map();
      for (const info of reader.list()) (info.name.startsWith('opt/') ? optState.set(info.name, reader.read(info.name)) : store.set(info.name, reader.read(info.name)));
    } finally {
      reader.close();
    }
  }
  for (const [name, t] of init?.weights ?? []) store.set(name, t);
  // The schedule's length and warmup; a compute budget (ctl.trainSeconds) refits them as it runs.
  const schedule = { total: s.steps, warmup: s.warmup };
  const warmupShare = s.warmup / s.steps;
  const trainer = await Trainer.create({
    store,
    loss: (scope) => (electraC ? electraLoss(scope, electraC).loss : gatheredMlm(scope, config).loss),
    optimizer: adamW((step) => warmupLinear({ peak: s.learningRate, ...schedule })(step), { weightDecay: s.weightDecay }),
    clipNorm: 1,
    seed: s.seed,
  });
  if (optState) trainer.loadOptimizerState(optState, startStep);
  if (init) {
    // Every weight the run trains comes from the init model, and every init weight is trained: no silent fresh tensor.
    const fresh = trainer.trainable.filter((n) => !init!.weights.has(n)), unused = [...init.weights.keys()].filter((n) => !trainer.trainable.includes(n));
    if (fresh.length || unused.length) throw new PretrainError(s.init!, `weights do not fit the pretraining model: not in the init model ${fresh.join(', ') || 'none'}; unused ${unused.join(', ') || 'none'}`);
  }
  const params = trainer.trainable.reduce((n, name) => n + store.get(name)!.data.length, 0);
  const generator = electraC ? `; generator hidden ${electraC.generator.hiddenSize}, ${electraC.generator.numHeads} heads` : '';
  log(`model: ${init ? `from ${s.init}, ` : ''}${s.size.layers} layers, hidden ${s.size.hidden}, ${s.size.heads} heads, ${V} tokens, ${(params / 1e6).toFixed(2)}M parameters${generator}; ${s.batchSize} x ${s.maxlen} per step${startStep ? `; resumed at step ${startStep}` : ''}`);

  const stream = new PretrainStream(data.train, specialIds(data.tokenizer), { ...data.maskOptions, maxlen: s.maxlen, batchSize: s.batchSize, seed: s.seed });
  // ELECTRA: the held-out figure is the generator's MLM accuracy (its trunk's feeds are renamed).
  const heldOut = heldOutBatches(data, s);
  const evalBatches = heldOut.map((b) => (electra ? { ...b, ...Object.fromEntries(['input_ids', 'attention_mask', 'token_type_ids'].map((k) => [`generator/${k}`, b[k]!])) } : b));
  let best = Number(meta.bestAccuracy ?? -1);
  // A checkpoint from before bestLoss was kept: a tie does not replace its best (the earlier rule).
  let bestLoss = Number(meta.bestLoss ?? -Infinity);
  let trainSeconds = Number(meta.trainSeconds ?? 0);
  let tokensSeen = Number(meta.tokensSeen ?? 0);
  let lastEval: Record<string, number> = JSON.parse(meta.heldOut ?? '{}');
  const logLine = (o: Record<string, unknown>) => appendFileSync(join(out, 'log.jsonl'), JSON.stringify({ ...o, time: new Date().toISOString() }) + '\n');
  const weights = () => trainer.trainable.map((n) => [n, store.get(n)!] as [string, HostTensor]);
  const metadata = (step: number): Record<string, string> => {
    const pos = stream.position(step);
    return { format: 'bert4ts-pretrain', step: String(step), epoch: String(pos.epoch), row: String(pos.row), seed: String(s.seed), trainSeconds: trainSeconds.toFixed(1), tokensSeen: String(tokensSeen), bestAccuracy: String(best), bestLoss: String(bestLoss), heldOut: JSON.stringify(lastEval), ...(perStep ? { secondsPerStep: perStep.toFixed(4) } : {}), config: JSON.stringify(configJson) };
  };
  const checkpoint = (step: number) => writeSafetensors(ckpt, [...weights(), ...trainer.optimizerState()], metadata(step));
  const evaluate = async (step: number) => {
    if (!evalBatches.length) return;
    const f = await evaluateMlm(config, store, evalBatches, { logits: electraC ? (scope) => generatorLogits(scope, electraC.generator) : undefined, maskId: data.maskOptions.maskId });
    // ELECTRA: the discriminator's replaced-token detection on the same rows (its AUC near 0.5 flags a collapse).
    const d = electraC ? await evaluateDiscriminator(electraC, store, sampler!, heldOut, s.seed) : null;
    const rtd: Record<string, number> = d ? { rtdLoss: d.loss, rtdAccuracy: d.accuracy, rtdAuc: d.auc, replaced: d.replaced } : {};
    lastEval = { accuracy: f.accuracy, loss: f.loss, tokens: f.tokens, maskedAccuracy: f.maskedAccuracy!, step, ...rtd };
    logLine({ step, heldout_acc: f.accuracy, heldout_loss: f.loss, heldout_tokens: f.tokens, heldout_mask_acc: f.maskedAccuracy, ...(d ? { heldout_rtd_loss: d.loss, heldout_rtd_acc: d.accuracy, heldout_rtd_auc: d.auc, heldout_replaced: d.replaced } : {}) });
    const isBest = betterHeldOut(f, { accuracy: best, loss: bestLoss });
    if (isBest) {
      best = f.accuracy;
      bestLoss = f.loss;
      writeSafetensors(join(out, BEST), weights(), { ...metadata(step), accuracy: String(f.accuracy) });
    }
    const rtdText = d ? `; replaced-token detection AUC ${d.auc.toFixed(3)}, accuracy ${(100 * d.accuracy).toFixed(2)}% (${(100 * d.replaced).toFixed(1)}% replaced), loss ${d.loss.toFixed(4)}` : '';
    progress.log(`step ${step}: held-out ${electraC ? 'generator ' : ''}MLM accuracy ${(100 * f.accuracy).toFixed(2)}% (at [MASK] ${(100 * f.maskedAccuracy!).toFixed(2)}%), loss ${f.loss.toFixed(4)}${isBest ? ' (best)' : ''}${rtdText}`);
  };

  let stopped = '';
  const onSignal = (sig: string) => { stopped = sig; log(`${sig}: stopping after this step, with a checkpoint`); };
  const handlers = ctl.handleSignals === false ? [] : (['SIGTERM', 'SIGINT'] as const).map((sig) => { const h = () => onSignal(sig); process.on(sig, h); return [sig, h] as const; });
  const budget = ctl.trainSeconds;
  // Under a budget the schedule's length is an estimate: the budget, not s.steps, ends the run.
  const stopAt = budget !== undefined ? ctl.stopAt ?? Infinity : Math.min(ctl.stopAt ?? Infinity, s.steps);
  const progress = new Progress({ label: startStep ? `pretrain (from step ${startStep})` : 'pretrain', total: Math.min(stopAt, s.steps) - startStep, unit: 'step', silent: ctl.quiet });
  logLine({ event: startStep ? 'resume' : 'start', step: startStep, params, vocab: V, pid: process.pid, ...(budget !== undefined ? { train_seconds_budget: budget } : {}) });
  let firstStepDone = -1; // trainSeconds after this process's first step (ORT's first run is slow), left out of the rate
  // Seconds per step (the budget's stop rule and refit); kept in the checkpoint so a resumed run stops where the first would have.
  let perStep = Number(meta.secondsPerStep ?? 0);
  const refit = () => {
    const steps = step - startStep - 1;
    if (budget === undefined || steps < 2) return;
    perStep = (trainSeconds - firstStepDone) / steps;
    schedule.total = Math.max(step + 1, Math.round(step + (budget - trainSeconds) / perStep));
    schedule.warmup = Math.max(1, Math.round(warmupShare * schedule.total));
    progress.total = Math.min(stopAt, schedule.total) - startStep;
  };
  if (startStep === 0) await evaluate(0);
  await sampler?.compiled(store); // compiling is not a step's compute (a budget counts step time)
  let lastCkpt = Date.now();
  let window = { loss: 0, steps: 0, tokens: 0, started: Date.now() };
  let step = startStep;
  let failed = false;
  let last: Awaited<ReturnType<Trainer['trainStep']>> | undefined;
  const logWindow = () => {
    const sec = (Date.now() - window.started) / 1000;
    logLine({ step, loss: window.loss / window.steps, lr: last!.learningRate, grad_norm: last!.gradNorm, tokens_per_s: window.tokens / sec, steps_per_s: window.steps / sec, epoch: step * s.batchSize / stream.rowsPerEpoch, rss_mb: Math.round(process.memoryUsage().rss / 1e6) });
    window = { loss: 0, steps: 0, tokens: 0, started: Date.now() };
  };
  try {
    while (step < stopAt) {
      if (ctl.deadline !== undefined && Date.now() >= ctl.deadline) { stopped = 'deadline'; break; }
      // A step that would end more than half past the budget is not started: arms of unequal step time overshoot alike (by < half a step).
      if (budget !== undefined && trainSeconds + perStep / 2 >= budget) { stopped = 'budget'; break; }
      if (stopped) break;
      const began = Date.now();
      let batch = stream.batchAt(step);
      if (sampler) batch = await sampler.corrupt(batch, store, new Random(rowSeed(s.seed, step, 0xe1ec7a)));
      let tokens = 0;
      for (const v of batch.attention_mask!.data as BigInt64Array) tokens += Number(v);
      const r = (last = await trainer.trainStep(batch));
      step = trainer.step;
      trainSeconds += (Date.now() - began) / 1000;
      tokensSeen += tokens;
      if (firstStepDone < 0) firstStepDone = trainSeconds;
      refit();
      window.loss += r.loss; window.steps++; window.tokens += tokens;
      progress.tick(1, { loss: r.loss, lr: r.learningRate });
      if (step % ctl.logEvery === 0) logWindow();
      if (step % ctl.evalEvery === 0) await evaluate(step);
      if (Date.now() - lastCkpt >= ctl.checkpointMinutes * 60_000) { checkpoint(step); lastCkpt = Date.now(); }
    }
    if (window.steps) logWindow();
    // The final weights are always measured (not after a signal: a SIGTERM may come with little grace),
    // so best.safetensors and the log's last row cover them.
    if (step > startStep && lastEval.step !== step && stopped !== 'SIGTERM' && stopped !== 'SIGINT') await evaluate(step);
  } catch (e) {
    // A non-finite loss leaves the optimizer state updated in place: keep the last good checkpoint.
    failed = true;
    throw e;
  } finally {
    if (!failed) checkpoint(step);
    for (const [sig, h] of handlers) process.off(sig, h);
    await sampler?.release();
  }
  if (budget !== undefined && stopped === 'budget') {
    // The schedule as it ran (it ended at this step), so run.json and the export record it.
    s = { ...s, steps: step, warmup: Math.min(schedule.warmup, step) };
    writeFileAtomic(runJson, JSON.stringify(s, null, 2) + '\n');
  }
  stopped ||= step >= s.steps ? 'done' : 'stop-at';
  logLine({ event: 'stop', step, reason: stopped, trainSeconds, tokensSeen });
  progress.finish();
  log(`checkpoint at step ${step} (${stopped}) in ${ckpt}${step < s.steps ? '; --resume continues' : ''}`);
  return { step, heldOut: lastEval, stopped };
}
