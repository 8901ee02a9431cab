/**
 * The training step: forward, backward (our autodiff), global-norm clipping, gradient accumulation
 * and the optimizer update, emitted as ONE graph and executed as one ORT run. Parameters and
 * optimizer state live in two sets of preallocated host buffers that swap roles every step: ORT
 * reads the current set and writes the next one in place. Per-parameter learning-rate multipliers
 * and the weights' moving average (EMA) are part of that graph too.
 *
 * Around the step: `fit` (evaluation every N updates, best weights, early stopping, periodic saves),
 * `state()`/`save()`/`restore()` (state.ts: resume bit for bit), `applyEma()`/`resetOldWeights()`.
 */
import { allocate, sizeOf, type HostTensor } from '../graph/dtype.ts';
import { add, input, maximum, mul, reduceSum, scalar, sqrt, where, div } from '../graph/ops.ts';
import { GraphError, type Tensor } from '../graph/tensor.ts';
import { grad } from '../autodiff/grad.ts';
import { lower, markWeightsChanged } from '../runtime/lower.ts';
import { Executable, NonFiniteError, type Feeds, type RuntimeOptions } from '../runtime/session.ts';
import { completeFeeds, DEFAULTED_INPUTS, type FeedValue } from '../runtime/feeds.ts';
import { collectGarbage } from '../runtime/gc.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { formatFigure, Progress } from '../util/progress.ts';
import { applyUpdate, stateSlots, stepScalars, type OptimizerConfig } from './optimizers.ts';
import { TrainingError } from './errors.ts';
import { readTrainerState, tensorSet, writeTrainerState, type BestSoFar, type TrainerState } from './state.ts';

/**
 * One micro-batch: feeds by input name (HostTensors, or number arrays that become int64), or a bare
 * array for a graph with one batch input. `attention_mask` (1) and `token_type_ids` (0) may be
 * omitted, as in `Model.predict`.
 */
export type TrainingBatch = Record<string, FeedValue> | number[][] | number[];

export interface TrainerOptions {
  store: ParamStore;
  /** Build the scalar loss from a training scope (dropout on); graph inputs are the batch. */
  loss: (scope: Scope) => Tensor;
  optimizer: OptimizerConfig;
  /** Clip gradients to this global L2 norm. */
  clipNorm?: number;
  /** Accumulate gradients over this many micro-batches per update. */
  accumulate?: number;
  /** Which parameters to train (default: all). */
  trainable?: (name: string) => boolean;
  /** Seed for dropout masks. */
  seed?: number;
  runtime?: RuntimeOptions;
  /**
   * Learning-rate multiplier per trainable parameter (1 = the schedule's rate; 0 freezes it), e.g.
   * `layerwiseDecay(0.8, 12)`. Baked into the step graph once, so it costs nothing per step.
   */
  lrMultiplier?: (name: string) => number;
  /**
   * Keep an exponential moving average of the trainable weights (bert4keras's ema_momentum, e.g.
   * 0.999): ema = decay * ema + (1 - decay) * w after each update, inside the step graph. `fit`
   * evaluates (and keeps the best of) the averaged weights; see `applyEma`.
   */
  ema?: number;
}

export interface FitOptions {
  batches: Iterable<TrainingBatch> | AsyncIterable<TrainingBatch>;
  /** Optimizer updates to do in this call (a resumed trainer continues from its `step`). */
  steps: number;
  /** Evaluate every this many updates (needed by `evaluate` and `dev`). */
  evalEvery?: number;
  /** Metrics of the weights in the store (the averaged ones when `ema` is set). */
  evaluate?: (step: number, store: ParamStore) => Promise<Record<string, number>>;
  /** Dev batches (re-iterable, e.g. an array): adds `dev_loss`, the mean batch loss without dropout. */
  dev?: Iterable<TrainingBatch>;
  /** The metric that picks the best weights and drives early stopping (default `dev_loss` with `dev`). */
  monitor?: string;
  /** Whether a larger or a smaller `monitor` is better (default 'min' for a metric ending in "loss"). */
  mode?: 'min' | 'max';
  /** After training, put back the weights of the best evaluation. */
  restoreBest?: boolean;
  /** Stop after this many evaluations without improvement. */
  patience?: number;
  /** Save the trainer state (`save`) to this directory every `checkpointEvery` updates and at the end. */
  saveTo?: string;
  checkpointEvery?: number;
  onCheckpoint?: (step: number) => Promise<void>;
  progress?: Progress | false;
}

