// Types of finetune.js (plain JS so the page loads it as is), for the Node test that runs it too.
import type { Model } from '../../src/models/build.ts';
import type { Trainer } from '../../src/training/trainer.ts';

export interface FineTuneOptions { seed: number; batchSize: number; maxlen: number; learningRate: number; steps: number }
export interface FineTuneData { labels: string[]; train: [string, number][]; test?: [string, number][]; source?: string; licence?: string }
export interface FineTune {
  model: Model;
  trainer: Trainer;
  options: FineTuneOptions;
  readonly epoch: number;
  step(): Promise<number>;
  predict(texts: string[]): Promise<number[][]>;
}
export const FINETUNE_DEFAULTS: Readonly<FineTuneOptions>;
/** `lib` is the library's module: the browser build in the page, src/index.ts in Node. */
export function createFineTune(lib: object, from: unknown, data: FineTuneData, options?: Partial<FineTuneOptions>): Promise<FineTune>;
