/**
 * Feeds from what callers have at hand: number arrays become int64 tensors, and the inputs a
 * BERT-style graph takes but a caller usually omits are filled (attention_mask = 1, token_type_ids
 * = 0, shaped like input_ids). `Model.predict` and the `Trainer` both go through here, so a batch
 * that predicts also trains.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { FeedError, hostTensor, type Feeds } from './session.ts';

export type FeedValue = HostTensor | number[] | number[][];

export function toHostTensor(name: string, v: FeedValue): HostTensor {
  if (!Array.isArray(v)) return v;
  if (v.length === 0) throw new FeedError(`input '${name}' is empty`);
  if (Array.isArray(v[0])) {
    const rows = v as number[][];
    const width = rows[0]!.length;
    if (rows.some((r) => !Array.isArray(r) || r.length !== width)) throw new FeedError(`input '${name}' rows have different lengths; pad them and pass attention_mask`);
    return hostTensor('int64', [rows.length, width], integers(name, rows.flat()));
  }
  return hostTensor('int64', [v.length], integers(name, v as number[]));
}

function integers(name: string, values: number[]): number[] {
  const i = values.findIndex((x) => !Number.isSafeInteger(x));
  if (i >= 0) throw new FeedError(`input '${name}' holds ${values[i]} at flat index ${i}; number arrays become int64 ids or labels: pass other values as a HostTensor (e.g. float32)`);
  return values;
}

/** `values` as feeds for a graph whose inputs are `inputs`, with attention_mask and token_type_ids defaulted. */
export function completeFeeds(values: Record<string, FeedValue>, inputs: readonly string[]): Feeds {
  const feeds: Feeds = {};
  for (const [name, v] of Object.entries(values)) feeds[name] = toHostTensor(name, v);
  const ids = feeds.input_ids;
  if (ids) {
    if (inputs.includes('attention_mask') && !feeds.attention_mask) feeds.attention_mask = hostTensor('int64', [...ids.shape], new Array(ids.data.length).fill(1));
    if (inputs.includes('token_type_ids') && !feeds.token_type_ids) feeds.token_type_ids = hostTensor('int64', [...ids.shape]);
  }
  return feeds;
}

/** Inputs `completeFeeds` can fill by itself. */
export const DEFAULTED_INPUTS: readonly string[] = ['attention_mask', 'token_type_ids'];
