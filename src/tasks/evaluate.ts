/**
 * The test metric of a fine-tuned model, fp32 and quantized, side by side: what int8 costs on the
 * task, not only on logits. Used by `bert4ts evaluate`, the task examples' `--quantize` and
 * bench/int8-tasks.ts. Every mode runs the same model over the same rows; quantized modes share the
 * fp32 weight store (a CRF's transitions, read on the host, stay fp32), only the sessions differ.
 */
import { quantize, type Model } from '../models/index.ts';
import { QUANTIZE_MODES, type QuantizeMode } from '../runtime/quantize.ts';
import { TaskError } from './finetune.ts';

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

export interface ModeScore { mode: EvalMode; metrics: Record<string, number>; seconds: number }

/** `evaluate` of the model in each mode, in order, with its wall time. */
export async function evaluateModes(model: Model, modes: readonly EvalMode[], evaluate: (m: Model) => Promise<Record<string, number>>, o: { embeddings?: boolean } = {}): Promise<ModeScore[]> {
  const scores: ModeScore[] = [];
  for (const mode of modes) {
    const started = performance.now();
    const metrics = await evaluate(modelIn(model, mode, o));
    scores.push({ mode, metrics, seconds: (performance.now() - started) / 1000 });
  }
  return scores;
}
