/**
 * bert4ts: transformers in TypeScript on ONNX Runtime. The layers and what each may import:
 * the table in docs/ARCHITECTURE.md (checked by test/architecture.test.ts).
 * This is the Node entry; bundlers for the browser get src/browser.ts (package.json "exports").
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
export { setBackend, getBackend, webBackend, configureWebBackend, type Backend, type OrtModule, type WebBackendOptions } from './runtime/backend.ts';
export * from './io/source.ts';
export { NodeOnlyError } from './util/node/builtin.ts';
export * as xiangqi from './xiangqi/index.ts';
