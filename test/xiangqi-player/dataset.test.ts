// Corpus reading, the split by game id, batches and the length curriculum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchSampler, gameSequence, packBatch, positionSequence, positionWindowMoves, readCorpus, splitOf } from '../../src/xiangqi/player/dataset.ts';
import { Position } from '../../src/xiangqi/board.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';
import { windowSchedule } from '../../src/xiangqi/player/train.ts';
import { ABSENT, BLACK_TO_MOVE, boardTokens, EMPTY_POINT, charId, gameTokens, iccsTokens, positionTokens, RED_TO_MOVE, RED_WINS, DRAW, UNKNOWN_RESULT, resultToken, VOCAB } from '../../src/xiangqi/player/vocab.ts';

test('vocabulary: [PAD], the 19 ICCS characters, then result tokens', () => {
  assert.equal(VOCAB[0], '[PAD]');
  assert.equal(VOCAB.slice(1, 20).join(''), '0123456789abcdefghi');
  assert.deepEqual(iccsTokens('h2e2'), [18, 3, 15, 3]);
  assert.deepEqual(gameTokens(['h2e2'], RED_WINS), [RED_WINS, 18, 3, 15, 3]);
  assert.equal(resultToken('1/2-1/2'), DRAW);
  assert.equal(resultToken('*'), UNKNOWN_RESULT);
  assert.throws(() => iccsTokens('h2e'), /not an ICCS move/);
  assert.throws(() => iccsTokens('z2e2'), /not an ICCS move/);
});

test('the split depends only on the game id, about 90/5/5', () => {
  const counts = { train: 0, validation: 0, test: 0 };
  for (let i = 0; i < 4000; i++) counts[splitOf(`game-${i}`)]++;
  assert.equal(splitOf('a4ed7dedbfe962a2'), splitOf('a4ed7dedbfe962a2'));
  assert.ok(counts.train > 3400 && counts.train < 3800, JSON.stringify(counts));
  assert.ok(counts.validation > 120 && counts.test > 120, JSON.stringify(counts));
});

test('readCorpus keeps games from the standard start and names a bad line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-'));
  const file = join(dir, 'games.jsonl');
  writeFileSync(file, [
    JSON.stringify({ id: 'g1', iccs: 'h2e2 h9g7', result: '1-0', fen: 'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1' }),
    JSON.stringify({ id: 'g2', iccs: 'e2e3', result: '0-1', fen: '4kab2/4a4/2R1b1P2/9/p3p4/5p3/P3P1c2/N2Cr4/4A4/3AK4 b - - 0 1' }),
    JSON.stringify({ id: 'g3', iccs: 'b2e2', result: '*' }),
    '',
  ].join('\n'));
  const { games, skipped } = readCorpus(file);
  const all = [...games.train, ...games.validation, ...games.test];
  assert.deepEqual(all.map((g) => g.id).sort(), ['g1', 'g3']);
  assert.equal(skipped, 1);
  assert.deepEqual(all.find((g) => g.id === 'g1')!.moves, ['h2e2', 'h9g7']);
  writeFileSync(file, '{"id": "x", "iccs": "h2e2"}\nnot json\n');
  assert.throws(() => readCorpus(file), /games.jsonl:2: not a JSON object/);
  assert.throws(() => readCorpus(join(dir, 'missing.jsonl')), /cannot read the corpus/);
  writeFileSync(file, '{"id": "x", "iccs": "h2e2 h9g7", "learn": "1"}\n');
  assert.throws(() => readCorpus(file), /games.jsonl:1: "learn" must be a string of 0s and 1s, one per move \(2\)/);
  writeFileSync(file, '{"id": "x", "iccs": "h2e2 h9g7", "learn": "01"}\n');
  assert.equal(Object.values(readCorpus(file).games).flat()[0]!.learn, '01');
});

