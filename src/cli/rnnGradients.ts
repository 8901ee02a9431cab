/**
 * `bert4ts rnn-gradients`: post 7888's analysis of vanishing/exploding RNN gradients as numbers.
 * Mode 1 (default): the exact Jacobian norms ‖∂h_T/∂h_{T−d}‖_F of a seeded random cell, computed on
 * the host in float64 from closed-form step Jacobians (no sampling, no finite differences), so that
 * another implementation following USAGE can reproduce the CSV. Mode 2 (--task adding): ‖∂L/∂x_t‖
 * against T−1−t on the adding problem before and after training a layer from src/nn/rnn.ts.
 * Mode 3 (--plot): overlay CSVs in one SVG line plot (log y).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { writeFileAtomic } from '../util/files.ts';
import { GATES, orthogonal, rnn, type RnnActivation, type RnnCell } from '../nn/rnn.ts';
import { ParamStore, Scope } from '../nn/params.ts';
import { Random } from '../util/random.ts';
import { dense } from '../nn/layers.ts';
import { input, mul, reduceMean, reduceSum, sub } from '../graph/ops.ts';
import { squeeze } from '../graph/composite.ts';
import type { HostTensor } from '../graph/dtype.ts';
import type { Tensor } from '../graph/tensor.ts';
import { grad } from '../autodiff/grad.ts';
import { compile, hostTensor } from '../runtime/session.ts';
import { Trainer } from '../training/trainer.ts';
import { adam } from '../training/optimizers.ts';
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts rnn-gradients --cell simple|lstm|gru [--activation tanh|relu] --length T --scale S
                             [--forget-bias B] [--init orthogonal|normal] [--seed N] [--hidden H] [--input I]
                             [--state h|c|full] [--cell-file F.json] [--dump-cell F.json] --csv FILE [--svg FILE]
       bert4ts rnn-gradients --task adding --cell simple|lstm|gru --length T [--hidden H] [--steps N]
                             [--batch N] [--lr X] [--seed N] [--forget-bias B] --csv FILE [--svg FILE]
       bert4ts rnn-gradients --plot FILE.svg [--title TEXT] A.csv B.csv ...

Jacobian mode writes "distance,grad_norm" for distance d = 0 … T−1: the Frobenius norm of the exact
Jacobian ∂h_T/∂h_{T−d} (d = 0: the identity, norm √H) of one sequence (batch 1) through a random cell:
  simple  h' = a(x W + h U + b)
  lstm    i,f,g,o = σ,σ,a,σ of (x W + h U + b);  c' = f⊙c + i⊙g;  h' = o⊙a(c')       (gates i,f,c,o)
  gru     z,r = σ(x W + b + h U + rb) blocks z,r;  n = a(x W_h + b_h + r⊙(h U_h + rb_h));
          h' = z⊙h + (1−z)⊙n                                                         (gates z,r,h)
  (a = --activation, default tanh; relu' is 1 where the pre-activation is > 0, else 0.)
For LSTM the state is (h, c): the Jacobian is the product of the full 2H×2H step Jacobians and
--state picks its block: h (default; ∂h_T/∂h_{T−d} with c_{T−d} held), c (∂c_T/∂c_{T−d}, the post's
quantity) or full (the whole 2H×2H matrix). Simple and GRU have only h.

The cell (reproducible by another implementation): one mulberry32 stream seeded with --seed N
(default 0; as Random in src/nn/params.ts), all arithmetic on unsigned 32-bit words mod 2³², imul =
product mod 2³²: s ← s + 0x6D2B79F5; t ← imul(s ⊕ (s>>15), s | 1); t ← t ⊕ (t + imul(t ⊕ (t>>7), t | 61));
u = (t ⊕ (t>>14)) / 2³². A normal is Box–Muller on two
draws: u1 = max(u, 1e−12), u2 = u, z = √(−2 ln u1)·cos(2π u2). Draw order:
  1. W [I, G·H] row-major (G = 1, 4, 3 for simple, lstm, gru), each z/√I;
  2. U [H, G·H]: --init normal: row-major, each z·S/√H (spectral radius ≈ S, circular law);
     --init orthogonal (default): per gate block k = 0…G−1, an H×H matrix of normals drawn row-major,
     orthonormalised by modified Gram–Schmidt on its columns (Q of QR with R's diagonal > 0), times S:
     U[:, kH:(k+1)H] = S·Q (every singular value and eigenvalue modulus exactly S);
  3. x [T, I] row-major, each z.
Biases are 0 except the LSTM forget block (columns H…2H) = --forget-bias B (default 0).
h_0 = c_0 = 0. Defaults: H = 32, I = 8. test/fixtures/rnn/jacobian_reference.py reimplements all
of this from this text (PyTorch autograd for the Jacobians) and matches the CSV to 1e−9. --dump-cell writes the drawn W, U, b, x as JSON (flat row-major
arrays); --cell-file reads such a file instead of drawing (--scale, --init, --seed and --forget-bias
are then ignored). Values are written with JavaScript's shortest round-trip
formatting; a norm beyond float64 range is written as Infinity (relu with S > 1 may overflow, and
then NaN).

Adding mode (--task adding): inputs x_t = (v_t, m_t), v_t ~ U[0,1), two markers m = 1, one at a
uniform step of the first half and one of the second; target = sum of the two marked values;
model = layer (H units, default 32) + dense(1) on h_T, loss = mean squared error, Adam (--lr, default
0.01), --steps (default 300) batches of --batch (default 32), all seeded by --seed. Writes
"distance,grad_norm_before,grad_norm_after": distance = T−1−t, grad_norm = mean over 256 held-out
sequences of ‖∂L_b/∂x_{b,t}‖₂ with L_b = (ŷ_b − y_b)². Prints a JSON line with the held-out MSE
before and after (predicting 1 for every sequence scores ≈ 0.167).
--svg FILE also draws the CSV (log y). --plot overlays CSVs (series named by file name).`;

// ---- the seeded cell -------------------------------------------------------------------------

export interface CellSpec { cell: RnnCell; activation: RnnActivation; hidden: number; input: number; length: number; scale: number; forgetBias: number; init: 'orthogonal' | 'normal'; seed: number }
export interface RandomCell { W: Float64Array; U: Float64Array; b: Float64Array; x: Float64Array }

/** The cell and input sequence exactly as USAGE specifies (W [I, G·H], U [H, G·H], b [G·H], x [T, I], row-major). */
export function randomCell(s: CellSpec): RandomCell {
  const G = GATES[s.cell], H = s.hidden, I = s.input, GH = G * H;
  const r = new Random(s.seed);
  const W = Float64Array.from({ length: I * GH }, () => r.normal() / Math.sqrt(I));
  let U: Float64Array;
  if (s.init === 'normal') U = Float64Array.from({ length: H * GH }, () => (r.normal() * s.scale) / Math.sqrt(H));
  else {
    U = new Float64Array(H * GH);
    for (let k = 0; k < G; k++) {
      const q = orthogonal(H, r);
      for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) U[i * GH + k * H + j] = s.scale * q[i * H + j]!;
    }
  }
  const x = Float64Array.from({ length: s.length * I }, () => r.normal());
  const b = new Float64Array(GH);
  if (s.cell === 'lstm') b.fill(s.forgetBias, H, 2 * H);
  return { W, U, b, x };
}

