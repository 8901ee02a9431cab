/**
 * bert4ts in the browser: what a bundler resolves `import … from 'bert4ts'` to under its "browser"
 * condition (also `bert4ts/browser`). The Node API minus what needs Node, plus loaders that take a URL,
 * ArrayBuffer, Blob or File (io/source.ts). Graphs run on onnxruntime-web (runtime/backend.ts: WebGPU
 * where present, else WebAssembly, threaded when the page is cross-origin isolated).
 *
 * Nothing reachable from here imports a `node:` module (test/browser/bundle.test.ts bundles this file
 * and checks). Shared code that can also touch files (buildModel with a path, Model.save, the TF and
 * PyTorch readers) is included but throws a NodeOnlyError in a browser; CPM's jieba segmenter is
 * Node-only (pass CpmTokenizer a segmenter of your own). Left out: the CLI, the servers, TSV/JSONL and
 * corpus readers, pretraining, and of xiangqi all but the rules and the player (xiangqi/browser.ts).
 */
import * as ort from 'onnxruntime-web';
import { useWebOrt } from './runtime/backend.ts';

useWebOrt(ort as unknown as Parameters<typeof useWebOrt>[0]);

export * as graph from './graph/index.ts';
export { grad } from './autodiff/grad.ts';
export * from './runtime/index.ts';
export { setBackend, getBackend, webBackend, configureWebBackend, type Backend, type OrtModule, type WebBackendOptions } from './runtime/backend.ts';
export * from './nn/index.ts';
export { CheckpointError, type CheckpointFormat, type CheckpointReader, type NamedBytes, type TensorInfo } from './checkpoint/io.ts';
export { SafetensorsReader } from './checkpoint/safetensors.ts';
export { OnnxReader } from './checkpoint/onnx.ts';
export { castFloat, type FloatDType } from './checkpoint/convert.ts';
export * from './models/index.ts';
export * from './tokenizers/types.ts';
export { WordPieceTokenizer, type WordPieceOptions } from './tokenizers/wordpiece.ts';
export { SentencePieceTokenizer, parseSentencePieceModel, type SpModel, type SpPreprocess } from './tokenizers/sentencepiece.ts';
export { ByteLevelBpeTokenizer } from './tokenizers/bytebpe.ts';
export { CpmTokenizer, jiebaSegmenter, type Segmenter } from './tokenizers/cpm.ts';
export { fromTokenizerJson } from './tokenizers/tokenizerJson.ts';
export { chooseKeepTokens, trimTokenizer, parseKeepTokens, type KeepOptions } from './tokenizers/keepTokens.ts';
export { loadTokenizerFiles, type LoadOptions, type TokenizerFiles } from './tokenizers/load.ts';
export * from './generation/index.ts';
export * from './training/index.ts';
export { DataError } from './data/read.ts';
export { DataGenerator, streamBatches, batchIndices, shuffle, seededRandom, type BatchingOptions, type GeneratorOptions, type StreamOptions } from './data/batching.ts';
export { sequencePadding, unpad, int64, type PaddingOptions } from './data/padding.ts';
export { toFeeds, type TextInput, type FeedOptions, type TextFeeds } from './data/feeds.ts';
export { textSegmentate } from './data/segment.ts';
export * from './metrics/index.ts';
export * from './io/source.ts';
export { NodeOnlyError } from './util/node/builtin.ts';
export * as xiangqi from './xiangqi/browser.ts';