test('batches: inputs are tokens[:-1], labels tokens[1:], padding and prompt ignored', () => {
  const b = packBatch([{ tokens: [RED_WINS, 1, 2, 3, 4], prompt: 1 }, { tokens: [DRAW, 9, 5, 6], prompt: 2 }]);
  assert.deepEqual(b.ids.shape, [2, 4]);
  assert.deepEqual(Array.from(b.ids.data as BigInt64Array, Number), [RED_WINS, 1, 2, 3, DRAW, 9, 5, 0]);
  assert.deepEqual(Array.from(b.labels.data as BigInt64Array, Number), [1, 2, 3, 4, -100, 5, 6, -100]);
  assert.equal(b.tokens, 6);
  const g = { id: 'x', moves: ['h2e2', 'h9g7', 'h0g2'], result: '1-0' };
  assert.equal(gameSequence(g, 5).tokens.length, 6);
  assert.equal(gameSequence(g, 5, true).tokens[0], UNKNOWN_RESULT);
});

test('the position prefix: side to move, then every piece\'s square in a fixed slot order', () => {
  const start = positionTokens(Position.start());
  assert.equal(start.length, 65);
  const sq = (s: string) => [charId(s[0]!), charId(s[1]!)];
  // red: king e0, advisors d0 f0, elephants c0 g0, horses b0 h0, rooks a0 i0, cannons b2 h2, pawns a3 c3 e3 g3 i3
  const red = ['e0', 'd0', 'f0', 'c0', 'g0', 'b0', 'h0', 'a0', 'i0', 'b2', 'h2', 'a3', 'c3', 'e3', 'g3', 'i3'];
  const black = red.map((s) => s[0] + String(9 - Number(s[1])));
  assert.deepEqual(start, [RED_TO_MOVE, ...red.flatMap(sq), ...black.flatMap(sq)]);
  const pos = Position.start();
  for (const m of ['h2e2', 'h9g7', 'e2e6']) pos.play(parseIccs(pos, m)); // the cannon takes the centre pawn
  const after = positionTokens(pos);
  assert.equal(after[0], BLACK_TO_MOVE);
  assert.deepEqual(after.slice(1 + 2 * 9, 1 + 2 * 11), [...sq('b2'), ...sq('e6')], 'red cannons, sorted by square');
  assert.deepEqual(after.slice(1 + 32 + 2 * 5, 1 + 32 + 2 * 7), [...sq('b9'), ...sq('g7')], 'black horses');
  assert.deepEqual(after.slice(1 + 32 + 2 * 15), [ABSENT, ABSENT], 'black\'s fifth pawn slot is empty');
  assert.deepEqual(after.slice(1 + 32 + 2 * 11, 1 + 32 + 2 * 15), [...sq('a6'), ...sq('c6'), ...sq('g6'), ...sq('i6')]);
});

test('the board prefix: side to move, then the 90 points in FEN order', () => {
  const letters = (tokens: number[]) => tokens.slice(1).map((t) => VOCAB[t]!.replace('[.]', '.')).join('');
  const start = boardTokens(Position.start());
  assert.equal(start.length, 91);
  assert.equal(start[0], RED_TO_MOVE);
  // rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR
  assert.equal(letters(start), 'rnbakabnr' + '.'.repeat(9) + '.c.....c.' + 'p.p.p.p.p' + '.'.repeat(18) + 'P.P.P.P.P' + '.C.....C.' + '.'.repeat(9) + 'RNBAKABNR');
  const pos = Position.start();
  for (const m of ['h2e2', 'h9g7', 'e2e6']) pos.play(parseIccs(pos, m)); // the cannon takes the centre pawn
  const after = boardTokens(pos);
  assert.equal(after[0], BLACK_TO_MOVE);
  assert.equal(VOCAB[after[1 + 3 * 9 + 4]!], 'C', 'e6 (rank 6 is the 4th row from the top) holds the red cannon');
  assert.equal(after[1 + 7 * 9 + 7], EMPTY_POINT, 'h2 is empty');
  assert.equal(VOCAB[after[1 + 2 * 9 + 6]!], 'n', 'the black horse on g7');
});