const sigm = (v: number) => 1 / (1 + Math.exp(-v));
const actF = (a: RnnActivation, v: number) => (a === 'tanh' ? Math.tanh(v) : Math.max(0, v));
/** a'(v) from the pre-activation v. */
const actD = (a: RnnActivation, v: number) => (a === 'tanh' ? 1 - Math.tanh(v) ** 2 : v > 0 ? 1 : 0);

/**
 * Run the cell over its T inputs and return each step's state Jacobian J_t = ∂s_t/∂s_{t−1}
 * (S×S row-major, J[i][j] = ∂s_t[i]/∂s_{t−1}[j]; s = h, or (h, c) for LSTM) for t = 1…T.
 */
export function stepJacobians(s: CellSpec, c: RandomCell): Float64Array[] {
  const H = s.hidden, I = s.input, G = GATES[s.cell], GH = G * H, S = s.cell === 'lstm' ? 2 * H : H, a = s.activation;
  let h = new Float64Array(H), cs = new Float64Array(H);
  const out: Float64Array[] = [];
  for (let t = 0; t < s.length; t++) {
    const xw = new Float64Array(GH), hu = new Float64Array(GH); // x W + b, h U
    for (let k = 0; k < GH; k++) {
      let v = c.b[k]!, w = 0;
      for (let i = 0; i < I; i++) v += c.x[t * I + i]! * c.W[i * GH + k]!;
      for (let j = 0; j < H; j++) w += h[j]! * c.U[j * GH + k]!;
      xw[k] = v; hu[k] = w;
    }
    const J = new Float64Array(S * S), h2 = new Float64Array(H), c2 = new Float64Array(H);
    const U = (j: number, k: number) => c.U[j * GH + k]!;
    switch (s.cell) {
      case 'simple':
        for (let i = 0; i < H; i++) {
          const pre = xw[i]! + hu[i]!, d = actD(a, pre);
          h2[i] = actF(a, pre);
          for (let j = 0; j < H; j++) J[i * S + j] = d * U(j, i);
        }
        break;
      case 'lstm':
        for (let i = 0; i < H; i++) {
          const ai = xw[i]! + hu[i]!, af = xw[H + i]! + hu[H + i]!, ag = xw[2 * H + i]! + hu[2 * H + i]!, ao = xw[3 * H + i]! + hu[3 * H + i]!;
          const gi = sigm(ai), gf = sigm(af), gg = actF(a, ag), go = sigm(ao);
          c2[i] = gf * cs[i]! + gi * gg;
          const ac = actF(a, c2[i]!), dc = actD(a, c2[i]!);
          h2[i] = go * ac;
          for (let j = 0; j < H; j++) {
            const dcdh = cs[i]! * gf * (1 - gf) * U(j, H + i) + gg * gi * (1 - gi) * U(j, i) + gi * actD(a, ag) * U(j, 2 * H + i);
            J[(H + i) * S + j] = dcdh; // ∂c'/∂h
            J[i * S + j] = go * (1 - go) * U(j, 3 * H + i) * ac + go * dc * dcdh; // ∂h'/∂h
          }
          J[(H + i) * S + H + i] = gf; // ∂c'/∂c
          J[i * S + H + i] = go * dc * gf; // ∂h'/∂c
        }
        break;
      case 'gru':
        // rb = 0: the recurrent bias is zero in this cell, so h U_h is the reset gate's operand.
        for (let i = 0; i < H; i++) {
          const z = sigm(xw[i]! + hu[i]!), r = sigm(xw[H + i]! + hu[H + i]!), u = hu[2 * H + i]!, an = xw[2 * H + i]! + r * u;
          const n = actF(a, an), dn = actD(a, an);
          h2[i] = z * h[i]! + (1 - z) * n;
          for (let j = 0; j < H; j++) {
            const dndh = dn * (r * U(j, 2 * H + i) + u * r * (1 - r) * U(j, H + i));
            J[i * S + j] = (1 - z) * dndh + (h[i]! - n) * z * (1 - z) * U(j, i) + (i === j ? z : 0);
          }
        }
        break;
    }
    h = h2; cs = c2;
    out.push(J);
  }
  return out;
}

