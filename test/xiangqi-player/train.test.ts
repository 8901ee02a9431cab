// Training end to end on a small corpus of random legal games: loss falls, checkpoints are written,
// and a run stopped half way and resumed ends with the same weights as one uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { moveToIccs } from '../../src/xiangqi/board.ts';
import { playGame, randomMover } from '../../src/xiangqi/player/match.ts';
import { loadPlayerModel, savePlayerModel } from '../../src/xiangqi/player/model.ts';
import { trainPlayer, type TrainOptions } from '../../src/xiangqi/player/train.ts';
import { writeSyntheticCorpus } from '../../src/xiangqi/player/synthetic.ts';
import { Player } from '../../src/xiangqi/player/player.ts';
import { TINY, tinyModelFile } from './fixtures.ts';

async function writeCorpus(dir: string): Promise<string> {
  const lines: string[] = [];
  for (let i = 0; i < 80; i++) {
    const g = await playGame(randomMover(2 * i + 1), randomMover(2 * i + 2), { maxPlies: 24 });
    lines.push(JSON.stringify({ id: `random-${i}`, iccs: g.moves.map(moveToIccs).join(' '), result: g.result }));
  }
  const file = join(dir, 'games.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

test('the moves format (the post\'s: whole games from the start) and the board format train too and load as such', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-train-'));
  const corpus = await writeCorpus(dir);
  for (const [format, vocabSize] of [['moves', 24], ['board', 42]] as const) {
    const run = await trainPlayer({
      corpus, out: join(dir, format), steps: 4, tokensPerBatch: format === 'board' ? 512 : 256, learningRate: 3e-3, warmup: 1, evalEvery: 2, checkpointEvery: 4,
      evalGames: 4, resume: false, seed: 5, config: { ...TINY, maxPosition: 160 }, format, quiet: true,
    });
    assert.ok(run.evals[1]!.val_loss! < run.evals[0]!.val_loss!, `${format}: validation loss falls`);
    const model = loadPlayerModel(join(dir, format));
    assert.equal(model.format, format);
    assert.equal(model.config.vocabSize, vocabSize);
  }
});

test('train writes a loadable model and log; stop + --resume reproduces an uninterrupted run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-train-'));
  const corpus = await writeCorpus(dir);
  const base: TrainOptions = {
    corpus, out: '', steps: 8, tokensPerBatch: 256, learningRate: 3e-3, warmup: 2, evalEvery: 4, checkpointEvery: 4,
    evalGames: 4, resume: false, seed: 5, config: TINY, format: 'position', quiet: true,
  };
  const straight = await trainPlayer({ ...base, out: join(dir, 'straight') });
  assert.equal(straight.step, 8);
  assert.equal(straight.evals.length, 2);
  const [first, last] = straight.evals;
  assert.ok(last!.val_loss! < first!.val_loss!, `validation loss fell: ${first!.val_loss} -> ${last!.val_loss}`);
  const log = readFileSync(join(dir, 'straight', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(log.map((r) => r.step), [4, 8]);
  const offGrid = await trainPlayer({ ...base, out: join(dir, 'off-grid'), steps: 6 });
  assert.deepEqual(offGrid.evals.map((e) => e.step), [4, 6], 'the end of the schedule is evaluated even off the --eval-every grid');

  const half = await trainPlayer({ ...base, out: join(dir, 'resumed'), stopAt: 4 });
  assert.equal(half.step, 4);
  assert.ok(existsSync(join(dir, 'resumed', 'checkpoint.safetensors')));
  const resumed = await trainPlayer({ ...base, out: join(dir, 'resumed'), resume: true });
  assert.equal(resumed.step, 8);

  const a = loadPlayerModel(join(dir, 'straight')), b = loadPlayerModel(join(dir, 'resumed'));
  assert.equal(a.metadata.step, '8');
  assert.deepEqual(a.config, TINY);
  let maxDiff = 0;
  for (const name of a.store.names()) {
    const x = a.store.get(name)!.data as Float32Array, y = b.store.get(name)!.data as Float32Array;
    for (let i = 0; i < x.length; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i]! - y[i]!));
  }
  assert.ok(maxDiff < 1e-5, `resumed weights differ by ${maxDiff}`);
  await assert.rejects(trainPlayer({ ...base, out: join(dir, 'resumed'), resume: true }), /already at --steps 8/);
  await assert.rejects(trainPlayer({ ...base, out: join(dir, 'nothing-here'), resume: true }), /no checkpoint.safetensors/);
});

