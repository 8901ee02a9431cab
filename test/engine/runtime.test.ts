import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import * as g from '../../src/graph/index.ts';
import { compile, hostTensor, FeedError } from '../../src/runtime/session.ts';
import { exportOnnx } from '../../src/runtime/export.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { gpt2 } from '../../src/models/gpt2.ts';

test('shape and dtype errors are raised at build time, naming the op and both shapes', () => {
  const a = g.input('a', 'float32', ['batch', 4]);
  const b = g.input('b', 'float32', [5, 3]);
  assert.throws(() => g.matmul(a, b), /matmul: inner dims differ: \[batch, 4\] x \[5, 3\] \(4 vs 5\)/);
  assert.throws(() => g.add(a, g.input('c', 'float32', [3])), /add: shapes \[batch, 4\] and \[3\] do not broadcast/);
  assert.throws(() => g.add(a, g.input('d', 'float64', [4])), /add: dtypes differ: float32 \[batch, 4\] vs float64 \[4\]/);
  assert.throws(() => g.reshape(a, [3, -1, -1]), /reshape: more than one -1/);
  assert.throws(() => g.gather(b, a), /gather: indices must be int64 or int32, got float32/);
  assert.throws(() => g.exp(g.input('i', 'int64', [2])), /exp: needs a float tensor, got int64/);
  assert.throws(() => g.input('q', 'float8' as any, [2]), /input: 'q': unknown dtype 'float8'/);
  assert.throws(() => g.param('w', 'float32', [2, -1]), /param: 'w': bad dim -1/);
});

test('feeds are checked: missing input, wrong dtype, wrong shape, inconsistent named dims', async () => {
  const a = g.input('a', 'float32', ['batch', 2]);
  const m = g.input('m', 'float32', ['batch', 'seq']);
  const exe = await compile({ y: g.add(g.reduceSum(a, 1), g.reduceSum(m, 1)) }, { params: 'initializers' });
  const ok = await exe.run({ a: hostTensor('float32', [2, 2], [1, 2, 3, 4]), m: hostTensor('float32', [2, 1], [10, 20]) });
  assert.deepEqual([...ok.y!.data as Float32Array], [13, 27]);
  await assert.rejects(exe.run({ a: hostTensor('float32', [2, 2]) }), /missing input 'm'/);
  await assert.rejects(exe.run({ a: hostTensor('float64', [2, 2]), m: hostTensor('float32', [2, 1]) }), /input 'a' must be float32, got float64/);
  await assert.rejects(exe.run({ a: hostTensor('float32', [2, 3]), m: hostTensor('float32', [2, 1]) }), /input 'a' must have shape \[batch, 2\], got \[2, 3\]/);
  await assert.rejects(exe.run({ a: hostTensor('float32', [2, 2]), m: hostTensor('float32', [3, 1]) }), /dim 'batch' is 2 in input 'a' but 3 in input 'm'/);
  await assert.rejects(exe.run({ a: hostTensor('float32', [2, 2]), m: hostTensor('float32', [2, 1]), zz: hostTensor('float32', [1]) }), FeedError);
});

test('inputs and weights may have names like the lowering\'s own values (v0, i1, s2, c3)', async () => {
  const x = g.input('v0', 'float32', [2]);
  const w = g.param('v1', 'float32', [2]);
  const exe = await compile({ y: g.add(g.mul(x, w), g.input('i0', 'float32', [2])) }, { params: 'initializers', paramValue: () => hostTensor('float32', [2], [3, 4]) });
  const out = await exe.run({ v0: hostTensor('float32', [2], [1, 2]), i0: hostTensor('float32', [2], [10, 20]) });
  assert.deepEqual([...out.y!.data as Float32Array], [13, 28]);
});

test('a session evicted from the cache keeps working for whoever holds it (a Trainer past 16 other compiles)', async () => {
  const x = g.input('x', 'float32', [2]);
  const held = await compile({ y: g.mul(x, g.scalar(3)) }, { params: 'initializers' });
  for (let i = 0; i < 20; i++) await compile({ y: g.add(x, g.scalar(i + 100)) }, { params: 'initializers' }); // evicts `held`
  assert.equal(held.evicted, true);
  assert.deepEqual([...(await held.run({ x: hostTensor('float32', [2], [1, 2]) })).y!.data as Float32Array], [3, 6]);
  const again = await compile({ y: g.mul(x, g.scalar(3)) }, { params: 'initializers' });
  assert.notEqual(again, held, 'a new compile of the same graph gets a fresh session');
  await held.release(); // an explicit release of the evicted one leaves the fresh one cached and working
  assert.equal(await compile({ y: g.mul(x, g.scalar(3)) }, { params: 'initializers' }), again);
  assert.deepEqual([...(await again.run({ x: hostTensor('float32', [2], [1, 2]) })).y!.data as Float32Array], [3, 6]);
});