/** ∂s_T/∂s_0 (S×S row-major): the product J_T ⋯ J_1, for checking against autodiff. */
export function fullJacobian(s: CellSpec, c: RandomCell): Float64Array {
  const J = stepJacobians(s, c), S = Math.sqrt(J[0]!.length);
  let P = J[J.length - 1]!;
  for (let t = J.length - 2; t >= 0; t--) {
    const next = new Float64Array(S * S);
    for (let i = 0; i < S; i++) for (let k = 0; k < S; k++) for (let j = 0; j < S; j++) next[i * S + j]! += P[i * S + k]! * J[t]![k * S + j]!;
    P = next;
  }
  return P;
}

/**
 * Frobenius norms of the chosen block of ∂s_T/∂s_{T−d} for d = 0…T−1 (products accumulated with a
 * power-of-2 rescale so they do not overflow early). `cell` defaults to `randomCell(s)`.
 */
export function jacobianNorms(s: CellSpec, state: 'h' | 'c' | 'full' = 'h', cell: RandomCell = randomCell(s)): number[] {
  const J = stepJacobians(s, cell);
  const H = s.hidden, S = s.cell === 'lstm' ? 2 * H : H;
  const [r0, r1] = state === 'h' ? [0, H] : state === 'c' ? [H, 2 * H] : [0, S];
  let P = new Float64Array(S * S);
  for (let i = 0; i < S; i++) P[i * S + i] = 1;
  let log2 = 0;
  const norms: number[] = [];
  for (let d = 0; d < s.length; d++) {
    if (d > 0) { // P ← P · J_{T−d+1}
      const Jt = J[s.length - d]!, next = new Float64Array(S * S);
      for (let i = 0; i < S; i++) for (let k = 0; k < S; k++) {
        const p = P[i * S + k]!;
        if (p === 0) continue;
        for (let j = 0; j < S; j++) next[i * S + j]! += p * Jt[k * S + j]!;
      }
      P = next;
      let m = 0;
      for (const v of P) m = Math.max(m, Math.abs(v));
      if (m > 2 ** 500 || (m > 0 && m < 2 ** -500)) { const e = Math.round(Math.log2(m)); log2 += e; for (let k = 0; k < P.length; k++) P[k]! *= 2 ** -e; }
    }
    let f = 0;
    for (let i = r0; i < r1; i++) for (let j = r0; j < r1; j++) f += P[i * S + j]! ** 2;
    norms.push(Math.sqrt(f) * 2 ** log2);
  }
  return norms;
}

