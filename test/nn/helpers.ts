// Shared by the nn tests: seeded host values and a central-difference gradient check that covers
// graph inputs and parameters alike (parameters are fed as inputs).
import type { HostTensor } from '../../src/graph/dtype.ts';
import type { Tensor } from '../../src/graph/tensor.ts';
import { grad } from '../../src/autodiff/grad.ts';
import { compile, hostTensor } from '../../src/runtime/session.ts';
import { Random } from '../../src/util/random.ts';

export function randomHost(r: Random, dtype: 'float32' | 'float64', shape: number[], scale = 1): HostTensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return hostTensor(dtype, shape, Array.from({ length: n }, () => (r.next() * 2 - 1) * scale));
}

/**
 * Max relative error between autodiff gradients of scalar `loss` w.r.t. the leaves named in `wrt`
 * (inputs or params, all found in `feeds`) and central differences with step `eps`.
 */
export async function gradientError(loss: Tensor, wrt: Record<string, Tensor>, feeds: Record<string, HostTensor>, eps = 1e-6): Promise<{ maxErr: number; worst: string }> {
  const names = Object.keys(wrt);
  const grads = grad(loss, names.map((n) => wrt[n]!));
  const outputs: Record<string, Tensor> = { loss };
  grads.forEach((g, i) => (outputs[`grad/${names[i]}`] = g));
  const exe = await compile(outputs, { params: 'inputs' }, { threads: 2 });
  const out = await exe.run(feeds);
  const at = async () => (await exe.run(feeds, { outputs: ['loss'] })).loss!.data[0] as number;
  let maxErr = 0, worst = '';
  for (const name of names) {
    const x = feeds[name]!.data as Float64Array;
    const analytic = out[`grad/${name}`]!.data as Float64Array;
    for (let k = 0; k < x.length; k++) {
      const orig = x[k]!;
      x[k] = orig + eps;
      const up = await at();
      x[k] = orig - eps;
      const down = await at();
      x[k] = orig;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(numeric - analytic[k]!) / Math.max(1, Math.abs(numeric));
      if (err > maxErr) { maxErr = err; worst = `${name}[${k}]: autodiff ${analytic[k]} vs numeric ${numeric}`; }
    }
  }
  return { maxErr, worst };
}

/** log Σ exp over a list, for host references. */
export function logSumExpHost(xs: number[]): number {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}
