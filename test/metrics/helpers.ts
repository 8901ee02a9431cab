// The reference values made by test/fixtures/metrics/make_metrics.py, and a float comparison.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

export const fixture = JSON.parse(readFileSync(new URL('../fixtures/metrics/metrics.json', import.meta.url), 'utf8'));

/** Equal within 1e-12 relative (nltk uses math.fsum, numpy pairwise sums: the last bits may differ). */
export function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected}`);
}

/** Every number of `expected` (nested objects) is close to the same path in `actual`. */
export function closeDeep(actual: unknown, expected: unknown, what: string): void {
  if (typeof expected === 'number') return close(actual as number, expected, what);
  assert.ok(actual && typeof actual === 'object', `${what}: missing`);
  assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected as object).sort(), `${what}: keys`);
  for (const [k, v] of Object.entries(expected as object)) closeDeep((actual as Record<string, unknown>)[k], v, `${what}.${k}`);
}