test('position sequences start from the board after `from` plies and predict only the moves', () => {
  const g = { id: 'x', moves: ['h2e2', 'h9g7', 'h0g2', 'i9h9', 'i0h0'], result: '0-1' };
  const s = positionSequence('position', g, 2, 2);
  const pos = Position.start();
  for (const m of g.moves.slice(0, 2)) pos.play(parseIccs(pos, m));
  assert.deepEqual(s.tokens, [resultToken('0-1'), ...positionTokens(pos), ...iccsTokens('h0g2'), ...iccsTokens('i9h9')]);
  assert.equal(s.prompt, 66);
  assert.equal(positionSequence('position', g, 4, 10, true).tokens.length, 66 + 4);
  assert.equal(positionSequence('position', g, 4, 10, true).tokens[0], UNKNOWN_RESULT);
  assert.equal(positionWindowMoves('position', 321), 64);
  const b = positionSequence('board', g, 2, 2);
  assert.deepEqual(b.tokens, [resultToken('0-1'), ...boardTokens(pos), ...iccsTokens('h0g2'), ...iccsTokens('i9h9')]);
  assert.equal(b.prompt, 92);
  assert.equal(positionWindowMoves('board', 347), 64);
});

test('the sampler is a pure function of the step and keeps the token budget', () => {
  const pool = ['h2e2', 'h9g7', 'b0c2', 'b9c7', 'i0h0', 'c6c5', 'g3g4'];
  const games = Array.from({ length: 200 }, (_, i) => ({ id: `g${i}`, moves: Array.from({ length: 10 + (i % 50) }, (_, j) => pool[(i * 3 + j) % pool.length]!), result: '1-0' }));
  const options = { format: 'moves' as const, tokensPerBatch: 512, windowAt: (s: number) => (s < 5 ? 32 : 128), hideResultRate: 0.1, seed: 3 };
  const a = new BatchSampler(games, options), b = new BatchSampler([...games].reverse(), options);
  assert.deepEqual(a.batchAt(7).ids.data, b.batchAt(7).ids.data);
  assert.notDeepEqual(a.batchAt(7).ids.data, a.batchAt(8).ids.data);
  assert.equal(a.batchAt(1).ids.shape[1], 32);
  for (const step of [1, 9, 20]) assert.ok(a.batchAt(step).ids.data.length <= 512, 'no more than the budget (padding included)');

  const real = Array.from({ length: 50 }, (_, i) => ({ id: `r${i}`, moves: ['h2e2', 'h9g7', 'h0g2', 'i9h9', 'i0h0', 'b9c7', 'b0c2', 'c6c5'].slice(0, 2 + (i % 7)), result: '1-0' }));
  const p = { ...options, format: 'position' as const, tokensPerBatch: 4 * 82, windowAt: () => 4 };
  const c = new BatchSampler(real, p), d = new BatchSampler([...real].reverse(), p);
  assert.deepEqual(c.batchAt(3).ids.data, d.batchAt(3).ids.data);
  const batch = c.batchAt(3);
  assert.equal(batch.ids.shape[0], 4, 'as many windows as fit the budget at full length');
  assert.ok(batch.ids.shape[1]! <= 81 && batch.ids.shape[1]! >= 66);
  const labels = batch.labels.data as BigInt64Array;
  for (let b = 0; b < 4; b++) for (let t = 0; t < 65; t++) assert.equal(labels[b * batch.ids.shape[1]! + t], -100n, 'the prompt is not predicted');

  const board = new BatchSampler(real, { ...p, format: 'board', tokensPerBatch: 3 * 108 }).batchAt(3);
  assert.equal(board.ids.shape[0], 3, 'board windows are 91 + 1 + 16 tokens: 3 fit');
  assert.ok(board.ids.shape[1]! <= 107 && board.ids.shape[1]! >= 92);
  const boardLabels = board.labels.data as BigInt64Array;
  for (let b = 0; b < 3; b++) {
    for (let t = 0; t < 91; t++) assert.equal(boardLabels[b * board.ids.shape[1]! + t], -100n, 'the board prompt is not predicted');
    assert.notEqual(boardLabels[b * board.ids.shape[1]! + 91], -100n, 'the first move character is');
  }
});

test('the curriculum grows the window to the model\'s length', () => {
  const w = windowSchedule(100, 512);
  assert.deepEqual([0, 14, 15, 34, 35, 99, 150].map(w), [128, 128, 256, 256, 511, 511, 511]);
});
