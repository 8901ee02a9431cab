/**
 * Batches for training and evaluation, in the spirit of bert4keras's `DataGenerator`: seeded
 * shuffling, bucketing by length, any number of epochs or `forfit()` (forever, reshuffled each
 * epoch), over an array (`DataGenerator`, an Iterable) or a stream (`streamBatches`, an
 * AsyncIterable). Each epoch's order depends only on (seed, epoch), so a run can be reproduced and
 * resumed at any epoch.
 */
import { seededRandom } from '../util/random.ts';

export { seededRandom };
import { DataError } from './read.ts';

/** A seed for epoch `epoch` of a run seeded with `seed`. */
const epochSeed = (seed: number, epoch: number) => (seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;

/** Fisher-Yates in place. */
function shuffleInPlace<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** A shuffled copy; the same seed gives the same order. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  return shuffleInPlace(items.slice(), seededRandom(seed));
}

export interface BatchingOptions<T> {
  batchSize: number;
  /** Shuffle (seeded). Default true. */
  shuffle?: boolean;
  seed?: number;
  /**
   * Length of an item: when given, items are sorted by length inside pools of `poolSize` batches,
   * so that each batch holds similar lengths (less padding), and the batches are shuffled.
   */
  lengthOf?: (item: T) => number;
  /** Batches per sorting pool (also a stream's shuffle buffer, in batches). Default 100. */
  poolSize?: number;
}

function checkOptions(o: { batchSize: number; poolSize?: number }): void {
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new DataError(`batchSize must be a positive integer, got ${o.batchSize}`);
  if (o.poolSize !== undefined && (!Number.isInteger(o.poolSize) || o.poolSize < 1)) throw new DataError(`poolSize must be a positive integer, got ${o.poolSize}`);
}

/**
 * Cuts a stream of items into batches. Items are gathered into pools of poolSize * batchSize;
 * a full pool is shuffled, sorted by length (stable) when bucketing, cut into batches, and those
 * are shuffled. Only the last batch of a pass can be short.
 */
class Pooler<T> {
  private pool: T[] = [];
  constructor(private readonly o: BatchingOptions<T>, private readonly random: () => number) {}

  push(item: T): T[][] {
    this.pool.push(item);
    return this.pool.length >= this.o.batchSize * (this.o.poolSize ?? 100) ? this.flush() : [];
  }

  flush(): T[][] {
    const { batchSize, lengthOf } = this.o, shuffled = this.o.shuffle ?? true;
    let pool = this.pool;
    this.pool = [];
    if (shuffled) shuffleInPlace(pool, this.random);
    if (lengthOf) pool = pool.map((item) => [lengthOf(item), item] as const).sort((a, b) => a[0] - b[0]).map(([, item]) => item);
    const batches: T[][] = [];
    for (let i = 0; i < pool.length; i += batchSize) batches.push(pool.slice(i, i + batchSize));
    return lengthOf && shuffled ? shuffleInPlace(batches, this.random) : batches;
  }
}

/** Index batches covering 0..n-1 exactly once; bucketed by `lengths` when given. */
export function batchIndices(n: number, options: Omit<BatchingOptions<number>, 'lengthOf'> & { lengths?: readonly number[]; epoch?: number }): number[][] {
  checkOptions(options);
  if (options.lengths && options.lengths.length !== n) throw new DataError(`${options.lengths.length} lengths for ${n} items`);
  const random = seededRandom(epochSeed(options.seed ?? 0, options.epoch ?? 0));
  const lengths = options.lengths;
  const order = Array.from({ length: n }, (_, i) => i);
  // A whole-array shuffle first, so that pools are random samples of the data, not runs of it.
  if (options.shuffle ?? true) shuffleInPlace(order, random);
  const pooler = new Pooler<number>({ ...options, lengthOf: lengths && ((i) => lengths[i]!) }, random);
  return [...order.flatMap((i) => pooler.push(i)), ...pooler.flush()];
}

export interface GeneratorOptions<T, B> extends BatchingOptions<T> {
  /** Rows of one batch -> what the model is fed (e.g. rows => toFeeds(tokenizer, rows.map(...), ...)). */
  collate: (rows: T[]) => B;
}

/**
 * bert4keras's DataGenerator over an array: `for (const batch of gen)` is one epoch (epoch 0),
 * `gen.epoch(k)` epoch k, `gen.epochs(n)` n epochs in a row, `gen.forfit()` forever.
 */
export class DataGenerator<T, B> implements Iterable<B> {
  private lengths?: number[];
  constructor(readonly data: readonly T[], readonly options: GeneratorOptions<T, B>) {
    checkOptions(options);
    if (!Array.isArray(data)) throw new DataError('DataGenerator: data must be an array (use streamBatches for streams)');
  }

  /** Batches per epoch (bert4keras's `steps` / `len(generator)`). */
  get steps(): number {
    return Math.ceil(this.data.length / this.options.batchSize);
  }

  *epoch(epoch: number): Generator<B> {
    const { lengthOf } = this.options;
    if (lengthOf) this.lengths ??= this.data.map(lengthOf);
    for (const idx of batchIndices(this.data.length, { ...this.options, lengths: this.lengths, epoch })) {
      yield this.options.collate(idx.map((i) => this.data[i]!));
    }
  }

  [Symbol.iterator](): Iterator<B> {
    return this.epoch(0);
  }

  *epochs(count: number, first = 0): Generator<B> {
    for (let e = first; e < first + count; e++) yield* this.epoch(e);
  }

  /** Endless batches, a new order each epoch (bert4keras's `forfit`); the caller bounds the steps. */
  *forfit(): Generator<B> {
    if (!this.data.length) throw new DataError('DataGenerator.forfit: no data');
    for (let e = 0; ; e++) yield* this.epoch(e);
  }
}

export interface StreamOptions<T, B> extends GeneratorOptions<T, B> {
  /** Passes over the source; Infinity = forfit. Default 1. */
  epochs?: number;
}

/**
 * Batches from a stream, e.g. `streamBatches(() => streamJsonl(file), {...})`: `open` is called
 * once per epoch. Shuffling and bucketing work inside a buffer of poolSize * batchSize items, so
 * memory stays bounded for files of any size.
 */
export async function* streamBatches<T, B>(open: () => AsyncIterable<T> | Iterable<T>, options: StreamOptions<T, B>): AsyncGenerator<B> {
  checkOptions(options);
  const epochs = options.epochs ?? 1;
  for (let e = 0; e < epochs; e++) {
    const pooler = new Pooler<T>(options, seededRandom(epochSeed(options.seed ?? 0, e)));
    let seen = 0;
    for await (const item of open()) {
      seen++;
      for (const batch of pooler.push(item)) yield options.collate(batch);
    }
    for (const batch of pooler.flush()) yield options.collate(batch);
    if (!seen) throw new DataError(`streamBatches: epoch ${e} read no items`);
  }
}
