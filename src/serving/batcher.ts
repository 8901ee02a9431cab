/**
 * Dynamic batching: concurrent requests wait up to `maxWaitMs` to be run together, at most
 * `maxBatch` items per model call, one call at a time (the 2 ORT threads are shared, so overlapping
 * calls would only compete). The queue is bounded: when full, `submit` fails at once with 429
 * instead of growing memory and latency without limit. A request whose signal aborts (client gone,
 * timeout) before its batch starts is dropped from the queue.
 */
import { HttpError } from './http.ts';

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Items waiting (not yet running) beyond which submit answers 429. */
  maxQueue: number;
  /** Called once per model call with its size (for the batch-size histogram). */
  onBatch?: (size: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
}

export class Batcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly run: (items: I[]) => Promise<O[]>, readonly options: BatcherOptions) {
    if (!(options.maxBatch >= 1) || !(options.maxQueue >= 1) || !(options.maxWaitMs >= 0)) throw new RangeError(`bad batcher options ${JSON.stringify(options)}`);
  }

  /** Items waiting for a batch. */
  get depth(): number {
    return this.queue.length;
  }

  submit(item: I, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(new HttpError(499, 'request cancelled'));
    if (this.queue.length >= this.options.maxQueue) return Promise.reject(new HttpError(429, `server busy: ${this.queue.length} requests queued; retry later`, { 'retry-after': '1' }));
    return new Promise<O>((resolve, reject) => {
      const p: Pending<I, O> = { item, resolve, reject, signal };
      this.queue.push(p);
      signal?.addEventListener('abort', () => {
        const i = this.queue.indexOf(p);
        if (i >= 0) {
          this.queue.splice(i, 1);
          reject(signal.reason instanceof HttpError ? signal.reason : new HttpError(499, 'request cancelled'));
        }
      }, { once: true });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queue.length >= this.options.maxBatch || this.options.maxWaitMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.maxWaitMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.running) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (!batch.length) return;
    this.running = true;
    this.options.onBatch?.(batch.length);
    try {
      const out = await this.run(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(out[i]!));
    } catch (e) {
      for (const p of batch) p.reject(e);
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
