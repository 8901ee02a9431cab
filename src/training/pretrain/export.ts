/** Exporting a pretraining run as a model directory, and re-measuring held-out MLM accuracy. */
import type { CorpusSource } from './corpus.ts';

export async function exportRun(run: string, out: string, o: { which: 'best' | 'last'; dtype: 'float16' | 'float32' }): Promise<Record<string, unknown>> {
  throw new Error(`not yet: ${run} ${out} ${o.which}`);
}

export async function evaluateModelDir(dir: string, sources?: CorpusSource[]): Promise<Record<string, unknown>> {
  throw new Error(`not yet: ${dir} ${sources?.length}`);
}
