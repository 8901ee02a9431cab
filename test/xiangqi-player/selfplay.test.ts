// Self-play records for the board value: legal games from the start, results that match the board,
// the same game for the same seed, random opening plies not marked as targets, and a writer that
// leaves a good file alone when it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Position } from '../../src/xiangqi/board.ts';
import { moveFromIccs } from '../../src/xiangqi/player/vocab.ts';
import { readCorpus } from '../../src/xiangqi/player/dataset.ts';
import { learnerGames, selfPlayGame, writeSelfPlayRecords } from '../../src/xiangqi/player/selfplay.ts';
import { Player } from '../../src/xiangqi/player/player.ts';
import { BOARD_INPUTS, boardSamples } from '../../src/xiangqi/player/boardValue.ts';
import { Random } from '../../src/util/random.ts';
import { randomHead, tinyModel } from './fixtures.ts';
import type { ValueHead } from '../../src/xiangqi/player/value.ts';

const BIN = fileURLToPath(new URL('../../bin/bert4ts.js', import.meta.url));

/** sha256 of `selfplay --games 2 --seed 11 --depth 1 --max-plies 60` with the shipped value, written by the code of 6768860 (before the random opponent and the learner). */
const PINNED_SELF_PLAY = 'dc3833511ea1642e431fec2b0eea5dc3eea07e64f9b04d82d5d062cdf4a8e771';

/** A seeded random board value network (tanh 8). */
function boardHead(seed: number): ValueHead {
  const r = new Random(seed), n = BOARD_INPUTS, H = 8;
  return { inputSize: n, hiddenSize: H, mean: new Float32Array(n), scale: new Float32Array(n).fill(1), w1: Float32Array.from({ length: n * H }, () => r.normal() * 0.3), b1: new Float32Array(H), w2: Float32Array.from({ length: H * 3 }, () => r.normal()), b2: new Float32Array(3), metadata: { input: 'board' } };
}

test('self-play games: legal from the start, the result is the board\'s, the same game for the same seed and index', async () => {
  const value = boardHead(1);
  const games = await Promise.all([0, 1, 2, 3].map((i) => selfPlayGame(value, 5, i, { depth: 1, randomPlies: 4, maxPlies: 120 })));
  for (const g of games) {
    const moves = g.iccs.split(' ');
    const pos = Position.start();
    for (const m of moves) {
      const move = moveFromIccs(m);
      assert.ok(pos.isLegal(move), `${g.id}: ${m} is illegal at ply ${pos.ply}`);
      pos.make(move);
    }
    const outcome = pos.outcome();
    if (outcome) assert.deepEqual([g.result, g.ending], [outcome.result, outcome.reason], g.id);
    else assert.deepEqual([g.result, g.ending, moves.length], ['1/2-1/2', 'ply limit', 120], g.id);
    assert.equal(g.learn, '0'.repeat(Math.min(4, moves.length)) + '1'.repeat(Math.max(0, moves.length - 4)), 'the random opening plies are not targets, the search\'s moves are');
  }
  assert.deepEqual(await selfPlayGame(value, 5, 2, { depth: 1, randomPlies: 4, maxPlies: 120 }), games[2], 'replayable');
  assert.equal(new Set(games.map((g) => g.iccs)).size, 4, 'the games differ');
  await assert.rejects(selfPlayGame(randomHead(), 1, 0), /self-play needs a board value network/);
  await assert.rejects(selfPlayGame(value, 1, 0, { depth: 0 }), /self-play depth must be an integer from 1 to 8, got 0/);
});

