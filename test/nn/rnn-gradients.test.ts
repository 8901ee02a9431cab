// `bert4ts rnn-gradients`: the host Jacobians against autodiff through src/nn/rnn.ts, the CSV's
// shape and determinism, the geometric decay SimpleRNN must show at small scale, the forget bias,
// the adding-problem probe and the SVG helper.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { add, constant, input, mul, reduceSum } from '../../src/graph/ops.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { Random } from '../../src/util/random.ts';
import { GATES, rnn } from '../../src/nn/rnn.ts';
import { main } from '../../src/cli/main.ts';
import { addingTask, fullJacobian, jacobianNorms, randomCell, stepJacobians, svgLinePlot, type CellSpec } from '../../src/cli/rnnGradients.ts';

const spec = (o: Partial<CellSpec>): CellSpec => ({ cell: 'simple', activation: 'tanh', hidden: 4, input: 3, length: 6, scale: 1, forgetBias: 0, init: 'orthogonal', seed: 1, ...o });

test('host step Jacobians equal autodiff through the rnn layer: vᵀ ∂s_T/∂s_0 (simple relu, lstm with forget bias, gru)', async () => {
  for (const s of [spec({ activation: 'relu', scale: 1.3, init: 'normal' }), spec({ cell: 'lstm', forgetBias: 1, scale: 1.5 }), spec({ cell: 'gru', scale: 2 })]) {
    const c = randomCell(s), H = s.hidden, GH = GATES[s.cell] * H, S = s.cell === 'lstm' ? 2 * H : H;
    const store = new ParamStore();
    const w = (shape: number[], v: Float64Array) => hostTensor('float64', shape, v);
    store.set('l/kernel', w([s.input, GH], c.W));
    store.set('l/recurrent_kernel', w([H, GH], c.U));
    store.set('l/bias', w([GH], c.b));
    if (s.cell === 'gru') store.set('l/recurrent_bias', w([GH], new Float64Array(GH)));
    const init = Array.from({ length: S / H }, (_, k) => input(`s${k}`, 'float64', [1, H]));
    const { state } = rnn(new Scope(store, 'l', { dtype: 'float64' }), input('x', 'float64', [1, s.length, s.input]), { cell: s.cell, units: H, activation: s.activation, initialState: init });
    const r = new Random(9), v = Float64Array.from({ length: S }, () => r.normal());
    let loss = reduceSum(mul(state[0]!, constant(hostTensor('float64', [1, H], v.subarray(0, H)))));
    if (S > H) loss = add(loss, reduceSum(mul(state[1]!, constant(hostTensor('float64', [1, H], v.subarray(H))))));
    const grads = grad(loss, init);
    const outputs = Object.fromEntries(grads.map((g, k) => [`g${k}`, g]));
    const feeds = { x: hostTensor('float64', [1, s.length, s.input], c.x), ...Object.fromEntries(init.map((_, k) => [`s${k}`, hostTensor('float64', [1, H])])) };
    const out = await (await compile(outputs, { params: 'initializers', paramValue: (n) => store.get(n) })).run(feeds);
    const P = fullJacobian(s, c);
    for (let j = 0; j < S; j++) {
      let want = 0;
      for (let i = 0; i < S; i++) want += v[i]! * P[i * S + j]!;
      const got = out[`g${Math.floor(j / H)}`]!.data[j % H] as number;
      assert.ok(Math.abs(got - want) < 1e-12 * Math.max(1, Math.abs(want)), `${s.cell}: (vᵀ∂s_T/∂s_0)[${j}] autodiff ${got} vs host ${want}`);
    }
  }
});

