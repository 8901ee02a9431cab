// Trainer.state()/save()/restore(): a run that stops, is saved and resumes in a new process ends
// with the same weights, slots and loss curve as one that never stopped, bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainingError } from '../../src/training/errors.ts';
import { buildModel } from '../../src/models/index.ts';
import { batchAt, fingerprint, fullTrainer, tinyBert } from './helpers.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'bert4ts-resume-'));

test('resume in a new process: 17 micro-batches straight = 9 + save + restore + 8, bit for bit (AdamW, schedule, accumulation, EMA, layer-wise rates)', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const N = 17, HALF = 9; // odd: the save falls inside an accumulation (accumulate 2)
  const straight = await fullTrainer(tinyBert());
  const losses: number[] = [];
  for (let i = 0; i < N; i++) losses.push((await straight.trainStep(batchAt(i))).loss);

  const first = await fullTrainer(tinyBert());
  for (let i = 0; i < HALF; i++) await first.trainStep(batchAt(i));
  first.save(dir);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/training/resume-child.ts', dir, String(HALF), String(N)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const child = JSON.parse(r.stdout) as { step: number; losses: number[] };
  assert.deepEqual(child.losses, losses.slice(HALF), 'the loss curve continues exactly');

  const resumed = await fullTrainer(tinyBert(7));
  resumed.restore(dir);
  assert.equal(resumed.step, straight.step);
  assert.equal(child.step, straight.step);
  const a = fingerprint(resumed), b = fingerprint(straight);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, bytes] of b) assert.ok(a.get(name)!.equals(bytes), `${name} differs after the resume`);
  assert.ok([...a.keys()].some((n) => n.startsWith('ema/')) && [...a.keys()].some((n) => n.startsWith('opt/acc/')));
});

test('fit with saveTo resumes with its best-so-far: 4 + 4 updates equal 8, best weights and patience counter included', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const from = function* (i: number) { for (;; i++) yield batchAt(i); };
  const options = { evalEvery: 2, dev: [batchAt(100)], restoreBest: true, patience: 10, progress: false as const };
  const straight = await fullTrainer(tinyBert(), { accumulate: 1 });
  const full = await straight.fit({ batches: from(0), steps: 8, ...options });

  const first = await fullTrainer(tinyBert(), { accumulate: 1 });
  await first.fit({ batches: from(0), steps: 4, saveTo: dir, checkpointEvery: 2, ...options });
  const second = await fullTrainer(tinyBert(5), { accumulate: 1 });
  second.restore(dir);
  const rest = await second.fit({ batches: from(second.step), steps: 4, ...options });
  assert.deepEqual(rest.best, full.best);
  assert.deepEqual(full.evals.slice(2), rest.evals);
  const a = fingerprint(second), b = fingerprint(straight);
  for (const [name, bytes] of b) assert.ok(a.get(name)!.equals(bytes), `${name} differs`);
  // One complete state in the directory: the index and the files it names, nothing left over.
  writeFileSync(join(dir, 'weights-final.safetensors'), 'a file of the user\'s, not ours');
  first.save(dir);
  assert.ok(existsSync(join(dir, 'weights-final.safetensors')), 'save removes only its own files');
  rmSync(join(dir, 'weights-final.safetensors'));
  const index = JSON.parse(readFileSync(join(dir, 'trainer.json'), 'utf8'));
  assert.equal(index.step, 4);
  assert.deepEqual(readdirSync(dir).sort(), ['trainer.json', ...Object.values(index.files as Record<string, string>)].sort());
});

test('restore refuses a state from another setup, before touching any weight', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const saved = await fullTrainer(tinyBert());
  await saved.trainStep(batchAt(0));
  saved.save(dir);

  const noEma = await fullTrainer(tinyBert(), { ema: undefined });
  assert.throws(() => noEma.restore(dir), (e: Error) => e instanceof TrainingError && e.option === 'ema' && /saved run has ema 0.9, this trainer null/.test(e.message));
  const otherSeed = await fullTrainer(tinyBert(), { seed: 4 });
  assert.throws(() => otherSeed.restore(dir), /seed: the saved run has seed 0, this trainer 4/);

  const wider = buildModel({ model_type: 'bert', vocab_size: 40, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 16 }, { application: 'mlm', dropoutRate: 0 });
  const other = await fullTrainer(wider, { lrMultiplier: undefined });
  const before = fingerprint(other);
  assert.throws(() => other.restore(dir), /restore: the saved weights do not match this trainer's; missing: encoder\/layer_2\//);
  const after = fingerprint(other);
  for (const [name, bytes] of before) assert.ok(after.get(name)!.equals(bytes), `${name} was changed by a refused restore`);

  assert.throws(() => other.restore(join(dir, 'nowhere')), /restore: .*nowhere\/trainer.json: cannot read a saved trainer state \(ENOENT\)/);
  assert.ok(!existsSync(join(dir, 'nowhere')));
});