test('self-play records: readable as a corpus and as board value samples; a failing run leaves the old file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-selfplay-'));
  const out = join(dir, 'records.jsonl');
  const t = await writeSelfPlayRecords(out, boardHead(2), { games: 3, seed: 1, depth: 1, maxPlies: 80, quiet: true });
  assert.equal(t.redWins + t.blackWins + t.draws, 3);
  const corpus = readCorpus(out);
  const all = Object.values(corpus.games).flat();
  assert.equal(all.length, 3);
  assert.equal(t.plies, all.reduce((s, g) => s + g.moves.length, 0));
  const decisive = all.filter((g) => g.result !== '1/2-1/2');
  assert.equal(boardSamples(all).y.length, all.reduce((s, g) => s + g.moves.length, 0), 'every position of every game is a value sample');
  assert.equal(decisive.length, t.redWins + t.blackWins);
  const good = readFileSync(out, 'utf8');
  await assert.rejects(writeSelfPlayRecords(out, boardHead(2), { games: 2, seed: 1, depth: 9, quiet: true }), /self-play depth/);
  assert.equal(readFileSync(out, 'utf8'), good, 'the earlier records are intact');
  const fresh = join(dir, 'fresh.jsonl');
  await assert.rejects(writeSelfPlayRecords(fresh, randomHead(), { games: 1, seed: 1, quiet: true }), /board value network/);
  assert.equal(existsSync(fresh), false, 'no partial file');
});

test('self-play against the random mover: only the search\'s moves are targets, it plays both colours, and with the shipped value it mates', async () => {
  const { loadValueHead } = await import('../../src/xiangqi/player/value.ts');
  const value = loadValueHead(join(import.meta.dirname, '../../models/xiangqi/value.safetensors'));
  const games = await Promise.all([0, 1, 2, 3].map((i) => selfPlayGame(value, 3, i, { depth: 2, opponent: 'random' })));
  for (const [i, g] of games.entries()) {
    const plies = g.iccs.split(' ').length;
    const searchIsRed = i % 2 === 0;
    assert.equal(g.learn, Array.from({ length: plies }, (_, p) => ((p % 2 === 0) === searchIsRed ? '1' : '0')).join(''), `${g.id}: the search's plies, and only those, are targets`);
    assert.equal(g.id, `sr-3-${i}`);
    assert.equal(g.ending, 'checkmate', `${g.id} ended by ${g.ending}`);
    assert.equal(g.result, searchIsRed ? '1-0' : '0-1', `${g.id}: the search wins`);
  }
  assert.deepEqual(await selfPlayGame(value, 3, 1, { depth: 2, opponent: 'random' }), games[1], 'replayable');
  await assert.rejects(selfPlayGame(value, 3, 0, { opponent: 'nobody' as never }), /self-play opponent must be one of self, random, got "nobody"/);
});

test('learner games (DAgger): the search labels the policy\'s decisions; disagreements become correction records', async () => {
  const { loadValueHead } = await import('../../src/xiangqi/player/value.ts');
  const value = loadValueHead(join(import.meta.dirname, '../../models/xiangqi/value.safetensors'));
  const learner = await Player.create(tinyModel(4));
  await assert.rejects(learnerGames(value, learner, 1, 0), /plain policy: mode policy, rule checks off/);
  learner.ruleChecks = false;
  await assert.rejects(learnerGames(value, learner, 1, 0, { expertShare: 2 }), /expert share must be from 0 to 1, got 2/);
  await assert.rejects(learnerGames(value, learner, 1, 0, { opponent: 'self' }), /a learner plays the random mover, not opponent "self"/);
  for (const expertShare of [0, 1]) {
    for (const index of [0, 1]) {
      const [game, ...corrections] = await learnerGames(value, learner, 7, index, { depth: 1, maxPlies: 40, expertShare });
      const played = game!.iccs.split(' ');
      const learnerPlies = played.map((_, p) => (p % 2 === 0) === (index % 2 === 0));
      const board = Position.start();
      for (const m of played) board.make(moveFromIccs(m));
      const outcome = board.outcome();
      assert.deepEqual([game!.result, game!.ending], outcome ? [outcome.result, outcome.reason] : ['1/2-1/2', 'ply limit'], 'the game\'s record keeps the board\'s result and ending');
      assert.ok([...game!.learn].every((l, p) => l === '0' || learnerPlies[p]), 'only the learner\'s plies are targets');
      if (expertShare === 1) {
        assert.equal(corrections.length, 0, 'the search\'s move is always played');
        assert.equal(game!.learn, learnerPlies.map((l) => (l ? '1' : '0')).join(''));
      } else {
        // Each of the learner's plies is either a target (it agreed with the search) or has a correction.
        assert.equal(game!.learn.split('').filter((l) => l === '1').length + corrections.length, learnerPlies.filter(Boolean).length);
        assert.ok(corrections.length > 0, 'random weights disagree with the search somewhere');
      }
      for (const c of corrections) {
        const moves = c.iccs.split(' ');
        const ply = moves.length - 1;
        assert.ok(learnerPlies[ply], `${c.id}: a correction is at one of the learner's plies`);
        assert.deepEqual(moves.slice(0, ply), played.slice(0, ply), `${c.id}: the game so far`);
        assert.notEqual(moves[ply], played[ply], `${c.id}: the search's move, which the learner did not play`);
        assert.equal(c.learn, '0'.repeat(ply) + '1');
        assert.deepEqual([c.result, c.ending, c.id], ['*', 'correction', `sl-7-${index}-${ply}`], 'an unfinished game: no result');
        const pos = Position.start();
        for (const m of moves) { assert.ok(pos.isLegal(moveFromIccs(m)), `${c.id}: ${m} legal`); pos.make(moveFromIccs(m)); }
      }
    }
  }
});