test('SimpleRNN at small scale decays geometrically at rate S × activation slope: every step ratio lies in [S·min a′, S·max a′]', () => {
  for (const activation of ['tanh', 'relu'] as const) {
    const s = spec({ activation, hidden: 16, input: 4, length: 40, scale: 0.3 });
    const norms = jacobianNorms(s);
    // With U = S·Q (Q orthogonal), ∂h_T/∂h_{T−d−1} = P_d · diag(a′_t) S Qᵀ, so ‖P_{d+1}‖_F / ‖P_d‖_F ∈ S·[min a′_t, max a′_t].
    const J = stepJacobians(s, randomCell(s));
    for (let d = 0; d + 1 < s.length && norms[d + 1]! > 0; d++) {
      const t = s.length - 1 - d; // step whose Jacobian enters
      const slopes = Array.from({ length: 16 }, (_, i) => Math.hypot(...Array.from({ length: 16 }, (_, j) => J[t]![i * 16 + j]!)) / s.scale); // rows of diag(a′)·S·Qᵀ have norm S·a′_i
      const ratio = norms[d + 1]! / norms[d]!;
      assert.ok(ratio <= s.scale * Math.max(...slopes) + 1e-12 && ratio >= s.scale * Math.min(...slopes) - 1e-12, `${activation} d=${d}: ratio ${ratio} outside S·[${Math.min(...slopes)}, ${Math.max(...slopes)}]`);
    }
    assert.ok(norms[30]! < norms[0]! * 0.3 ** 30, `${activation}: decays at least as fast as S^d`);
  }
  // Orthogonal linear-regime check: relu with every unit active keeps ‖P_d‖ = √H·S^d exactly; tanh slopes < 1 only shrink it.
  const n = jacobianNorms(spec({ hidden: 8, length: 20, scale: 0.5 }));
  assert.equal(n[0], Math.sqrt(8));
  assert.ok(n.every((v, d) => v <= Math.sqrt(8) * 0.5 ** d * (1 + 1e-12)));
});

test('LSTM: a forget-gate bias of 3 keeps ∂c_T/∂c_{T−d} far from zero where bias 0 has vanished', () => {
  const base = spec({ cell: 'lstm', hidden: 8, length: 60, scale: 1 });
  const at = (b: number) => jacobianNorms({ ...base, forgetBias: b }, 'c');
  const [zero, three] = [at(0), at(3)];
  assert.ok(three[50]! > 1e3 * zero[50]!, `bias 3: ${three[50]} vs bias 0: ${zero[50]}`);
});