export interface FitResult {
  /** Training loss of each update. */
  losses: number[];
  evals: Record<string, number>[];
  /** Why training stopped: the steps were done, patience ran out, or the batches ended. */
  stopped: 'steps' | 'patience' | 'batches';
  best?: BestSoFar;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  learningRate: number;
  /** Whether this micro-batch completed an optimizer update. */
  applied: boolean;
}

interface Slot {
  name: string;
  /** A weight (also in the store), not optimizer or EMA state. */
  weight: boolean;
  current: HostTensor;
  /** Where ORT writes the updated value; parameters alternate between two buffers (they are read
   * by several nodes in forward and backward, so an in-place write could race them). */
  next: HostTensor;
}

export class Trainer {
  /** Optimizer updates done. */
  step = 0;
  private micro = 0;
  /** Best evaluation so far (fit's `monitor`). */
  best: BestSoFar | undefined;
  private bestWeights: Map<string, HostTensor> | undefined;
  /** The training weights while `applyEma` has put the averages in the store. */
  private emaBackup: Map<string, HostTensor> | undefined;
  private evalGraph: Promise<{ exe: Executable; params: string[] }> | undefined;
  private readonly stateBytes: number;

  private constructor(
    readonly options: TrainerOptions,
    private readonly exe: Executable,
    /** Trainable parameter names, in graph input order. */
    readonly trainable: string[],
    private readonly frozen: string[],
    private readonly slots: Map<string, Slot>,
    readonly batchInputs: string[],
  ) {
    this.stateBytes = [...slots.values()].reduce((n, s) => n + s.current.data.byteLength, 0);
  }