test('self-play records: the writer puts each learner game\'s corrections after it and counts them; self mode is pinned', async () => {
  const { loadValueHead } = await import('../../src/xiangqi/player/value.ts');
  const { createHash } = await import('node:crypto');
  const value = loadValueHead(join(import.meta.dirname, '../../models/xiangqi/value.safetensors'));
  const learner = await Player.create(tinyModel(4));
  learner.ruleChecks = false;
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-selfplay-'));
  const out = join(dir, 'learner.jsonl');
  const t = await writeSelfPlayRecords(out, value, { games: 2, seed: 7, depth: 1, maxPlies: 40, expertShare: 0, learner, quiet: true });
  const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; result: string; ending: string });
  const games = records.filter((r) => r.ending !== 'correction');
  assert.deepEqual(games.map((g) => g.id), ['sl-7-0', 'sl-7-1']);
  assert.equal(t.corrections, records.length - 2);
  assert.equal(t.redWins + t.blackWins + t.draws, 2);
  records.forEach((r, i) => { if (r.ending === 'correction') assert.ok(r.id.startsWith(records.slice(0, i).filter((g) => g.ending !== 'correction').at(-1)!.id + '-'), `${r.id} follows its game`); });
  // The board value's samples skip the corrections (no result): only the two games' positions.
  const all = Object.values(readCorpus(out).games).flat();
  assert.equal(boardSamples(all).y.length, all.filter((g) => g.result !== '*').reduce((n, g) => n + g.moves.length, 0));
  // Self mode's records, pinned: the same bytes as before the random opponent and the learner were added.
  const self = join(dir, 'self.jsonl');
  await writeSelfPlayRecords(self, value, { games: 2, seed: 11, depth: 1, maxPlies: 60, quiet: true });
  assert.equal(createHash('sha256').update(readFileSync(self)).digest('hex'), PINNED_SELF_PLAY);
});

