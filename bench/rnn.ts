/**
 * Recurrent layers, unrolled (src/nn/rnn.ts): what graph size costs as T grows. Per cell and T:
 * graph nodes, build (layer + autodiff) and compile (lowering + ORT session) time, forward and
 * forward+backward run time; and, where /usr/bin/python3 has torch, PyTorch's fused nn.RNN/LSTM/GRU
 * on the same sizes (what a fused primitive could reach).
 *   npm run bench -- rnn [--quick] [--cells lstm,gru] [--lengths 64,256] [--budget 120] [--forward-only]
 * A cell stops growing T once build + compile exceeds --budget seconds. Compile is also given in
 * process CPU seconds: on a shared machine wall time mostly measures the other jobs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { reduceSum, mul, input } from '../src/graph/ops.ts';
import { grad, topoSort } from '../src/autodiff/grad.ts';
import { compile, clearSessionCache } from '../src/runtime/session.ts';
import { ParamStore, Scope } from '../src/nn/params.ts';
import { Random } from '../src/util/random.ts';
import { rnn, type RnnCell } from '../src/nn/rnn.ts';
import type { HostTensor } from '../src/graph/dtype.ts';
import type { Tensor } from '../src/graph/tensor.ts';

const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : undefined; };
const quick = process.argv.includes('--quick');
const cells = (arg('cells') ?? 'simple,lstm,gru').split(',') as RnnCell[];
const lengths = (arg('lengths') ?? (quick ? '64,256' : '64,256,1024,4096')).split(',').map(Number);
const budget = Number(arg('budget') ?? 120) * 1000;
const forwardOnly = process.argv.includes('--forward-only');
const B = 8, I = 32, H = 64, REPS = quick ? 2 : 3;

const rand = (r: Random, shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.next() * 2 - 1) });
const ms = (t0: number) => performance.now() - t0;
async function median(f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < REPS; k++) { const t0 = performance.now(); await f(); times.push(ms(t0)); }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

interface Row { cell: RnnCell; T: number; nodesFwd: number; nodesTrain: number; buildMs: number; compileFwdMs: number; compileTrainMs: number; compileTrainCpuMs: number; forwardMs: number; trainMs: number; rssMB: number }
const rows: Row[] = [];
const torch: Record<string, { forwardMs: number; trainMs: number }> = {};
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`B=${B} I=${I} H=${H}, float32, 2 ORT threads, median of ${REPS}; load average ${load()}`);
console.log('cell     T     nodes fwd/train   build ms  compile fwd/train ms  train cpu ms   forward ms  fwd+bwd ms  rss MB');
for (const cell of cells) {
  for (const T of lengths) {
    const store = new ParamStore(1), r = new Random(T);
    let t0 = performance.now();
    const x = input('x', 'float32', [B, T, I]);
    const scope = new Scope(store, 'rnn');
    const { sequence, state } = rnn(scope, x, { cell, units: H });
    const loss = reduceSum(mul(sequence, input('w', 'float32', [B, T, H])));
    const wrt = [x, ...scope.declared.values()];
    const grads = grad(loss, wrt);
    const buildMs = ms(t0);
    const nodesFwd = topoSort([sequence, ...state]).length, nodesTrain = topoSort([loss, ...grads]).length;
    const feeds: Record<string, HostTensor> = { x: rand(r, [B, T, I]), w: rand(r, [B, T, H]) };
    for (const name of store.names()) feeds[name] = store.get(name)!;
    t0 = performance.now();
    const fwd = await compile({ sequence }, { params: 'initializers', paramValue: (n) => store.get(n) });
    const compileFwdMs = ms(t0);
    t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const outputs: Record<string, Tensor> = { loss };
    grads.forEach((g, k) => (outputs[`g${k}`] = g));
    const train = forwardOnly ? null : await compile(outputs, { params: 'inputs' }, { memoryArena: false });
    const compileTrainMs = forwardOnly ? NaN : ms(t0);
    const cpu = process.cpuUsage(cpu0), compileTrainCpuMs = forwardOnly ? NaN : (cpu.user + cpu.system) / 1000;
    const forwardMs = await median(() => fwd.run({ x: feeds.x! }));
    const trainMs = train ? await median(() => train.run(feeds)) : NaN;
    const row = { cell, T, nodesFwd, nodesTrain, buildMs, compileFwdMs, compileTrainMs, compileTrainCpuMs, forwardMs, trainMs, rssMB: process.memoryUsage().rss / 2 ** 20 };
    rows.push(row);
    console.log(`${cell.padEnd(7)}${String(T).padStart(5)}  ${`${nodesFwd}/${nodesTrain}`.padStart(15)}  ${buildMs.toFixed(0).padStart(9)}  ${`${compileFwdMs.toFixed(0)}/${compileTrainMs.toFixed(0)}`.padStart(19)}  ${compileTrainCpuMs.toFixed(0).padStart(12)}  ${forwardMs.toFixed(1).padStart(11)}  ${trainMs.toFixed(1).padStart(10)}  ${row.rssMB.toFixed(0).padStart(6)}`);
    await clearSessionCache();
    if (buildMs + compileFwdMs + (compileTrainMs || 0) > budget) { console.log(`${cell}: build + compile over ${budget / 1000} s at T=${T}; longer T skipped`); break; }
  }
}

// PyTorch's fused kernels on the same sizes (forward; forward + backward of the same loss).
const py = '/usr/bin/python3';
if (existsSync(py)) {
  const script = `
import json, sys, time, torch
torch.set_num_threads(2); torch.manual_seed(0)
B, I, H = ${B}, ${I}, ${H}
out = {}
for cell in sys.argv[1].split(','):
    for T in map(int, sys.argv[2].split(',')):
        m = {'simple': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell](I, H, batch_first=True)
        x = torch.randn(B, T, I, requires_grad=True); w = torch.randn(B, T, H)
        def fwd():
            with torch.no_grad(): m(x)
        def train():
            y, _ = m(x); (y * w).sum().backward()
        res = {}
        for name, f in (('forwardMs', fwd), ('trainMs', train)):
            f(); ts = []
            for _ in range(${REPS}):
                t0 = time.perf_counter(); f(); ts.append((time.perf_counter() - t0) * 1000)
            res[name] = sorted(ts)[len(ts) // 2]
        out[f'{cell}/{T}'] = res
print(json.dumps(out))`;
  const done = rows.map((r) => r.T);
  const p = spawnSync(py, ['-c', script, cells.join(','), [...new Set(done)].join(',')], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
  if (p.status === 0) {
    Object.assign(torch, JSON.parse(p.stdout.trim().split('\n').pop()!));
    console.log('\nPyTorch (fused kernels), same sizes:\ncell     T   forward ms  fwd+bwd ms');
    for (const [k, v] of Object.entries(torch)) { const [c, t] = k.split('/'); console.log(`${c!.padEnd(7)}${t!.padStart(5)}  ${v.forwardMs.toFixed(1).padStart(11)}  ${v.trainMs.toFixed(1).padStart(10)}`); }
  } else console.log(`(no PyTorch comparison: ${p.stderr.trim().split('\n').pop()})`);
}
console.log(`load average at the end ${load()}`);
console.log(JSON.stringify({ B, I, H, rows, torch }));