test('bert4ts rnn-gradients writes distance,grad_norm for d = 0…T−1, identically on every run, and validates its options', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnn-grad-'));
  try {
    const run = (...a: string[]) => main(['rnn-gradients', ...a]);
    const args = ['--cell', 'gru', '--length', '25', '--scale', '1.2', '--seed', '7', '--hidden', '6'];
    assert.equal(await run(...args, '--csv', join(dir, 'a.csv'), '--svg', join(dir, 'a.svg'), '--dump-cell', join(dir, 'cell.json')), 0);
    assert.equal(await run(...args, '--csv', join(dir, 'b.csv')), 0);
    const a = readFileSync(join(dir, 'a.csv'), 'utf8');
    assert.equal(a, readFileSync(join(dir, 'b.csv'), 'utf8'));
    const lines = a.trim().split('\n');
    assert.equal(lines[0], 'distance,grad_norm');
    assert.equal(lines.length, 26);
    lines.slice(1).forEach((l, d) => { const [k, v] = l.split(','); assert.equal(Number(k), d); assert.ok(Number(v) > 0); });
    assert.equal(Number(lines[1]!.split(',')[1]), Math.sqrt(6));
    assert.match(readFileSync(join(dir, 'a.svg'), 'utf8'), /^<svg[^]*<polyline[^]*<\/svg>\n$/);
    // The dumped cell, read back, gives the same CSV; another seed gives another.
    assert.equal(await run('--cell', 'gru', '--length', '25', '--hidden', '6', '--cell-file', join(dir, 'cell.json'), '--csv', join(dir, 'c.csv')), 0);
    assert.equal(readFileSync(join(dir, 'c.csv'), 'utf8'), a);
    assert.equal(await run('--cell', 'gru', '--length', '25', '--scale', '1.2', '--seed', '8', '--hidden', '6', '--csv', join(dir, 'd.csv')), 0);
    assert.notEqual(readFileSync(join(dir, 'd.csv'), 'utf8'), a);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ W: [1], U: [], b: [], x: [] }));
    assert.equal(await run('--cell', 'gru', '--length', '25', '--cell-file', join(dir, 'bad.json'), '--csv', join(dir, 'e.csv')), 2);
    assert.equal(await run('--cell', 'simple', '--length', '5', '--scale', '1', '--state', 'c', '--csv', join(dir, 'e.csv')), 2);
    assert.equal(await run('--cell', 'rnn', '--length', '5', '--scale', '1', '--csv', join(dir, 'e.csv')), 2);
    assert.equal(await run('--cell', 'lstm', '--length', '0', '--scale', '1', '--csv', join(dir, 'e.csv')), 2);
    assert.equal(await run('--cell', 'lstm', '--length', '4', '--csv', join(dir, 'e.csv')), 2);
    // The plot mode overlays CSVs.
    assert.equal(await run('--plot', join(dir, 'p.svg'), join(dir, 'a.csv'), join(dir, 'd.csv')), 0);
    assert.equal((readFileSync(join(dir, 'p.svg'), 'utf8').match(/<polyline/g) ?? []).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adding problem probe: per-distance ‖∂L/∂x_t‖ before and after; zero steps change nothing, a short run lowers the loss', async () => {
  const o = { cell: 'gru' as const, activation: 'tanh' as const, length: 6, hidden: 8, batch: 32, lr: 0.02, seed: 3, forgetBias: 1 };
  const none = await addingTask({ ...o, steps: 0 });
  assert.equal(none.before.length, 6);
  assert.deepEqual(none.before, none.after);
  const res = await addingTask({ ...o, steps: 150 });
  assert.ok(res.mseAfter < res.mseBefore / 2, `mse ${res.mseBefore} -> ${res.mseAfter}`);
  assert.ok(res.after.every((v) => Number.isFinite(v) && v > 0));
});

test('svgLinePlot drops non-positive and non-finite points and escapes names', () => {
  const svg = svgLinePlot([{ name: 'a<b', x: [0, 1, 2, 3], y: [1, 0, Infinity, 0.01] }], { title: 't' });
  assert.match(svg, /a&lt;b/);
  assert.equal((svg.match(/<polyline[^>]*points="([^"]*)"/)![1]!.split(' ')).length, 2);
});

test('an independent implementation written from --help (PyTorch autograd, test/fixtures/rnn/jacobian_reference.py) gives the same CSV values', async () => {
  const ref = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/rnn/jacobian_reference.json'), 'utf8')) as { cases: { cell: string; act: string; H: number; I: number; T: number; S: number; B: number; init: string; seed: number; state: string; norms: number[] }[] };
  const dir = mkdtempSync(join(tmpdir(), 'rnn-grad-ref-'));
  try {
    for (const c of ref.cases) {
      const csv = join(dir, 'r.csv');
      const code = await main(['rnn-gradients', '--cell', c.cell, '--activation', c.act, '--hidden', String(c.H), '--input', String(c.I), '--length', String(c.T), '--scale', String(c.S), '--forget-bias', String(c.B), '--init', c.init, '--seed', String(c.seed), '--state', c.state, '--csv', csv]);
      assert.equal(code, 0);
      const got = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[1]));
      assert.equal(got.length, c.norms.length);
      got.forEach((v, d) => assert.ok(Math.abs(v - c.norms[d]!) <= 1e-9 * Math.max(1e-300, Math.abs(c.norms[d]!)) + 1e-300, `${c.cell} ${c.act} ${c.state} d=${d}: ${v} vs reference ${c.norms[d]}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