test('self-play records: a run stopped by its signal keeps the games finished, and --resume plays the rest as one run would have', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-selfplay-'));
  const o = { seed: 3, depth: 1, maxPlies: 40, quiet: true } as const;
  const straight = join(dir, 'straight.jsonl'), resumed = join(dir, 'resumed.jsonl');
  await writeSelfPlayRecords(straight, boardHead(2), { ...o, games: 3 });
  const first = await writeSelfPlayRecords(resumed, boardHead(2), { ...o, games: 2 });
  assert.deepEqual([first.games, first.resumed, first.interrupted], [2, 0, false]);
  const stopped = new AbortController();
  stopped.abort();
  const none = await writeSelfPlayRecords(resumed, boardHead(2), { ...o, games: 3, resume: true, signal: stopped.signal });
  assert.deepEqual([none.games, none.resumed, none.interrupted], [2, 2, true], 'stopped before game 2: the file keeps games 0 and 1');
  const rest = await writeSelfPlayRecords(resumed, boardHead(2), { ...o, games: 3, resume: true });
  assert.deepEqual([rest.games, rest.resumed, rest.interrupted], [3, 2, false]);
  assert.equal(readFileSync(resumed, 'utf8'), readFileSync(straight, 'utf8'), 'the same games, byte for byte');
  const t = await writeSelfPlayRecords(join(dir, 'count.jsonl'), boardHead(2), { ...o, games: 3 });
  assert.deepEqual([rest.redWins, rest.blackWins, rest.draws, rest.plies], [t.redWins, t.blackWins, t.draws, t.plies], 'the tally counts the resumed games too');
  const good = readFileSync(resumed, 'utf8');
  await assert.rejects(writeSelfPlayRecords(resumed, boardHead(2), { ...o, seed: 4, games: 4, resume: true }), /resumed\.jsonl:1: record "sp-3-0" is not game 0 of this run \(ids sp-4-0/);
  await assert.rejects(writeSelfPlayRecords(resumed, boardHead(2), { ...o, opponent: 'random', games: 4, resume: true }), /record "sp-3-0" is not game 0 of this run \(ids sr-3-0/);
  await assert.rejects(writeSelfPlayRecords(resumed, boardHead(2), { ...o, games: 2, resume: true }), /already holds 3 games, more than --games 2/);
  writeFileSync(join(dir, 'noise.jsonl'), (() => { const r = new Random(4); return Buffer.from([...Array.from({ length: 64 }, () => Math.floor(r.next() * 256)), 10]); })());
  await assert.rejects(writeSelfPlayRecords(join(dir, 'noise.jsonl'), boardHead(2), { ...o, games: 4, resume: true }), /noise\.jsonl:1: not a JSON record/);
  writeFileSync(join(dir, 'huge.jsonl'), '');
  truncateSync(join(dir, 'huge.jsonl'), 300 * 1024 * 1024); // sparse: no disk used, never read
  await assert.rejects(writeSelfPlayRecords(join(dir, 'huge.jsonl'), boardHead(2), { ...o, games: 4, resume: true }), /huge\.jsonl: 314572800 bytes, more than the 268435456 a records file to resume may hold/);
  writeFileSync(join(dir, 'null.jsonl'), 'null\n');
  await assert.rejects(writeSelfPlayRecords(join(dir, 'null.jsonl'), boardHead(2), { ...o, games: 4, resume: true }), /null\.jsonl:1: not a JSON record/);
  writeFileSync(join(dir, 'cut.jsonl'), good.slice(0, -5));
  await assert.rejects(writeSelfPlayRecords(join(dir, 'cut.jsonl'), boardHead(2), { ...o, games: 4, resume: true }), /the last line is cut short/);
  assert.equal(readFileSync(resumed, 'utf8'), good, 'a refused resume leaves the file as it was');
});

test('bert4ts xiangqi selfplay: SIGINT ends the run between games with exit 130 and keeps them; --resume finishes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-selfplay-'));
  const out = join(dir, 'records.jsonl');
  const args = [BIN, 'xiangqi', 'selfplay', '--games', '1000', '--depth', '1', '--max-plies', '30', '--seed', '5', '--out', out];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  // Interrupt once the first games are done (the progress line shows them).
  await new Promise<void>((resolve) => { const poll = setInterval(() => { if (/\b[1-9]\d*\/1000\b/.test(stderr)) { clearInterval(poll); resolve(); } }, 50); });
  child.kill('SIGINT');
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(status, 130, stderr);
  const m = /interrupted after (\d+) of 1000 games: rerun the same command with --resume/.exec(stderr);
  assert.ok(m, stderr);
  const n = Number(m[1]);
  const kept = readFileSync(out, 'utf8');
  assert.equal(kept.split('\n').length - 1, n);
  const done = spawnSync(process.execPath, [...args.slice(0, 4), String(n + 2), ...args.slice(5), '--resume', '--quiet'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stdout, new RegExp(`wrote ${n + 2} games to .*records\\.jsonl \\(${n} of them already there\\)`));
  assert.ok(readFileSync(out, 'utf8').startsWith(kept));
});