// ---- the adding problem -------------------------------------------------------------------

/** A batch of the adding problem: x [n, T, 2] (value, marker), y [n, 1]. */
export function addingBatch(r: Random, n: number, T: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n * T * 2), y = new Float32Array(n);
  const half = Math.max(1, Math.floor(T / 2));
  for (let b = 0; b < n; b++) {
    for (let t = 0; t < T; t++) x[(b * T + t) * 2] = r.next();
    const p = r.int(half), q = half + r.int(T - half);
    x[(b * T + p) * 2 + 1] = 1; x[(b * T + q) * 2 + 1] = 1;
    y[b] = x[(b * T + p) * 2]! + x[(b * T + q) * 2]!;
  }
  return { x, y };
}

export interface AddingOptions { cell: RnnCell; activation: RnnActivation; length: number; hidden: number; steps: number; batch: number; lr: number; seed: number; forgetBias: number }
export interface AddingResult { before: number[]; after: number[]; mseBefore: number; mseAfter: number; losses: number[] }

/** Train on the adding problem; ‖∂L_b/∂x_{b,t}‖ (mean over 256 held-out rows) by distance T−1−t before and after. */
export async function addingTask(o: AddingOptions): Promise<AddingResult> {
  const T = o.length, N = 256;
  const model = (scope: Scope, x: Tensor) => {
    const { state } = rnn(scope.child('rnn'), x, { cell: o.cell, units: o.hidden, activation: o.activation, forgetBias: o.forgetBias });
    return squeeze(dense(scope.child('out'), state[0]!, 1), 1); // (B)
  };
  const store = new ParamStore(o.seed);
  const trainer = await Trainer.create({
    store, optimizer: adam(o.lr), clipNorm: 1,
    loss: (scope) => { const e = sub(model(scope, input('x', 'float32', ['batch', T, 2])), input('y', 'float32', ['batch'])); return reduceMean(mul(e, e)); },
  });
  // Held-out probe: per-row losses summed, so ∂L/∂x_b is row b's own gradient.
  const scope = new Scope(store);
  const x = input('x', 'float32', [N, T, 2]), y = input('y', 'float32', [N]);
  const err = sub(model(scope, x), y);
  const loss = reduceSum(mul(err, err));
  const [gx] = grad(loss, [x]);
  const probe = await compile({ loss, gx: gx! }, { params: 'inputs' });
  const held = addingBatch(new Random(o.seed + 1_000_003), N, T);
  const measure = async () => {
    const feeds: Record<string, HostTensor> = { x: hostTensor('float32', [N, T, 2], held.x), y: hostTensor('float32', [N], held.y) };
    for (const name of store.names()) feeds[name] = store.get(name)!;
    const out = await probe.run(feeds);
    const g = out.gx!.data as Float32Array, norms = new Array<number>(T).fill(0);
    for (let b = 0; b < N; b++) for (let t = 0; t < T; t++) norms[T - 1 - t]! += Math.hypot(g[(b * T + t) * 2]!, g[(b * T + t) * 2 + 1]!) / N;
    return { norms, mse: (out.loss!.data[0] as number) / N };
  };
  const before = await measure();
  const r = new Random(o.seed), losses: number[] = [];
  for (let step = 0; step < o.steps; step++) {
    const b = addingBatch(r, o.batch, T);
    losses.push((await trainer.trainStep({ x: hostTensor('float32', [o.batch, T, 2], b.x), y: hostTensor('float32', [o.batch], b.y) })).loss);
  }
  const after = await measure();
  return { before: before.norms, after: after.norms, mseBefore: before.mse, mseAfter: after.mse, losses };
}

