// `bert4ts export --triton`: the repository layout Triton expects, a config whose tensors match the
// ONNX model's, and an ONNX model that plain onnxruntime runs to the library's outputs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { buildModel } from '../../src/models/build.ts';

const REF = 'test/fixtures/reference/bert-encoder';
const root = mkdtempSync(join(tmpdir(), 'bert4ts-triton-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The tensors of a config.pbtxt `input [...]` / `output [...]` block: name, data_type, dims. */
function tensors(pbtxt: string, field: 'input' | 'output') {
  const block = new RegExp(`^${field} \\[\\n([\\s\\S]*?)\\n\\]`, 'm').exec(pbtxt)![1]!;
  return [...block.matchAll(/name: "([^"]+)"\s+data_type: (\w+)\s+dims: \[ ([-\d, ]+) \]/g)].map((m) => ({ name: m[1]!, type: m[2]!, dims: m[3]!.split(', ').map(Number) }));
}

test('export --triton: config.pbtxt + 1/model.onnx; plain ORT reproduces the classifier; the config matches the model', async () => {
  const dir = join(root, 'sentiment');
  buildModel(REF, { checkpoint: REF, numClasses: 3, labels: ['neg', 'neu', 'pos'], seed: 3 }).save(dir);
  const out = join(root, 'repo');
  const r = spawnSync(process.execPath, ['bin/bert4ts.js', 'export', '--model', dir, '--triton', out, '--max-batch', '8'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = JSON.parse(r.stdout);
  assert.equal(files.config, join(out, 'sentiment', 'config.pbtxt'));
  assert.equal(files.onnx, join(out, 'sentiment', '1', 'model.onnx'));
  assert.equal(readFileSync(join(out, 'sentiment', 'labels.txt'), 'utf8'), 'neg\nneu\npos\n');

  const pbtxt = readFileSync(files.config, 'utf8');
  assert.match(pbtxt, /^name: "sentiment"$/m, 'the name is the directory name');
  assert.match(pbtxt, /^platform: "onnxruntime_onnx"$/m);
  assert.match(pbtxt, /^max_batch_size: 8$/m);
  assert.match(pbtxt, /dynamic_batching \{\n {2}preferred_batch_size: \[ 4, 8 \]\n {2}max_queue_delay_microseconds: 5000\n\}/);
  assert.match(pbtxt, /instance_group \[\n {2}\{\n {4}count: 1\n {4}kind: KIND_CPU\n {2}\}\n\]/);

  const session = await ort.InferenceSession.create(files.onnx);
  const inputs = tensors(pbtxt, 'input'), outputs = tensors(pbtxt, 'output');
  assert.deepEqual(inputs.map((t) => t.name).sort(), [...session.inputNames].sort());
  assert.deepEqual(outputs.map((t) => t.name).sort(), [...session.outputNames].sort());
  assert.ok(inputs.every((t) => t.type === 'TYPE_INT64' && t.dims.join() === '-1'));

  const ids = [[2, 7, 9, 11, 3], [2, 5, 6, 3, 0]], mask = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]];
  const feed = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
  const got = await session.run({ input_ids: feed(ids), attention_mask: feed(mask), token_type_ids: feed(ids.map((r) => r.map(() => 0))) });
  for (const t of outputs) {
    const dims = got[t.name]!.dims.slice(1);
    assert.equal(dims.length, t.dims.length, t.name);
    t.dims.forEach((d, i) => assert.ok(d === -1 || d === dims[i], `${t.name} dim ${i}: config ${d}, model ${dims[i]}`));
  }
  assert.deepEqual(outputs.find((t) => t.name === 'logits')!.dims, [3]);
  const model = buildModel(dir);
  const want = (await model.predict({ input_ids: ids, attention_mask: mask })).logits!.data as Float32Array;
  const have = got.logits!.data as Float32Array;
  want.forEach((v, i) => assert.ok(Math.abs(v - have[i]!) < 1e-5, `logit ${i}: ${v} vs ${have[i]}`));
});

test('export: usage errors exit 2 and write nothing', () => {
  const out = join(root, 'none');
  for (const args of [['--triton', out], ['--model', REF], ['--model', REF, '--onnx', 'x.onnx', '--triton', out], ['--model', REF, '--triton', out, '--max-batch', '0'], ['--model', REF, '--triton', out, '--name', '../evil']]) {
    const r = spawnSync(process.execPath, ['bin/bert4ts.js', 'export', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  assert.ok(!existsSync(out));
});
