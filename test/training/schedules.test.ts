// piecewiseLinear against bert4keras's piecewise_linear (bert4keras/backend.py), transcribed below
// step by step: the chain of K.switch(t >= t_begin, x, x_begin) over the sorted points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { piecewiseLinear } from '../../src/training/schedules.ts';

function bert4kerasPiecewiseLinear(t: number, schedule: Record<number, number>, fromZero = true): number {
  let s = Object.entries(schedule).map(([k, v]) => [Number(k), v] as [number, number]).sort((a, b) => a[0] - b[0]);
  if (fromZero && s[0]![0] !== 0) s = [[0, 0.0], ...s];
  let x = s[0]![1];
  for (let i = 0; i < s.length; i++) {
    const tBegin = s[i]![0];
    const xBegin = x;
    if (i !== s.length - 1) {
      const slope = (1.0 * (s[i + 1]![1] - s[i]![1])) / (s[i + 1]![0] - s[i]![0]);
      x = s[i]![1] + slope * (t - tBegin);
    } else {
      x = s[i]![1];
    }
    x = t >= tBegin ? x : xBegin;
  }
  return x;
}

test('piecewiseLinear: values multiply the base rate, with an implicit 0 -> 0 at step 0', () => {
  const lr = 2e-5;
  const f = piecewiseLinear(lr, { 1000: 1, 2000: 0.1 });
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.abs(b) + 1e-20, `${a} vs ${b}`);
  close(f(0), 0);
  close(f(250), 0.25 * lr);
  close(f(1000), lr);
  close(f(1500), 0.55 * lr);
  close(f(2000), 0.1 * lr);
  close(f(1e6), 0.1 * lr);
});

test('piecewiseLinear matches bert4keras at, between, before and beyond the points', () => {
  const cases: [Record<number, number>, boolean][] = [
    [{ 1000: 1, 2000: 0.1 }, true],
    [{ 0: 0.5, 100: 1, 300: 0.2, 301: 0 }, true],
    [{ 50: 1, 150: 0.5 }, false], // without from_zero the first value holds before the first point
    [{ 10: 3 }, true],
    [{ 10: 3 }, false],
    [{ 2000: 0.1, 1000: 1 }, true], // unordered keys
  ];
  for (const [points, fromZero] of cases) {
    const f = piecewiseLinear(1e-3, points, { fromZero });
    const keys = Object.keys(points).map(Number);
    const ts = [...keys, ...keys.map((k) => k - 1), ...keys.map((k) => k + 1), ...keys.map((k) => k + 0.5), 0, 1, 7, 33, 77, 149.5, 299.25, 5000];
    for (let t = 0; t <= 2500; t += 37) ts.push(t);
    for (const t of ts.filter((x) => x >= 0)) {
      const want = 1e-3 * bert4kerasPiecewiseLinear(t, points, fromZero);
      assert.ok(Math.abs(f(t) - want) <= 1e-15, `${JSON.stringify(points)} fromZero=${fromZero} at ${t}: ${f(t)} vs ${want}`);
    }
  }
});

test('piecewiseLinear refuses empty or non-numeric points, naming them', () => {
  assert.throws(() => piecewiseLinear(1e-3, {}), /at least one point/);
  assert.throws(() => piecewiseLinear(1e-3, { abc: 1 } as unknown as Record<number, number>), /point abc: 1 must map a finite step/);
  assert.throws(() => piecewiseLinear(1e-3, { 10: NaN }), /point 10: NaN/);
});