// ---- SVG ---------------------------------------------------------------------------------------

export interface Series { name: string; x: number[]; y: number[] }

/** A line plot with a log-10 y axis (non-positive and non-finite points are dropped), as a standalone SVG. */
export function svgLinePlot(series: Series[], o: { title?: string; xLabel?: string; yLabel?: string; width?: number; height?: number } = {}): string {
  const W = o.width ?? 640, Hh = o.height ?? 400, L = 70, R = 160, Tp = 30, Bm = 45;
  const pts = series.map((s) => s.x.map((x, i) => [x, s.y[i]!] as const).filter(([, y]) => Number.isFinite(y) && y > 0).map(([x, y]) => [x, Math.log10(y)] as const));
  const all = pts.flat();
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1);
  let y0 = Math.floor(Math.min(...ys, 0)), y1 = Math.ceil(Math.max(...ys, 1));
  if (y1 === y0) y1 = y0 + 1;
  if (!all.length) { y0 = 0; y1 = 1; }
  const px = (x: number) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R), py = (y: number) => Tp + (1 - (y - y0) / (y1 - y0)) * (Hh - Tp - Bm);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hh}" font-family="sans-serif" font-size="11">`, `<rect width="${W}" height="${Hh}" fill="white"/>`];
  const nice = (span: number) => { const p = 10 ** Math.floor(Math.log10(span / 5)), m = span / 5 / p; return (m >= 5 ? 5 : m >= 2 ? 2 : 1) * p; }; // 1-2-5 steps
  const yStep = Math.max(1, nice(y1 - y0)), xStep = nice(x1 - x0 || 1);
  for (let e = Math.ceil(y0 / yStep) * yStep; e <= y1; e += yStep) out.push(`<line x1="${L}" x2="${W - R}" y1="${py(e).toFixed(1)}" y2="${py(e).toFixed(1)}" stroke="#ddd"/><text x="${L - 5}" y="${(py(e) + 4).toFixed(1)}" text-anchor="end">1e${e}</text>`);
  for (let x = Math.ceil(x0 / xStep) * xStep; x <= x1; x += xStep) { out.push(`<text x="${px(x).toFixed(1)}" y="${Hh - Bm + 15}" text-anchor="middle">${+x.toPrecision(3)}</text>`); }
  out.push(`<rect x="${L}" y="${Tp}" width="${W - L - R}" height="${Hh - Tp - Bm}" fill="none" stroke="black"/>`);
  if (o.title) out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title)}</text>`);
  if (o.xLabel) out.push(`<text x="${(L + W - R) / 2}" y="${Hh - 8}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.yLabel) out.push(`<text x="14" y="${(Tp + Hh - Bm) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(Tp + Hh - Bm) / 2})">${esc(o.yLabel)}</text>`);
  pts.forEach((p, k) => {
    const color = colors[k % colors.length]!;
    if (p.length) out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${p.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    out.push(`<line x1="${W - R + 10}" x2="${W - R + 30}" y1="${Tp + 10 + 16 * k}" y2="${Tp + 10 + 16 * k}" stroke="${color}" stroke-width="2"/><text x="${W - R + 35}" y="${Tp + 14 + 16 * k}">${esc(series[k]!.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** A CSV with a header row and numeric columns, as one series per column after the first. */
function readCsvSeries(path: string): Series[] {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  return head.slice(1).map((col, k) => ({ name: head.length > 2 ? `${basename(path, '.csv')} ${col}` : basename(path, '.csv'), x: rows.map((r) => r[0]!), y: rows.map((r) => r[k + 1]!) }));
}

/** A cell from JSON {W, U, b, x} (flat row-major arrays, shapes as USAGE: [I, G·H], [H, G·H], [G·H], [T, I]). */
function readCell(path: string, s: CellSpec): RandomCell {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, number[]>;
  const GH = GATES[s.cell] * s.hidden, want = { W: s.input * GH, U: s.hidden * GH, b: GH, x: s.length * s.input };
  for (const [k, n] of Object.entries(want)) {
    if (!Array.isArray(j[k]) || j[k]!.length !== n || j[k]!.some((v) => typeof v !== 'number')) throw new UsageError(`--cell-file ${path}: "${k}" must be ${n} numbers for --cell ${s.cell} --hidden ${s.hidden} --input ${s.input} --length ${s.length}, got ${Array.isArray(j[k]) ? j[k]!.length : typeof j[k]}`);
  }
  return { W: Float64Array.from(j.W!), U: Float64Array.from(j.U!), b: Float64Array.from(j.b!), x: Float64Array.from(j.x!) };
}

// ---- the command -------------------------------------------------------------------------------

const pick = <T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T => {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
};

const command: Command = {
  summary: "RNN gradient analysis (post 7888): exact ‖∂h_T/∂h_{T−d}‖ of a seeded SimpleRNN/LSTM/GRU cell, and ‖∂L/∂x_t‖ on the adding problem",
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      cell: { type: 'string' }, activation: { type: 'string' }, length: { type: 'string' }, scale: { type: 'string' }, 'forget-bias': { type: 'string' },
      init: { type: 'string' }, seed: { type: 'string' }, hidden: { type: 'string' }, input: { type: 'string' }, state: { type: 'string' },
      csv: { type: 'string' }, svg: { type: 'string' }, task: { type: 'string' }, steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
      'cell-file': { type: 'string' }, 'dump-cell': { type: 'string' }, plot: { type: 'string' }, title: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (values.help) { process.stdout.write(USAGE + '\n'); return 0; }
    if (values.plot) {
      if (!positionals.length) throw new UsageError(`--plot needs CSV files\n${USAGE}`);
      writeFileAtomic(values.plot, svgLinePlot(positionals.flatMap(readCsvSeries), { title: values.title, xLabel: 'distance', yLabel: 'gradient norm (log)' }));
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"\n${USAGE}`);
    if (!values.cell) throw new UsageError(`--cell is required\n${USAGE}`);
    if (!values.csv) throw new UsageError(`--csv is required\n${USAGE}`);
    const cell = pick('cell', values.cell, ['simple', 'lstm', 'gru'] as const, 'simple');
    const activation = pick('activation', values.activation, ['tanh', 'relu'] as const, 'tanh');
    const length = numberOption('length', values.length, { integer: true, min: 1, max: 100_000 });
    if (length === undefined) throw new UsageError(`--length is required\n${USAGE}`);
    const seed = numberOption('seed', values.seed, { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? 0;
    const forgetBias = numberOption('forget-bias', values['forget-bias']) ?? 0;
    let rows: string[], series: Series[], title: string;
    if (values.task !== undefined) {
      pick('task', values.task, ['adding'] as const, 'adding');
      const o: AddingOptions = {
        cell, activation, length, seed, forgetBias: values['forget-bias'] === undefined ? 1 : forgetBias, hidden: numberOption('hidden', values.hidden, { integer: true, min: 1, max: 1024 }) ?? 32,
        steps: numberOption('steps', values.steps, { integer: true, min: 0 }) ?? 300, batch: numberOption('batch', values.batch, { integer: true, min: 1 }) ?? 32, lr: numberOption('lr', values.lr, { above: 0 }) ?? 0.01,
      };
      const res = await addingTask(o);
      rows = ['distance,grad_norm_before,grad_norm_after', ...res.before.map((v, d) => `${d},${v},${res.after[d]}`)];
      series = [{ name: 'before training', x: res.before.map((_, d) => d), y: res.before }, { name: 'after training', x: res.after.map((_, d) => d), y: res.after }];
      title = `adding problem, ${cell} ${activation}, T=${length}: ‖∂L/∂x_t‖ vs T−1−t`;
      process.stdout.write(JSON.stringify({ ...o, mseBefore: res.mseBefore, mseAfter: res.mseAfter, lossFirst: res.losses[0], lossLast: res.losses.at(-1) }) + '\n');
    } else {
      const scale = numberOption('scale', values.scale, { min: 0 }) ?? (values['cell-file'] ? 1 : undefined);
      if (scale === undefined) throw new UsageError(`--scale is required\n${USAGE}`);
      const state = pick('state', values.state, ['h', 'c', 'full'] as const, 'h');
      if (state !== 'h' && cell !== 'lstm') throw new UsageError(`--state ${state} needs --cell lstm (${cell} has only h)`);
      const spec: CellSpec = {
        cell, activation, length, scale, forgetBias, seed, init: pick('init', values.init, ['orthogonal', 'normal'] as const, 'orthogonal'),
        hidden: numberOption('hidden', values.hidden, { integer: true, min: 1, max: 1024 }) ?? 32, input: numberOption('input', values.input, { integer: true, min: 1, max: 1024 }) ?? 8,
      };
      let weights = randomCell(spec);
      if (values['cell-file']) weights = readCell(values['cell-file'], spec);
      if (values['dump-cell']) writeFileAtomic(values['dump-cell'], JSON.stringify({ cell, hidden: spec.hidden, input: spec.input, length, W: [...weights.W], U: [...weights.U], b: [...weights.b], x: [...weights.x] }) + '\n');
      const norms = jacobianNorms(spec, state, weights);
      rows = ['distance,grad_norm', ...norms.map((v, d) => `${d},${v}`)];
      series = [{ name: `${cell} ${activation} S=${scale}`, x: norms.map((_, d) => d), y: norms }];
      title = `‖∂${state === 'c' ? 'c' : 'h'}_T/∂${state === 'c' ? 'c' : 'h'}_{T−d}‖_F, ${cell} ${activation}, ${spec.init} S=${scale}${cell === 'lstm' ? `, forget bias ${forgetBias}` : ''}`;
    }
    writeFileAtomic(values.csv, rows.join('\n') + '\n');
    if (values.svg) writeFileAtomic(values.svg, svgLinePlot(series, { title, xLabel: 'distance', yLabel: 'gradient norm (log)' }));
    return 0;
  },
};
export default command;
