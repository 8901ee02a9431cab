/** Data pipeline: file readers, seeded shuffling and bucketing, padding, tokenizer feeds, text splitting. */
export { DataError, readTsv, streamTsv, readJsonl, streamJsonl, type TsvOptions, type TsvRow } from './read.ts';
export { DataGenerator, streamBatches, batchIndices, shuffle, seededRandom, type BatchingOptions, type GeneratorOptions, type StreamOptions } from './batching.ts';
export { sequencePadding, unpad, int64, type PaddingOptions } from './padding.ts';
export { toFeeds, type TextInput, type FeedOptions, type TextFeeds } from './feeds.ts';
export { textSegmentate } from './segment.ts';