  static async create(options: TrainerOptions): Promise<Trainer> {
    const { store, optimizer } = options;
    const accumulate = options.accumulate ?? 1;
    if (!Number.isInteger(accumulate) || accumulate < 1) throw new TrainingError('accumulate', `must be a positive integer, got ${accumulate}`);
    const ema = options.ema;
    if (ema !== undefined && !(ema > 0 && ema < 1)) throw new TrainingError('ema', `the decay must be in (0, 1), e.g. 0.999; got ${ema}`);
    const scope = new Scope(store, '', { training: true, seed: options.seed ?? 0 });
    const loss = options.loss(scope);
    if (loss.rank !== 0) throw new GraphError('Trainer', `loss must be a scalar, got shape [${loss.shape}]`);
    const allParams = [...scope.declared.entries()];
    const isTrainable = options.trainable ?? (() => true);
    const trainable = allParams.filter(([n]) => isTrainable(n));
    const frozen = allParams.filter(([n]) => !isTrainable(n)).map(([n]) => n);
    if (trainable.length === 0) throw new TrainingError('trainable', 'no trainable parameters');
    const grads = grad(loss, trainable.map(([, t]) => t));

    const dtype = loss.dtype;
    const lr = input('opt/lr', dtype, []);
    const bc1 = input('opt/biasCorrection1', dtype, []);
    const bc2 = input('opt/biasCorrection2', dtype, []);
    const sumSquares = grads.reduce<Tensor>((s, g) => add(s, reduceSum(mul(g, g))), scalar(0, dtype));
    let gradNorm = sqrt(sumSquares);
    let scaledGrads = grads;
    const apply = accumulate > 1 ? input('opt/apply', 'bool', []) : null;
    const outputs: Record<string, Tensor> = { loss };
    const slotNames = stateSlots(optimizer);
    const stateLeaves: [string, Tensor][] = [];
    if (apply) {
      // Sum micro-batch gradients in accumulators; update with their mean on the last micro-batch.
      scaledGrads = grads.map((g, i) => {
        const [name, p] = trainable[i]!;
        const acc = input(`opt/acc/${name}`, dtype, p.shape);
        stateLeaves.push([`opt/acc/${name}`, acc]);
        const total = add(acc, g);
        outputs[`opt/acc/${name}:next`] = where(apply, scalar(0, dtype), total);
        return div(total, accumulate);
      });
      gradNorm = sqrt(scaledGrads.reduce<Tensor>((s, g) => add(s, reduceSum(mul(g, g))), scalar(0, dtype)));
    }
    if (options.clipNorm) {
      const factor = div(scalar(options.clipNorm, dtype), maximum(gradNorm, scalar(options.clipNorm, dtype)));
      scaledGrads = scaledGrads.map((g) => mul(g, factor));
    }
    // Updates are emitted from the last layer down, so each gradient can be consumed (and freed) as
    // soon as the backward pass produces it, instead of all gradients living until the end.
    const updateOrder = trainable.map((t, i) => [t, i] as const).reverse();
    for (const [[name, p], i] of updateOrder) {
      const state: Record<string, Tensor> = {};
      for (const s of slotNames) {
        const leaf = input(`opt/${s}/${name}`, dtype, p.shape);
        state[s] = leaf;
        stateLeaves.push([`opt/${s}/${name}`, leaf]);
      }
      const multiplier = options.lrMultiplier?.(name) ?? 1;
      if (!(multiplier >= 0 && Number.isFinite(multiplier))) throw new TrainingError('lrMultiplier', `gave ${multiplier} for '${name}'; multipliers must be finite and >= 0`);
      const lrOf = multiplier === 1 ? lr : mul(lr, multiplier);
      const upd = applyUpdate(optimizer, { name, param: p, grad: scaledGrads[i]!, state, lr: lrOf, biasCorrection1: bc1, biasCorrection2: bc2 });
      const gated = (next: Tensor, old: Tensor) => (apply ? where(apply, next, old) : next);
      outputs[`${name}:next`] = gated(upd.param, p);
      for (const s of slotNames) outputs[`opt/${s}/${name}:next`] = gated(upd.state[s]!, state[s]!);
      if (ema !== undefined) {
        // Starts at zero, as bert4keras's does; applyEma divides by 1 - decay^step.
        const avg = input(`ema/${name}`, dtype, p.shape);
        stateLeaves.push([`ema/${name}`, avg]);
        outputs[`ema/${name}:next`] = gated(add(mul(avg, ema), mul(upd.param, 1 - ema)), avg);
      }
    }
    outputs.gradNorm = gradNorm;

    const lowered = lower(outputs, { params: 'inputs', name: 'train_step' });
    const exe = await Executable.fromLowered(lowered, { memoryArena: false, ...options.runtime });
    const reserved = new Set([...allParams.map(([n]) => n), ...stateLeaves.map(([n]) => n), 'opt/lr', 'opt/biasCorrection1', 'opt/biasCorrection2', 'opt/apply']);
    const batchInputs = exe.inputs.map((i) => i.name).filter((n) => !reserved.has(n));

    const slots = new Map<string, Slot>();
    for (const [name] of trainable) {
      const cur = store.get(name)!;
      slots.set(name, { name, weight: true, current: cur, next: { dtype: cur.dtype, shape: cur.shape, data: allocate(cur.dtype, cur.data.length) } });
    }
    for (const [name, leaf] of stateLeaves) {
      const shape = leaf.shape as number[];
      // Optimizer state is read by exactly one node (its own update, e.g. m' = b1*m + (1-b1)*g),
      // which runs before the node that writes m', so ORT may read and write the same buffer:
      // one copy instead of two (0.8 GB less for BERT-base with Adam).
      const buffer = { dtype: leaf.dtype, shape, data: allocate(leaf.dtype, sizeOf(shape)) };
      slots.set(name, { name, weight: false, current: buffer, next: buffer });
    }
    return new Trainer(options, exe, trainable.map(([n]) => n), frozen, slots, batchInputs);
  }

