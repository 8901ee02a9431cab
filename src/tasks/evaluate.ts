/**
 * The test metric of a fine-tuned model, fp32 and quantized, side by side: what int8 costs on the
 * task, not only on logits. Used by `bert4ts evaluate`, the task examples' `--quantize` and
 * bench/int8-tasks.ts. Every mode runs the same model over the same rows; quantized modes share the
 * fp32 weight store (a CRF's transitions, read on the host, stay fp32), only the sessions differ.
 * Beside the metric, how often int8 predicts exactly what fp32 does: a metric can hold while
 * predictions move (and on a weak model it says little).
 */
import { quantize, type Model } from '../models/index.ts';
import { QUANTIZE_MODES, type QuantizeMode } from '../runtime/quantize.ts';
import { TaskError, type Prediction, type Task } from './finetune.ts';

/** 'fp32' (the model as saved, unquantized) or a quantization mode. */
export type EvalMode = 'fp32' | QuantizeMode;
export const EVAL_MODES: readonly EvalMode[] = ['fp32', ...QUANTIZE_MODES];

/** Modes from a comma-separated list such as 'fp32,dynamic-int8' ('all': every mode). */
export function parseEvalModes(spec: string, what = '--quantize'): EvalMode[] {
  if (spec.trim() === 'all') return [...EVAL_MODES];
  const modes = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!modes.length) throw new TaskError(`${what}: give one or more of ${EVAL_MODES.join(', ')} (comma-separated), or all`);
  const bad = modes.find((m) => !EVAL_MODES.includes(m as EvalMode));
  if (bad !== undefined) throw new TaskError(`${what}: unknown mode '${bad}' (valid: ${EVAL_MODES.join(', ')}, or all)`);
  return [...new Set(modes)] as EvalMode[];
}

/** The model in a mode: fp32 drops any quantization the saved config records. */
export function modelIn(model: Model, mode: EvalMode, o: { embeddings?: boolean } = {}): Model {
  return mode === 'fp32' ? quantize(model, null) : quantize(model, { mode, ...(o.embeddings ? { embeddings: true } : {}) });
}

export interface ModeScore {
  mode: EvalMode;
  metrics: Record<string, number>;
  seconds: number;
  /**
   * Against fp32's predictions (when fp32 is among the modes and the task has predict): the share of
   * rows predicted exactly alike, and for per-character predictions (tags) the share of characters.
   */
  agreement?: { rows: number; items?: number };
}

/** The task's metric of the model in each mode, in order, with its wall time and its agreement with fp32. */
export async function evaluateModes<R>(model: Model, modes: readonly EvalMode[], task: Pick<Task<R>, 'evaluate' | 'predict' | 'score'>, rows: R[], o: { embeddings?: boolean } = {}): Promise<ModeScore[]> {
  const scores: ModeScore[] = [];
  const predictions = new Map<EvalMode, Prediction[]>();
  for (const mode of modes) {
    const started = performance.now();
    const m = modelIn(model, mode, o);
    let metrics: Record<string, number>;
    if (task.predict && task.score) {
      const p = await task.predict(m, rows);
      predictions.set(mode, p);
      metrics = task.score(rows, p);
    } else metrics = await task.evaluate(m, rows);
    scores.push({ mode, metrics, seconds: (performance.now() - started) / 1000 });
  }
  const reference = predictions.get('fp32');
  if (reference) for (const s of scores) if (s.mode !== 'fp32') s.agreement = agreement(reference, predictions.get(s.mode)!);
  return scores;
}

function agreement(a: Prediction[], b: Prediction[]): { rows: number; items?: number } {
  let rows = 0, items = 0, total = 0;
  const perItem = a.every((x, i) => Array.isArray(x) && Array.isArray(b[i]) && x.length === b[i]!.length);
  a.forEach((x, i) => {
    const y = b[i]!;
    if (perItem) {
      const xs = x as string[], ys = y as string[];
      const same = xs.reduce((n, v, j) => n + (v === ys[j] ? 1 : 0), 0);
      items += same;
      total += xs.length;
      if (same === xs.length) rows++;
    } else if (x === y) rows++;
  });
  return perItem ? { rows: rows / a.length, items: total ? items / total : 1 } : { rows: rows / a.length };
}
