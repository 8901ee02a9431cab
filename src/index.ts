/**
 * bert4ts: transformers in TypeScript on ONNX Runtime. The layers, from the bottom up:
 * graph (IR) -> autodiff -> runtime -> nn -> checkpoint -> models -> tokenizers -> generation ->
 * training; xiangqi (rules and the language-model player) on top. See docs/ARCHITECTURE.md.
 */
export * as graph from './graph/index.ts';
export { grad } from './autodiff/grad.ts';
export * from './runtime/index.ts';
export * from './nn/index.ts';
export * from './checkpoint/index.ts';
export * from './models/index.ts';
export * from './tokenizers/index.ts';
export * from './generation/index.ts';
export * from './training/index.ts';
export * from './data/index.ts';
export * from './metrics/index.ts';
export { Progress } from './util/progress.ts';
export * as xiangqi from './xiangqi/index.ts';
