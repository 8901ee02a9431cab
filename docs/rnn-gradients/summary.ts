/**
 * The numbers of "Post 7888: RNN gradients" (docs/REPRODUCTIONS.md): measured decay/growth rate per
 * step of ‖∂s_T/∂s_{T−d}‖_F beside the rate the post's formula predicts from the same forward pass.
 *   node --import tsx docs/rnn-gradients/summary.ts
 * rate = (‖P_199‖ / ‖P_10‖)^(1/189) for T = 200, H = 32, I = 8, seed 0.
 * SimpleRNN (∂h_t/∂h_{t−1} = diag(a′_t)·Uᵀ, U = S·Q): predicted S · geomean_t rms_i a′_{t,i}.
 * LSTM (∂c_t/∂c_{t−1} ≈ diag(f_t), the post's main term): predicted geomean_t rms_i f_{t,i}.
 */
import { jacobianNorms, randomCell, stepJacobians, type CellSpec } from '../../src/cli/rnnGradients.ts';

const base: CellSpec = { cell: 'simple', activation: 'tanh', hidden: 32, input: 8, length: 200, scale: 1, forgetBias: 0, init: 'orthogonal', seed: 0 };
const rate = (n: number[]) => Math.pow(n[199]! / n[10]!, 1 / 189);
const geomean = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const rms = (xs: number[]) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0) / xs.length);
const H = base.hidden;

console.log('cell          init         S     measured  predicted');
for (const activation of ['tanh', 'relu'] as const) for (const init of ['orthogonal', 'normal'] as const) for (const scale of [0.5, 0.9, 1, 1.1, 1.5, 2, 3]) {
  const s = { ...base, activation, init, scale };
  const J = stepJacobians(s, randomCell(s));
  // Row i of diag(a′)·Uᵀ has norm a′_i·‖U[:, i]‖; with U = S·Q that is S·a′_i.
  const slopes = J.slice(1).map((j) => rms(Array.from({ length: H }, (_, i) => Math.hypot(...Array.from({ length: H }, (_, k) => j[i * H + k]!)))));
  const pred = init === 'orthogonal' ? geomean(slopes).toFixed(3) : '—';
  console.log(`simple ${activation.padEnd(6)} ${init.padEnd(10)} ${String(scale).padStart(4)}  ${rate(jacobianNorms(s)).toFixed(3).padStart(9)}  ${pred.padStart(9)}`);
}
for (const forgetBias of [0, 1, 3]) {
  const s: CellSpec = { ...base, cell: 'lstm', forgetBias };
  const J = stepJacobians(s, randomCell(s)), S = 2 * H;
  const f = J.slice(1).map((j) => rms(Array.from({ length: H }, (_, i) => j[(H + i) * S + H + i]!)));
  console.log(`lstm forget bias ${forgetBias}: measured h ${rate(jacobianNorms(s, 'h')).toFixed(3)}, c ${rate(jacobianNorms(s, 'c')).toFixed(3)}; predicted (rms f) ${geomean(f).toFixed(3)}; mean f ${(f.reduce((a, b) => a + b) / f.length).toFixed(3)}`);
}
for (const scale of [0.5, 1, 2, 3]) console.log(`gru S=${scale}: measured ${rate(jacobianNorms({ ...base, cell: 'gru', scale })).toFixed(3)}`);
