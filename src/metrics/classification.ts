/**
 * Accuracy and precision / recall / F1 over plain label arrays, per label and averaged (micro and
 * macro), as scikit-learn's `precision_recall_fscore_support` computes them with `zero_division=0`.
 */

/** Every metric error names the metric and what was wrong with its input. */
export class MetricError extends Error {
  constructor(readonly metric: string, message: string) {
    super(`${metric}: ${message}`);
    this.name = 'MetricError';
  }
}

export interface PRF {
  precision: number;
  recall: number;
  f1: number;
  /** How many true instances (tokens or spans) the label has. */
  support: number;
}

export interface PRFReport {
  /** Keyed by String(label), in sorted label order. */
  perLabel: Record<string, PRF>;
  /** From the summed counts of every label. */
  micro: PRF;
  /** Unweighted mean over the labels (0 when there are none). */
  macro: PRF;
}

/** Counts of one label: true positives, predicted and actual instances. */
export interface Counts {
  tp: number;
  predicted: number;
  actual: number;
}

/** P, R, F1 from counts; a zero denominator gives 0 (scikit-learn's and seqeval's zero_division=0). */
export function prf({ tp, predicted, actual }: Counts): PRF {
  const precision = predicted ? tp / predicted : 0;
  const recall = actual ? tp / actual : 0;
  // Written as numpy evaluates (1 + beta²)·p·r / (beta²·p + r), so results match to the last bit.
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, support: actual };
}

/** Per-label, micro and macro scores from per-label counts. */
export function report(counts: Map<string, Counts>): PRFReport {
  const names = [...counts.keys()].sort();
  const perLabel: Record<string, PRF> = {};
  const total: Counts = { tp: 0, predicted: 0, actual: 0 };
  const sum = { precision: 0, recall: 0, f1: 0 };
  for (const name of names) {
    const c = counts.get(name)!;
    const s = (perLabel[name] = prf(c));
    total.tp += c.tp;
    total.predicted += c.predicted;
    total.actual += c.actual;
    sum.precision += s.precision;
    sum.recall += s.recall;
    sum.f1 += s.f1;
  }
  const n = names.length || 1;
  return {
    perLabel,
    micro: prf(total),
    macro: { precision: sum.precision / n, recall: sum.recall / n, f1: sum.f1 / n, support: total.actual },
  };
}

/**
 * Pairs of (label, prediction): flat arrays, or arrays of sequences whose lengths must agree row by
 * row (token-level tagging). Errors name the row and both lengths.
 */
export function flatPairs<T>(metric: string, labels: readonly (T | readonly T[])[], predictions: readonly (T | readonly T[])[]): [T[], T[]] {
  if (!Array.isArray(labels) || !Array.isArray(predictions)) throw new MetricError(metric, 'labels and predictions must be arrays');
  if (labels.length !== predictions.length) throw new MetricError(metric, `${labels.length} labels but ${predictions.length} predictions`);
  const ys: T[] = [], ps: T[] = [];
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!, p = predictions[i]!;
    if (Array.isArray(y) !== Array.isArray(p)) throw new MetricError(metric, `row ${i}: a sequence is compared with a single label`);
    if (Array.isArray(y)) {
      const pr = p as readonly T[];
      if (y.length !== pr.length) throw new MetricError(metric, `row ${i}: ${y.length} labels but ${pr.length} predictions`);
      for (let j = 0; j < y.length; j++) ys.push(y[j] as T), ps.push(pr[j]!);
    } else ys.push(y as T), ps.push(p as T);
  }
  return [ys, ps];
}

/** Fraction of predictions equal to their label; sequences are compared token by token. */
export function accuracy<T>(labels: readonly (T | readonly T[])[], predictions: readonly (T | readonly T[])[]): number {
  const [ys, ps] = flatPairs('accuracy', labels, predictions);
  if (!ys.length) throw new MetricError('accuracy', 'no labels to score');
  let right = 0;
  for (let i = 0; i < ys.length; i++) if (ys[i] === ps[i]) right++;
  return right / ys.length;
}

/**
 * Token-level precision / recall / F1 for every label seen in labels or predictions, except
 * `ignore` (typically the outside tag 'O', which would otherwise dominate micro averages).
 */
export function tokenPRF<T extends string | number>(
  labels: readonly (T | readonly T[])[], predictions: readonly (T | readonly T[])[], options: { ignore?: readonly T[] } = {},
): PRFReport {
  const [ys, ps] = flatPairs('tokenPRF', labels, predictions);
  const ignore = new Set(options.ignore ?? []);
  const counts = new Map<string, Counts>();
  const of = (label: T) => {
    const key = String(label);
    let c = counts.get(key);
    if (!c) counts.set(key, (c = { tp: 0, predicted: 0, actual: 0 }));
    return c;
  };
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i]!, p = ps[i]!;
    if (!ignore.has(y)) of(y).actual++;
    if (!ignore.has(p)) {
      const c = of(p);
      c.predicted++;
      if (p === y) c.tp++;
    }
  }
  return report(counts);
}

/**
 * Area under the ROC curve of scores for binary labels (1 positive, 0 negative): the chance that a
 * random positive scores above a random negative, ties counting half (the Mann-Whitney U over the
 * counts, with tied scores given their mean rank, as scikit-learn's `roc_auc_score`). 0.5 is a
 * scorer that cannot tell the classes apart, whatever their balance.
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number | bigint>): number {
  if (scores.length !== labels.length) throw new MetricError('rocAuc', `${scores.length} scores but ${labels.length} labels`);
  const order = Array.from({ length: scores.length }, (_, i) => i);
  for (const i of order) {
    if (Number.isNaN(scores[i]!)) throw new MetricError('rocAuc', `score ${i} is NaN`);
    const y = Number(labels[i]!);
    if (y !== 0 && y !== 1) throw new MetricError('rocAuc', `label ${i} is ${labels[i]}, not 0 or 1`);
  }
  order.sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0, rankSum = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && scores[order[end + 1]!] === scores[order[start]!]) end++;
    const meanRank = (start + end) / 2 + 1; // ranks from 1
    for (let k = start; k <= end; k++) if (Number(labels[order[k]!]!) === 1) { positives++; rankSum += meanRank; }
    start = end + 1;
  }
  const negatives = order.length - positives;
  if (!positives || !negatives) throw new MetricError('rocAuc', `needs both classes (${positives} positive, ${negatives} negative)`);
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}
