// Shared helpers for the model tests: fixture loading and element-wise comparison.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../../src/graph/dtype.ts';

export const REFERENCE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'reference');
export const SHARED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');

export interface ReferenceCase {
  case: string;
  family: string;
  application: string;
  inputs: Record<string, number[][] | number[]>;
  outputs: Record<string, { shape: number[]; data: number[] }>;
  loss?: number;
}

export function readCase(name: string): ReferenceCase {
  return JSON.parse(readFileSync(join(REFERENCE_DIR, name, 'io.json'), 'utf8'));
}

export function sharedPath(...parts: string[]): string | null {
  const p = join(SHARED_DIR, ...parts);
  return existsSync(p) ? p : null;
}

/** Largest |a - b| over all elements; shapes must agree. */
export function maxAbsDiff(actual: HostTensor, expected: { shape: readonly number[]; data: ArrayLike<number | bigint> }, what: string): number {
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  let worst = 0;
  for (let i = 0; i < expected.data.length; i++) worst = Math.max(worst, Math.abs(Number(actual.data[i]) - Number(expected.data[i])));
  return worst;
}

export function assertClose(actual: HostTensor, expected: { shape: readonly number[]; data: ArrayLike<number | bigint> }, tolerance: number, what: string): void {
  const d = maxAbsDiff(actual, expected, what);
  assert.ok(d <= tolerance, `${what}: max |diff| ${d.toExponential(2)} > ${tolerance}`);
}
