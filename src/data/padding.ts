/** bert4keras's `sequence_padding`, and rows of integers as int64 host tensors. */
import type { HostTensor } from '../graph/dtype.ts';
import { DataError } from './read.ts';

export interface PaddingOptions<T> {
  /** Width of the result; default the longest row. Longer rows keep their first `length` items (on either side). */
  length?: number;
  /** Fill value; default 0. */
  value?: T;
  /** 'post' pads after the items (default), 'pre' before them. */
  side?: 'post' | 'pre';
}

/** Rows of different lengths -> rows of one length, as `sequence_padding(inputs, length, value, mode=side)`. */
export function sequencePadding<T = number>(rows: readonly (readonly T[])[], options: PaddingOptions<T> = {}): T[][] {
  if (!Array.isArray(rows)) throw new DataError('sequencePadding: rows must be an array of arrays');
  const bad = rows.findIndex((r) => !Array.isArray(r));
  if (bad >= 0) throw new DataError(`sequencePadding: row ${bad} is not an array`);
  const length = options.length ?? rows.reduce((m, r) => Math.max(m, r.length), 0);
  if (!Number.isInteger(length) || length < 0) throw new DataError(`sequencePadding: length must be a non-negative integer, got ${length}`);
  const value = options.value ?? (0 as T);
  return rows.map((r) => {
    const kept = r.slice(0, length); // bert4keras truncates with x[:length] in both modes
    const fill = new Array<T>(length - kept.length).fill(value);
    return options.side === 'pre' ? fill.concat(kept) : kept.concat(fill);
  });
}

/** Integers (a vector or equal-length rows) as an int64 tensor; errors name the row. */
export function int64(values: readonly number[] | readonly (readonly number[])[], name = 'values'): HostTensor {
  const nested = values.length > 0 && Array.isArray(values[0]);
  const rows = (nested ? values : [values]) as readonly (readonly number[])[];
  const width = rows[0]?.length ?? 0;
  const data = new BigInt64Array(rows.length * width);
  rows.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== width) throw new DataError(`${name}: row ${i} has ${Array.isArray(row) ? row.length : 'no'} items where row 0 has ${width}; pad them first`);
    row.forEach((v, j) => {
      if (!Number.isSafeInteger(v)) throw new DataError(`${name}: row ${i}, item ${j} is ${v}, not an integer`);
      data[i * width + j] = BigInt(v);
    });
  });
  return { dtype: 'int64', shape: nested ? [rows.length, width] : [width], data };
}

/** Rows back without their padding: the first `lengths[i]` items ('post') or the last ('pre'). */
export function unpad<T>(rows: readonly (readonly T[])[], lengths: readonly number[], side: 'post' | 'pre' = 'post'): T[][] {
  if (rows.length !== lengths.length) throw new DataError(`unpad: ${rows.length} rows but ${lengths.length} lengths`);
  return rows.map((r, i) => (side === 'pre' ? r.slice(r.length - lengths[i]!) : r.slice(0, lengths[i])));
}