test('dynamic dims: slicing by seq, ranges and reshapes resolve at run time', async () => {
  const x = g.input('x', 'float32', ['batch', 'seq', 3]);
  const table = g.constant(hostTensor('float32', [8, 3], Array.from({ length: 24 }, (_, i) => i)));
  const pos = g.slice(table, 0, 0, 'seq'); // first seq rows
  const flat = g.reshape(g.add(x, pos), [-1, 3]); // [batch*seq, 3]
  const exe = await compile({ flat, n: g.cast(g.range('seq'), 'float32') }, { params: 'initializers' });
  assert.deepEqual(flat.shape, ['batch*seq', 3]);
  const out = await exe.run({ x: hostTensor('float32', [2, 2, 3]) });
  assert.deepEqual(out.flat!.shape, [4, 3]);
  assert.deepEqual([...out.flat!.data as Float32Array].slice(0, 6), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...out.n!.data as Float32Array], [0, 1]);
});

test('dropout: seeded, identity at inference, inverted scaling in training', async () => {
  const x = g.input('x', 'float32', [1000]);
  const build = async () => compile({ y: g.dropout(x, 0.3, 42, true) }, { params: 'initializers' }, { threads: 1 });
  const ones = hostTensor('float32', [1000], new Array(1000).fill(1));
  const y1 = (await (await build()).run({ x: ones })).y!.data as Float32Array;
  const kept = y1.filter((v) => v !== 0);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.7) < 1e-6));
  assert.ok(Math.abs(kept.length / 1000 - 0.7) < 0.06, `kept ${kept.length}`);
  assert.strictEqual(g.dropout(x, 0.3, 42, false), x);
});

test('export: a GPT model as .onnx + external data runs in plain onnxruntime with the same outputs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-export-'));
  try {
    const store = new ParamStore(3);
    const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
    const { logits } = gpt2(new Scope(store), { vocabSize: 30, hiddenSize: 16, numLayers: 2, numHeads: 2, maxPosition: 16 }, { ids });
    const path = join(dir, 'model.onnx');
    const files = exportOnnx({ logits }, (n) => store.get(n), path);
    assert.ok(existsSync(files.dataPath!));
    const feed = hostTensor('int64', [1, 4], [1, 2, 3, 4]);
    const ours = (await (await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) })).run({ input_ids: feed })).logits!;
    const session = await ort.InferenceSession.create(path);
    const theirs = (await session.run({ input_ids: new ort.Tensor('int64', feed.data as BigInt64Array, [1, 4]) })).logits!;
    assert.deepEqual(theirs.dims, [1, 4, 30]);
    const a = ours.data as Float32Array, b = theirs.data as Float32Array;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sessions over the external-data threshold load their weights from a memory-mapped file, same outputs', async () => {
  const store = new ParamStore(4);
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const { logits } = gpt2(new Scope(store), { vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 2, maxPosition: 8 }, { ids });
  const feed = { input_ids: hostTensor('int64', [1, 3], [4, 5, 6]) };
  const inline = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const external = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) }, { externalDataThreshold: 1000 });
  assert.notEqual(inline.signature, external.signature);
  const a = (await inline.run(feed)).logits!.data as Float32Array;
  const b = (await external.run(feed)).logits!.data as Float32Array;
  assert.deepEqual([...a], [...b]);
  await external.release();
});

const hasOnnx = spawnSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0;
test('exported models pass onnx.checker (full check)', { skip: hasOnnx ? false : 'python3-onnx is not installed (a development-only oracle)' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-checker-'));
  try {
    const store = new ParamStore(5);
    const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
    const out = gpt2(new Scope(store), { vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 2, maxPosition: 8 }, { ids });
    const loss = g.crossEntropy(out.logits, g.input('labels', 'int64', ['batch', 'seq']));
    const path = join(dir, 'model.onnx');
    exportOnnx({ logits: out.logits, loss }, (n) => store.get(n), path);
    const r = spawnSync('/usr/bin/python3', ['-c', `import onnx; onnx.checker.check_model(${JSON.stringify(path)}, full_check=True); print("ok")`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ORT telemetry is off by default: no /tmp/mat-debug-<pid>.log, and a user\'s own choice is kept', () => {
  const child = (env: Record<string, string>) => {
    const code = `import * as g from ${JSON.stringify(join(process.cwd(), 'src/graph/index.ts'))};
import { compile, hostTensor } from ${JSON.stringify(join(process.cwd(), 'src/runtime/session.ts'))};
const exe = await compile({ y: g.mul(g.input('x', 'float32', [2]), g.scalar(2)) }, { params: 'initializers' });
const out = await exe.run({ x: hostTensor('float32', [2], [1, 2]) });
console.log(JSON.stringify({ pid: process.pid, y: [...out.y.data], setting: process.env.ORT_DISABLE_TELEMETRY ?? null }));`;
    const { ORT_DISABLE_TELEMETRY: _, ...rest } = process.env;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...rest, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { pid: number; y: number[]; setting: string | null };
  };
  const traceFile = (pid: number) => [join('/tmp', `mat-debug-${pid}.log`), join(tmpdir(), `mat-debug-${pid}.log`)].find(existsSync);
  const off = child({});
  assert.deepEqual(off.y, [2, 4]);
  assert.equal(off.setting, '1');
  assert.equal(traceFile(off.pid), undefined, 'the telemetry client left its trace file');
  const chosen = child({ ORT_DISABLE_TELEMETRY: '0' });
  assert.equal(chosen.setting, '0');
  const left = traceFile(chosen.pid);
  if (left) rmSync(left); // ORT's own file, created because the user asked for telemetry
});
