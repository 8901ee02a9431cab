/** Tokenizers: one interface (types.ts) over WordPiece, SentencePiece, GPT-2 byte BPE and CPM. */
export * from './types.ts';
export { loadTokenizer, readKeepTokens, type LoadOptions } from './load.ts';
export { WordPieceTokenizer, type WordPieceOptions } from './wordpiece.ts';
export { SentencePieceTokenizer, parseSentencePieceModel, loadSentencePiece, type SpModel } from './sentencepiece.ts';
export { ByteLevelBpeTokenizer } from './bytebpe.ts';
export { CpmTokenizer, jiebaSegmenter, type Segmenter } from './cpm.ts';
export { fromTokenizerJson } from './tokenizerJson.ts';
export { chooseKeepTokens, trimTokenizer, parseKeepTokens, type KeepOptions } from './keepTokens.ts';
export { saveTokenizer, serializeSentencePieceModel } from './save.ts';
export type { SpPreprocess } from './sentencepiece.ts';
