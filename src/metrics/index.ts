/** Metrics over plain arrays (never tensors): classification, tagging spans, generated text. */
export { MetricError, accuracy, rocAuc, tokenPRF, prf, type PRF, type PRFReport, type Counts } from './classification.ts';
export { extractSpans, spanPRF, type Span, type Scheme, type SpanOptions } from './spans.ts';
export { rouge, sentenceBleu, charScores, generationScores, fsum, type RougeScore, type RougeScores, type RougeOptions, type BleuOptions, type GenerationScores } from './generation.ts';
export { cosineSimilarity, top1Agreement, argmaxRows } from './agreement.ts';
