/** Texts (or text pairs) -> the int64 feeds a BERT-style model and the Trainer take, in one call. */
import type { HostTensor } from '../graph/dtype.ts';
import type { Tokenizer, Truncation } from '../tokenizers/types.ts';
import { DataError } from './read.ts';
import { int64, sequencePadding } from './padding.ts';

export type TextInput = string | readonly [string, string];

export interface FeedOptions {
  /** Maximum tokens per row, special tokens included. */
  maxlen?: number;
  truncation?: Truncation;
  /** 'longest' (default) pads to the longest row, 'max_length' to maxlen. */
  padding?: 'longest' | 'max_length';
  /** One label per text ([B]), or one per token ([B, T]: each row as long as its encoded text). */
  labels?: readonly number[] | readonly (readonly number[])[];
  /** Fill for padded token labels; default -100, which crossEntropy ignores. */
  labelPad?: number;
}

/** What `Model.predict` and `Trainer.trainStep` take (a plain object type, so it is a Feeds). */
export type TextFeeds = {
  input_ids: HostTensor;
  token_type_ids: HostTensor;
  attention_mask: HostTensor;
  labels?: HostTensor;
};

export function toFeeds(tokenizer: Tokenizer, texts: readonly TextInput[], options: FeedOptions = {}): TextFeeds {
  if (!Array.isArray(texts) || texts.length === 0) throw new DataError('toFeeds: texts must be a non-empty array of strings or [text, pair] tuples');
  const bad = texts.findIndex((t) => typeof t !== 'string' && !(Array.isArray(t) && t.length === 2 && t.every((s) => typeof s === 'string')));
  if (bad >= 0) throw new DataError(`toFeeds: text ${bad} is neither a string nor a [text, pair] of strings`);
  const enc = tokenizer.encodeBatch(texts as (string | [string, string])[], { maxlen: options.maxlen, truncation: options.truncation, padding: options.padding });
  const feeds: TextFeeds = {
    input_ids: int64(enc.ids, 'input_ids'),
    token_type_ids: int64(enc.segments, 'token_type_ids'),
    attention_mask: int64(enc.attentionMask, 'attention_mask'),
  };
  const labels = options.labels;
  if (labels === undefined) return feeds;
  if (!Array.isArray(labels) || labels.length !== texts.length) throw new DataError(`toFeeds: ${Array.isArray(labels) ? labels.length : 'no'} labels for ${texts.length} texts`);
  if (labels.some((l) => Array.isArray(l))) {
    const rows = labels as readonly (readonly number[])[];
    rows.forEach((row, i) => {
      if (!Array.isArray(row) || row.length !== enc.lengths[i]) {
        throw new DataError(`toFeeds: text ${i} has ${enc.lengths[i]} tokens but ${Array.isArray(row) ? row.length : 'not an array of'} token labels`);
      }
    });
    feeds.labels = int64(sequencePadding(rows, { length: enc.ids[0]!.length, value: options.labelPad ?? -100 }), 'labels');
  } else feeds.labels = int64(labels as readonly number[], 'labels');
  return feeds;
}