test('--init fine-tunes a model on a new schedule, with synthetic records mixed into each batch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-train-'));
  const corpus = await writeCorpus(dir);
  const records = join(dir, 'records.jsonl');
  await writeSyntheticCorpus(records, { games: 8, seed: 3, quiet: true });
  const init = tinyModelFile(4);
  const run = await trainPlayer({
    corpus, out: join(dir, 'tuned'), steps: 3, tokensPerBatch: 512, learningRate: 1e-5, warmup: 1, evalEvery: 3, checkpointEvery: 3,
    evalGames: 4, resume: false, seed: 5, format: 'board', quiet: true, init, mix: { corpus: records, share: 0.5 },
  });
  assert.equal(run.step, 3);
  const before = loadPlayerModel(init), after = loadPlayerModel(join(dir, 'tuned'));
  assert.equal(after.format, 'position', 'the format and network come from the --init model');
  assert.deepEqual(after.config, before.config);
  const train = JSON.parse(after.metadata.train!);
  assert.equal(train.init, init);
  assert.deepEqual(train.mix, { corpus: records, share: 0.5 });
  // A tiny learning rate: the weights moved from the --init model's, not from fresh ones.
  let moved = 0, maxDiff = 0;
  for (const name of before.store.names()) {
    const x = before.store.get(name)!.data as Float32Array, y = after.store.get(name)!.data as Float32Array;
    for (let i = 0; i < x.length; i++) { const d = Math.abs(x[i]! - y[i]!); maxDiff = Math.max(maxDiff, d); moved += d > 0 ? 1 : 0; }
  }
  assert.ok(moved > 0 && maxDiff < 1e-3, `moved ${moved} weights, by at most ${maxDiff}`);
  // Resuming a fine-tune keeps its origin, and must name its records again.
  const resume: TrainOptions = { corpus, out: join(dir, 'tuned'), steps: 4, tokensPerBatch: 512, learningRate: 1e-5, warmup: 1, evalEvery: 4, checkpointEvery: 4, evalGames: 4, resume: true, seed: 5, format: 'position', quiet: true };
  await assert.rejects(trainPlayer(resume), /was trained with --mix .*records\.jsonl --mix-share 0\.5: pass --mix again/);
  await trainPlayer({ ...resume, mix: { corpus: records, share: 0.5 } });
  assert.equal(JSON.parse(loadPlayerModel(join(dir, 'tuned')).metadata.train!).init, init);
  await assert.rejects(trainPlayer({ corpus, out: join(dir, 'bad'), steps: 2, tokensPerBatch: 512, learningRate: 1e-3, warmup: 1, evalEvery: 2, checkpointEvery: 2, evalGames: 2, resume: false, seed: 5, format: 'position', quiet: true, init, mix: { corpus: records, share: 1 } }), /share must be in \[0, 1\)/);
});

test('--history trains each move with at most that many plies after the board; the player takes it as its default', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-train-'));
  const corpus = await writeCorpus(dir);
  const init = tinyModelFile(6);
  const base: TrainOptions = { corpus, out: join(dir, 'short'), steps: 2, tokensPerBatch: 512, learningRate: 1e-4, warmup: 1, evalEvery: 2, checkpointEvery: 2, evalGames: 4, resume: false, seed: 5, format: 'position', quiet: true };
  await trainPlayer({ ...base, init, history: 3 });
  const tuned = loadPlayerModel(join(dir, 'short'));
  assert.equal(tuned.metadata.history, '3');
  assert.equal(JSON.parse(tuned.metadata.train!).history, 3);
  const player = await Player.create(tuned);
  assert.equal(player.historyPlies, 3, 'the player shows the history it trained with');
  assert.equal((await Player.create(loadPlayerModel(init))).historyPlies, Player.maxHistory(tuned), 'a model without the limit gets the most its positions hold');
  await assert.rejects(trainPlayer({ ...base, steps: 3, resume: true }), /was trained with --history 3: resume it the same way/);
  await trainPlayer({ ...base, steps: 3, resume: true, history: 3 });
  const most = Player.maxHistory(tuned);
  await assert.rejects(trainPlayer({ ...base, out: join(dir, 'bad'), init, history: most + 1 }), new RegExp(`history must be an integer from 0 to ${most}`));
  await assert.rejects(trainPlayer({ ...base, out: join(dir, 'bad2'), format: 'moves', history: 2 }), /needs the position or board format/);
  // A hand-edited history in the metadata is refused at load, naming the file, not clamped.
  for (const bad of ['abc', '-1', '2.5', ' ', String(most + 1)]) {
    const file = join(dir, `bad-history-${bad.trim() || 'blank'}.safetensors`);
    savePlayerModel(file, tuned, { metadata: { ...tuned.metadata, history: bad } });
    assert.throws(() => loadPlayerModel(file), new RegExp(`bad-history-.*safetensors: the "history" metadata must be an integer from 0 to ${most}, got "${bad.replace('.', '\\.')}"`));
  }
});