  /** Current optimizer state tensors (for checkpoints), by slot name. */
  optimizerState(): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [name, s] of this.slots) if (name.startsWith('opt/')) out.set(name, s.current);
    return out;
  }

  /** Restore optimizer state (e.g. on resume). */
  loadOptimizerState(state: Map<string, HostTensor>, step: number): void {
    for (const [name, t] of state) this.put(name, t);
    this.step = step;
  }

  /** Copy `t` into the slot or weight `name`, checking that it fits. */
  private put(name: string, t: HostTensor): void {
    const s = this.slots.get(name);
    const target = s?.current ?? this.options.store.get(name);
    if (!target || (!s && !this.frozen.includes(name))) throw new TrainingError('restore', `'${name}' does not belong to this trainer`);
    if (t.dtype !== target.dtype || t.shape.join() !== target.shape.join()) throw new TrainingError('restore', `'${name}' is ${t.dtype} [${t.shape}], this trainer's is ${target.dtype} [${target.shape}]`);
    if (!s) return this.options.store.set(name, t); // a frozen weight: the store's value is what is fed
    (target.data as Float32Array).set(t.data as Float32Array);
    if (s.weight) {
      markWeightsChanged(target.data);
      this.options.store.set(name, target);
    }
  }

  /** Feeds for a graph with batch inputs `inputs`, from a batch as the caller wrote it. */
  private feedsOf(batch: TrainingBatch, inputs: string[]): Feeds {
    const required = inputs.filter((n) => !DEFAULTED_INPUTS.includes(n));
    if (Array.isArray(batch)) {
      if (required.length !== 1) throw new TrainingError('batch', `a bare array feeds a graph with one input, but this one takes ${required.join(', ')}: pass { ${required.map((n) => `${n}: ...`).join(', ')} }`);
      batch = { [required[0]!]: batch };
    }
    for (const name of Object.keys(batch)) if (!inputs.includes(name)) throw new TrainingError('batch', `unknown input '${name}'; the loss graph takes ${inputs.join(', ')}`);
    const feeds = completeFeeds(batch, inputs);
    for (const name of inputs) if (!feeds[name]) throw new TrainingError('batch', `missing input '${name}'; the loss graph takes ${inputs.join(', ')}`);
    return feeds;
  }

  private disposed = false;

  /**
   * Free the native sessions now (training and evaluation graphs) instead of at garbage collection:
   * for a process that trains several models one after another. The weights stay in the store; the
   * trainer cannot step or evaluate any more.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.exe.release();
    if (this.evalGraph) await (await this.evalGraph).exe.release();
  }

  private checkLive(what: string): void {
    if (this.disposed) throw new TrainingError(what, 'this Trainer was disposed; create a new one (Trainer.create) to train on');
  }

  /** One micro-batch: forward, backward and (when the accumulation is complete) the update. */
  async trainStep(batch: TrainingBatch): Promise<StepResult> {
    this.checkLive('trainStep');
    if (this.emaBackup) throw new TrainingError('trainStep', 'the moving averages are applied; call resetOldWeights() before training on');
    const accumulate = this.options.accumulate ?? 1;
    const applied = (this.micro + 1) % accumulate === 0;
    const scalars = stepScalars(this.options.optimizer, this.step);
    const dtype = this.slots.values().next().value!.current.dtype;
    const sc = (v: number): HostTensor => ({ dtype, shape: [], data: dtype === 'float64' ? new Float64Array([v]) : new Float32Array([v]) });
    const feeds: Feeds = { ...this.feedsOf(batch, this.batchInputs), 'opt/lr': sc(scalars.lr!), 'opt/biasCorrection1': sc(scalars.biasCorrection1!), 'opt/biasCorrection2': sc(scalars.biasCorrection2!) };
    if (accumulate > 1) feeds['opt/apply'] = { dtype: 'bool', shape: [], data: new Uint8Array([applied ? 1 : 0]) };
    const into: Record<string, HostTensor> = {};
    for (const [name, s] of this.slots) {
      feeds[name] = s.current;
      into[`${name}:next`] = s.next;
    }
    for (const name of this.frozen) feeds[name] = this.options.store.get(name)!;
    // Scalars an optimizer does not use (SGD has no bias corrections) are not graph inputs.
    for (const name of Object.keys(feeds)) if (name.startsWith('opt/') && !this.exe.inputs.some((i) => i.name === name)) delete feeds[name];
    let out;
    try {
      out = await this.exe.run(feeds, { into, checkFinite: ['loss'] });
    } catch (e) {
      // Weights are double-buffered, so they keep their last good values; the optimizer state is
      // updated in place and is not trustworthy any more.
      if (e instanceof NonFiniteError) throw new NonFiniteError('loss', `loss became non-finite at step ${this.step} (micro-batch ${this.micro}: ${e.message}); the weights were not updated but the optimizer state was: resume from a checkpoint with a lower learning rate, or check the inputs`);
      throw e;
    }
    for (const s of this.slots.values()) {
      [s.current, s.next] = [s.next, s.current];
      if (s.weight) {
        this.options.store.set(s.name, s.current);
        markWeightsChanged(s.current.data);
      }
    }
    this.micro++;
    if (applied) this.step++;
    if (this.stateBytes > 256e6) collectGarbage(); // ~10 ms, against a model-sized peak

    return { loss: out.loss!.data[0] as number, gradNorm: out.gradNorm!.data[0] as number, learningRate: scalars.lr!, applied };
  }

  /**
   * Mean loss over `batches` with the weights in the store, dropout off (the built-in dev
   * evaluation). The loss graph is built once more in an inference scope; weights are fed, so it
   * compiles once, whatever the weights become.
   */
  async evaluateLoss(batches: Iterable<TrainingBatch> | AsyncIterable<TrainingBatch>): Promise<number> {
    this.checkLive('evaluateLoss');
    this.evalGraph ??= (async () => {
      const scope = new Scope(this.options.store, '', { training: false });
      const loss = this.options.loss(scope);
      const exe = await Executable.fromLowered(lower({ loss }, { params: 'inputs', name: 'eval_loss' }), this.options.runtime);
      return { exe, params: [...scope.declared.keys()] };
    })();
    const { exe, params } = await this.evalGraph;
    const inputs = exe.inputs.map((i) => i.name).filter((n) => !params.includes(n));
    let sum = 0, n = 0;
    for await (const batch of batches as AsyncIterable<TrainingBatch>) {
      const feeds = this.feedsOf(batch, inputs);
      for (const p of params) feeds[p] = this.options.store.get(p)!;
      sum += Number((await exe.run(feeds)).loss!.data[0]);
      n++;
    }
    if (n === 0) throw new TrainingError('dev', 'no batches to evaluate (a generator already used up? pass an array)');
    return sum / n;
  }

  /**
   * Put the moving averages in the store in place of the training weights (bert4keras's
   * apply_ema_weights), divided by 1 - decay^step since they start at zero. Evaluate or save, then
   * `resetOldWeights()`; training refuses to run in between.
   */
  applyEma(biasCorrection = true): void {
    const decay = this.options.ema;
    if (decay === undefined) throw new TrainingError('ema', 'this trainer keeps no moving average; create it with { ema: 0.999 }');
    if (this.emaBackup) throw new TrainingError('applyEma', 'the moving averages are already applied');
    if (this.step === 0) throw new TrainingError('applyEma', 'no update has been made yet, so there is no average');
    const scale = biasCorrection ? 1 / (1 - decay ** this.step) : 1;
    this.emaBackup = new Map();
    for (const name of this.trainable) {
      const avg = this.slots.get(`ema/${name}`)!.current;
      const data = allocate(avg.dtype, avg.data.length) as Float32Array;
      for (let i = 0; i < data.length; i++) data[i] = (avg.data[i] as number) * scale;
      this.emaBackup.set(name, this.slots.get(name)!.current);
      this.options.store.set(name, { dtype: avg.dtype, shape: avg.shape, data });
    }
  }

  /** Put the training weights back after `applyEma` (bert4keras's reset_old_weights). */
  resetOldWeights(): void {
    for (const [name, w] of this.emaBackup ?? []) this.options.store.set(name, w);
    this.emaBackup = undefined;
  }

  /**
   * Everything a resumed run needs to continue exactly: weights, optimizer and EMA slots, step and
   * micro-batch (the schedule's and accumulation's position), dropout seed, best-so-far and its
   * weights. The tensors are the live buffers: write or copy them before the next step.
   */
  state(): TrainerState {
    const { optimizer, accumulate = 1, ema, seed = 0 } = this.options;
    const slots = [...this.slots.values()];
    return {
      meta: { format: 'bert4ts-trainer', version: 1, step: this.step, micro: this.micro, seed, optimizer: optimizer.kind, accumulate, ema: ema ?? null, best: this.best ?? null },
      weights: tensorSet([...slots.filter((s) => s.weight).map((s): [string, HostTensor] => [s.name, s.current]), ...this.frozen.map((n): [string, HostTensor] => [n, this.options.store.get(n)!])]),
      slots: tensorSet(slots.filter((s) => !s.weight).map((s) => [s.name, s.current])),
      best: this.bestWeights ? tensorSet(this.bestWeights) : null,
    };
  }

  /** Write `state()` to a directory, atomically (see state.ts). */
  save(dir: string): void {
    writeTrainerState(dir, this.state());
  }

  /** Continue a saved run: from `save(dir)`'s directory or a `state()`. The trainer must be built as the saved one was. */
  restore(from: string | TrainerState): void {
    if (typeof from === 'string') return readTrainerState(from, (s) => this.restore(s));
    const { meta } = from;
    const { optimizer, accumulate = 1, ema, seed = 0 } = this.options;
    const mine: Record<string, unknown> = { optimizer: optimizer.kind, accumulate, ema: ema ?? null, seed };
    for (const [k, v] of Object.entries(mine)) {
      if (meta[k as keyof typeof meta] !== v) throw new TrainingError(k, `the saved run has ${k} ${JSON.stringify(meta[k as keyof typeof meta])}, this trainer ${JSON.stringify(v)}: create it with the saved run's options to resume`);
    }
    // Check every name before the first copy, so a mismatch leaves this trainer as it was.
    const expected = { weights: [...this.trainable, ...this.frozen], slots: [...this.slots.keys()].filter((n) => !this.slots.get(n)!.weight) };
    for (const part of ['weights', 'slots'] as const) {
      const have = new Set(from[part].names);
      const missing = expected[part].filter((n) => !have.has(n));
      const extra = from[part].names.filter((n) => !expected[part].includes(n));
      if (missing.length || extra.length) throw new TrainingError('restore', `the saved ${part} do not match this trainer's${missing.length ? `; missing: ${missing.slice(0, 8).join(', ')}` : ''}${extra.length ? `; not in this trainer: ${extra.slice(0, 8).join(', ')}` : ''}`);
    }
    this.resetOldWeights();
    for (const part of [from.weights, from.slots]) for (const n of part.names) this.put(n, part.get(n));
    this.bestWeights = from.best ? new Map(from.best.names.map((n) => [n, copy(from.best!.get(n))])) : undefined;
    this.best = meta.best ?? undefined;
    this.step = meta.step;
    this.micro = meta.micro;
  }

  /** Evaluate (the averaged weights when `ema` is set), and track the best evaluation. */
  private async evaluateNow(o: FitOptions, monitor: string | undefined, mode: 'min' | 'max'): Promise<Record<string, number>> {
    if (this.options.ema !== undefined) this.applyEma();
    try {
      const metrics: Record<string, number> = { ...(o.dev ? { dev_loss: await this.evaluateLoss(o.dev) } : {}), ...(await o.evaluate?.(this.step, this.options.store)) };
      if (!monitor) return metrics;
      const v = metrics[monitor];
      if (typeof v !== 'number') throw new TrainingError('monitor', `'${monitor}' is not among the evaluation's metrics (${Object.keys(metrics).join(', ')})`);
      const b = this.best?.metric === monitor ? this.best : undefined;
      if (!(mode === 'min' ? v < (b?.value ?? Infinity) : v > (b?.value ?? -Infinity))) {
        if (b) b.wait++;
        return metrics;
      }
      this.best = { metric: monitor, mode, value: v, step: this.step, wait: 0 };
      if (o.restoreBest) this.bestWeights = new Map(this.trainable.map((n) => [n, copy(this.options.store.get(n)!)]));
      return metrics;
    } finally {
      this.resetOldWeights();
    }
  }

  /**
   * Train over `batches` for `steps` optimizer updates with a progress line (step, rate, ETA, loss,
   * and the latest evaluation). Evaluates every `evalEvery` updates (`evaluate` and/or `dev`), keeps
   * the best weights by `monitor`, stops early after `patience` evaluations without improvement, and
   * saves its state to `saveTo` every `checkpointEvery` updates.
   */
  async fit(o: FitOptions): Promise<FitResult> {
    const count = (name: keyof FitOptions, min: number) => {
      const v = o[name];
      if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min)) throw new TrainingError(name, `must be an integer >= ${min}, got ${v}`);
    };
    count('steps', 0);
    count('evalEvery', 1);
    count('checkpointEvery', 1);
    count('patience', 1);
    const evaluating = Boolean(o.evaluate || o.dev);
    if (evaluating && !o.evalEvery) throw new TrainingError('evalEvery', 'evaluate and dev run every evalEvery updates: pass evalEvery');
    const monitor = o.monitor ?? (o.dev ? 'dev_loss' : undefined);
    if ((o.restoreBest || o.patience) && !monitor) throw new TrainingError('monitor', 'restoreBest and patience watch a metric: pass monitor (a key of what evaluate returns) or dev batches (dev_loss)');
    if (monitor && !evaluating) throw new TrainingError('monitor', `'${monitor}' comes from an evaluation: pass evaluate or dev, and evalEvery`);
    const mode = o.mode ?? (monitor === undefined || /loss$/i.test(monitor) ? 'min' : undefined);
    if (!mode) throw new TrainingError('mode', `is '${monitor}' better larger ('max') or smaller ('min')? pass mode`);
    const progress = o.progress === false ? new Progress({ label: 'train', total: o.steps, silent: true }) : o.progress ?? new Progress({ label: 'train', total: o.steps, unit: 'step' });
    const losses: number[] = [];
    const evals: Record<string, number>[] = [];
    let smoothed: number | undefined;
    let stopped: FitResult['stopped'] = 'batches';
    const target = this.step + o.steps;
    if (o.steps === 0) stopped = 'steps';
    else for await (const batch of o.batches as AsyncIterable<TrainingBatch>) {
      const r = await this.trainStep(batch);
      smoothed = smoothed === undefined ? r.loss : 0.95 * smoothed + 0.05 * r.loss;
      if (!r.applied) continue;
      losses.push(r.loss);
      if (evaluating && this.step % o.evalEvery! === 0) {
        const m = await this.evaluateNow(o, monitor, mode);
        evals.push({ step: this.step, ...m });
        // Shown on the progress line from this step on; also logged, for non-TTY logs.
        progress.set({ ...m, ...(this.best && monitor ? { best: `${formatFigure(this.best.value)}@${this.best.step}` } : {}) });
        progress.log(`step ${this.step}: ${Object.entries(m).map(([k, v]) => `${k} ${formatFigure(v)}`).join('  ')}`);
      }
      progress.tick(1, { loss: smoothed, lr: r.learningRate });
      if (o.checkpointEvery && this.step % o.checkpointEvery === 0) {
        if (o.saveTo) this.save(o.saveTo);
        await o.onCheckpoint?.(this.step);
      }
      const b = this.best;
      if (o.patience && b && b.metric === monitor && b.wait >= o.patience) {
        stopped = 'patience';
        progress.log(`step ${this.step}: no better ${monitor} for ${o.patience} evaluations (best ${formatFigure(b.value)} at step ${b.step}); stopping`);
        break;
      }
      if (this.step >= target) {
        stopped = 'steps';
        break;
      }
    }
    // The saved state is where training is; the best weights travel inside it.
    if (o.saveTo) this.save(o.saveTo);
    if (o.restoreBest && this.bestWeights) for (const [n, t] of this.bestWeights) this.put(n, t);
    progress.finish({ loss: smoothed ?? NaN });
    return { losses, evals, stopped, ...(this.best ? { best: { ...this.best } } : {}) };
  }
}

const copy = (t: HostTensor): HostTensor => ({ dtype: t.dtype, shape: [...t.shape], data: t.data.slice() });
