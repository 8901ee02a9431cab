// The value head, the searches, and the player's modes (policy, value, search, alphabeta).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Position, moveToIccs, type Move } from '../../src/xiangqi/board.ts';
import { boardCalibration, boardInputs, boardSamples, boardValueProbs, fitBoardValue } from '../../src/xiangqi/player/boardValue.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';
import { Player, playableMoves } from '../../src/xiangqi/player/player.ts';
import { eloEstimate, materialLead, OPENINGS } from '../../src/xiangqi/player/match.ts';
import { puct } from '../../src/xiangqi/player/search.ts';
import { alphaBeta, captureSearchValue } from '../../src/xiangqi/player/alphabeta.ts';
import { calibrate, calibration, expectedScore, FeatureExtractor, fitValueHead, loadFeatures, loadValueHead, saveFeatures, saveValueHead, sideToMoveWinRate, valueProbs, type Features } from '../../src/xiangqi/player/value.ts';
import { Random } from '../../src/util/random.ts';
import { savePlayerModel } from '../../src/xiangqi/player/model.ts';
import { positionSequence, winnerOnly, type CorpusGame } from '../../src/xiangqi/player/dataset.ts';
import { randomHead, tinyModel, TINY } from './fixtures.ts';

test('value head: fitted on features whose result follows one coordinate, it beats the base rate; saved and reloaded it predicts the same', () => {
  const r = new Random(5), size = 6, N = 3000;
  const f: Features = { size, x: new Float32Array(N * size), y: new Uint8Array(N), ply: new Uint16Array(N), game: new Uint32Array(N) };
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < size; j++) f.x[i * size + j] = r.normal();
    const t = f.x[i * size + 2]! + 0.3 * r.normal();
    f.y[i] = t > 0.5 ? 0 : t < -0.5 ? 2 : 1;
    f.ply[i] = i % 80;
    f.game[i] = Math.floor(i / 40);
  }
  const head = fitValueHead(f, { epochs: 30, lr: 1e-2 });
  const c = calibration(head, f, sideToMoveWinRate(f));
  assert.ok(c.brier < 0.7 * c.brierBaseRate, `Brier ${c.brier} vs base rate ${c.brierBaseRate}`);
  assert.ok(c.accuracy > 0.75, `accuracy ${c.accuracy}`);
  assert.equal(c.accuracyByPly.reduce((n, b) => n + b.positions, 0), N);
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-value-'));
  saveValueHead(join(dir, 'value.safetensors'), head);
  const again = loadValueHead(join(dir, 'value.safetensors'));
  const x = f.x.subarray(0, size);
  assert.deepEqual(valueProbs(again, x).map((p) => p.toFixed(6)), valueProbs(head, x).map((p) => p.toFixed(6)));
  saveFeatures(join(dir, 'f.bin'), f, { split: 'train' });
  assert.deepEqual(loadFeatures(join(dir, 'f.bin'), { split: 'train' })!.y, f.y);
  assert.equal(loadFeatures(join(dir, 'f.bin'), { split: 'test' }), undefined, 'a cache made for other data is not used');
  assert.throws(() => loadValueHead(join(dir, 'missing.safetensors')), /no value head at .*train one with `bert4ts xiangqi value/);
});

test('value features for training are the hidden states the player values moves with', async () => {
  const model = tinyModel(7);
  const game: CorpusGame = { id: 'g', moves: ['h2e2', 'h9g7', 'h0g2', 'i9h9', 'i0h0'], result: '1-0' };
  const extractor = await FeatureExtractor.create(model);
  const f = await extractor.extract([game, { ...game, id: 'unknown', result: '*' }]);
  await extractor.release();
  assert.equal(f.y.length, 5, 'one position per move; a game without a result is left out');
  assert.deepEqual([...f.ply], [1, 2, 3, 4, 5]);
  const player = await Player.create(model, undefined, { value: randomHead() });
  // The position before move 3, shown with the board at the start and two moves: as in the training window.
  const pos = Position.start();
  for (const m of game.moves.slice(0, 3)) pos.make(parseIccs(pos, m));
  player.historyPlies = 3;
  const before = pos.clone();
  const move = parseIccs(pos, game.moves[3]!);
  const { value } = await player.evaluate(before, [move]);
  const expected = expectedScore(valueProbs(player.valueHead!, f.x.subarray(3 * f.size, 4 * f.size)), before.side);
  assert.ok(Math.abs(value[0]! - expected) < 1e-4, `${value[0]} vs ${expected}`);
  await player.release();
});

test('search: finds a mate the priors rank low, keeps to its node budget, stops when told, depth 1 is the one-ply value', async () => {
  // Red to move mates with a1d1 (the rook checks on the d-file; e8 faces the red general).
  const pos = Position.fromFen('9/3k5/9/9/9/9/9/9/R8/4K4 w');
  const moves = playableMoves(pos);
  const mate = parseIccs(pos, 'a1d1');
  const flat = async (_p: Position, ms: Move[]) => ({ prior: ms.map((m) => (m === mate ? 0.2 / ms.length : 1 / ms.length)), value: ms.map(() => 0.5) });
  const r = await puct(pos, moves, { nodes: 400 }, flat, playableMoves);
  assert.ok(r.nodes <= 400);
  assert.equal(pos.fen(), Position.fromFen('9/3k5/9/9/9/9/9/9/R8/4K4 w').fen(), 'the position is left as it was');
  assert.equal(r.move, mate, 'the search finds the mate');
  // Budgets from the start position (a win at the root would end the search at once).
  const start = Position.start(), opening = start.legalMoves();
  const small = await puct(start, opening, { nodes: 3 }, flat, playableMoves);
  assert.equal(small.nodes, 3);
  const stop = { stopped: false };
  let calls = 0;
  const stopping = async (p: Position, ms: Move[]) => { if (++calls === 5) stop.stopped = true; return flat(p, ms); };
  const stopped = await puct(start, opening, { stop }, stopping, playableMoves);
  assert.equal(stopped.nodes, 5, 'stops after the run during which it was told');
  const ranked = async (_p: Position, ms: Move[]) => ({ prior: ms.map(() => 1 / ms.length), value: ms.map((_, i) => (i === 7 ? 0.9 : 0.2)) });
  const oneply = await puct(start, opening, { depth: 1 }, ranked, playableMoves);
  assert.equal(oneply.move, opening[7], 'depth 1: the best-valued move');
  assert.equal((await puct(pos, moves, { depth: 1 }, ranked, playableMoves)).move, mate, 'a mate outranks any value');
  assert.equal(oneply.nodes, 1);
  await assert.rejects(puct(pos, moves, { nodes: 0 }, flat, playableMoves), /search nodes must be at least 1, got 0/);
});

/** Whether Red, to move in `p`, wins by force within `n` of its moves (brute force; `p` is left as it was). */
function redWinsWithin(p: Position, n: number): boolean {
  return n > 0 && p.legalMoves().some((m) => {
    p.make(m);
    const o = p.outcome();
    const won = o ? o.result === '1-0' : p.legalMoves().every((r) => { p.make(r); const ok = redWinsWithin(p, n - 1); p.unmake(); return ok; });
    p.unmake();
    return won;
  });
}

test('search: proves forced mates where every value says the game is won, and plays them out', async () => {
  // A rook and a horse against a bare king: Red mates in two (d2d8) but not in one (checked by brute
  // force below). Every move is valued 0.95 and the mating one lower, as the board network values a
  // won ending: the values give no direction, only the proofs do.
  const fen = '9/4k4/9/9/9/5H3/9/3R5/9/3K5 w';
  const mating = parseIccs(Position.fromFen(fen), 'd2d8');
  const saturated = async (_p: Position, ms: Move[]) => ({ prior: ms.map(() => 1 / ms.length), value: ms.map((m) => (m === mating ? 0.9 : 0.95)) });
  const start = Position.fromFen(fen);
  assert.ok(!redWinsWithin(start, 1) && redWinsWithin(start, 2), 'a mate in two, not in one');
  for (const reply of ['first', 'last'] as const) {
    const pos = Position.fromFen(fen);
    let redMoves = 0;
    while (!pos.outcome() && redMoves < 4) {
      const moves = playableMoves(pos);
      const r = await puct(pos, moves, { nodes: 3000 }, saturated, playableMoves);
      assert.equal(r.q[moves.indexOf(r.move)], 1, 'the move played is a proven win');
      assert.ok(r.nodes < 3000, `the search stops once the win is proven (${r.nodes} nodes)`);
      pos.make(r.move);
      redMoves++;
      if (pos.outcome()) break;
      const replies = pos.legalMoves();
      pos.make(reply === 'first' ? replies[0]! : replies.at(-1)!);
    }
    assert.equal(pos.outcome()?.result, '1-0', `mated against Black's ${reply} replies`);
    assert.ok(redMoves <= 3, `within ${redMoves} moves (the search may take a mate in three over the mate in two)`);
  }
});

test('search: in a lost position, searches on past a prior that favours the quickest loss, and plays a latest loss', async () => {
  // Black's three moves all lose to the rook and horse: e8d8 at once (mate in one), e8e9 and e8f8
  // after a mate in two (brute force below). Black's prior pushes the search's visits to e8d8.
  const fen = '9/4k4/9/9/3H5/9/9/3R5/9/3K5 b';
  const pos = Position.fromFen(fen);
  const black = pos.side; // the evaluator is handed the searched (moving) position itself
  const moves = playableMoves(pos);
  const mateAfter = new Map(moves.map((m) => {
    pos.make(m);
    const n = [1, 2, 3].find((k) => redWinsWithin(pos, k));
    pos.unmake();
    return [moveToIccs(m), n] as const;
  }));
  assert.deepEqual(Object.fromEntries(mateAfter), { e8e9: 2, e8d8: 1, e8f8: 2 });
  const quickLoss = parseIccs(pos, 'e8d8');
  // Every move is valued as the won ending it is for Red; Red's priors are uniform.
  const lured = async (p: Position, ms: Move[]) => ({
    prior: p.side === black ? ms.map((m) => (m === quickLoss ? 0.98 : 0.02 / (ms.length - 1))) : ms.map(() => 1 / ms.length),
    value: ms.map(() => (p.side === black ? 0.05 : 0.95)),
  });
  const r = await puct(pos, moves, { nodes: 3000 }, lured, playableMoves);
  assert.ok(moves.every((_, a) => r.q[a] === 0), `every move is proven lost: q ${r.q}, ${r.nodes} nodes`);
  assert.notEqual(moveToIccs(r.move), 'e8d8', `${moveToIccs(r.move)} was played; visits ${r.visits}`);
  assert.equal(r.provenPlies, 4, 'mated after the reply, two Red moves and a Black one');
});

test('player modes: value plays its best-valued move, search keeps to its budget; a mode without a value head is refused', async () => {
  const model = tinyModel(8);
  const plain = await Player.create(model);
  assert.throws(() => { plain.mode = 'search'; }, /the search mode needs a value head: train one with `bert4ts xiangqi value`/);
  assert.throws(() => { plain.mode = 'fast' as never; }, /mode must be one of policy, value, search, alphabeta, got "fast"/);
  await plain.release();
  const player = await Player.create(model, undefined, { value: randomHead() });
  player.ruleChecks = false;
  const pos = Position.start();
  player.mode = 'value';
  const v = await player.choose(pos);
  const { value } = await player.evaluate(pos, pos.legalMoves());
  const bestValue = Math.max(...value);
  assert.ok(Math.abs(v.value! - bestValue) < 1e-9, 'value mode: the move with the highest expected score');
  assert.equal(v.candidates.length, 44);
  player.mode = 'search';
  const s = await player.choose(pos, { budget: { nodes: 6 } });
  assert.equal(s.nodes, 6);
  assert.ok(pos.isLegal(s.move));
  assert.equal(s.candidates.reduce((n, c) => n + c.visits!, 0) > 0, true);
  const timed = await player.choose(pos, { budget: { timeMs: 150 } });
  assert.ok(timed.thinkMs < 150 + 500, `time budget kept: ${timed.thinkMs} ms`);
  // Rule checks stay on by default in every mode: the mate in one is played.
  player.ruleChecks = true;
  const mateIn1 = Position.fromFen('9/3k5/9/9/9/9/9/9/R8/4K4 w');
  for (const mode of ['value', 'search'] as const) {
    player.mode = mode;
    assert.equal((await player.choose(mateIn1)).move, parseIccs(mateIn1, 'a1d1'), mode);
  }
  // A window as the shipped model's (result token, prefix and 64 moves, less one): after a long game
  // the context and a whole move still fit (the value needs the move's last character too).
  const windowed = await Player.create(tinyModel(9, { ...TINY, maxPosition: 1 + 65 + 15 * 4 - 1 }), undefined, { value: randomHead() });
  const long = Position.start();
  for (let i = 0; i < 30; i++) long.make(long.legalMoves()[i % 7]!);
  windowed.mode = 'value';
  assert.ok(long.isLegal((await windowed.choose(long)).move));
  await windowed.release();
  // A head saved beside the model file is loaded with it.
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-modes-'));
  savePlayerModel(join(dir, 'model.safetensors'), model);
  saveValueHead(join(dir, 'value.safetensors'), randomHead());
  const loaded = await Player.load(join(dir, 'model.safetensors'));
  loaded.mode = 'value';
  assert.ok(loaded.valueHead);
  await loaded.release();
  await player.release();
});

test('winner-only training targets: the winner\'s moves of a decisive game, nothing of a draw, combined with a record\'s own targets', () => {
  const moves = ['h2e2', 'h9g7', 'h0g2', 'i9h9', 'i0h0'];
  assert.equal(winnerOnly({ id: 'a', moves, result: '1-0' }).learn, '10101');
  assert.equal(winnerOnly({ id: 'b', moves, result: '0-1' }).learn, '01010');
  assert.equal(winnerOnly({ id: 'c', moves, result: '1/2-1/2' }).learn, '00000');
  assert.equal(winnerOnly({ id: 'd', moves, result: '1-0', learn: '11001' }).learn, '10001');
  const s = positionSequence('position', winnerOnly({ id: 'a', moves, result: '0-1' }), 0, 5);
  assert.deepEqual([...s.skip!.slice(66)].filter((_, i) => i % 4 === 0), [1, 0, 1, 0, 1], 'red\'s moves are context only');
});

test('board value: one input per piece and point; fitted where the side a rook up wins, it learns so; a rook-counting head makes the value mode take a free rook', async () => {
  const start = Position.start();
  const inputs = boardInputs(start);
  assert.equal(inputs.length, 32);
  assert.ok(inputs.every((i) => i >= 0 && i < 14 * 90));
  start.make(parseIccs(start, 'h2e2'));
  assert.ok(boardInputs(start).includes(14 * 90), 'black to move is an input');
  // Start positions with pieces taken off at random, labelled by the rooks left: a rook up wins.
  const r = new Random(9);
  const rows: number[][] = [], y: number[] = [];
  const board = Position.start().fen().split(' ')[0]!.split('/').map((row) => [...row.replace(/\d/g, (d) => '.'.repeat(Number(d)))]);
  for (let i = 0; i < 4000; i++) {
    const b = board.map((row, ri) => row.map((c, f) => (c !== '.' && c.toLowerCase() !== 'k' && !(f === 4 && (ri === 3 || ri === 6)) && r.next() < 0.1 ? '.' : c)));
    const fen = b.map((row) => row.join('').replace(/\.+/g, (m) => String(m.length))).join('/') + (r.next() < 0.5 ? ' w' : ' b');
    let pos: Position;
    try { pos = Position.fromFen(fen); } catch { continue; }
    const d = (fen.match(/R/g) ?? []).length - (fen.match(/r/g) ?? []).length;
    rows.push(boardInputs(pos));
    y.push(d > 0 ? 0 : d < 0 ? 2 : 1);
  }
  const samples = {
    active: Uint16Array.from(rows.flatMap((a) => Array.from({ length: 33 }, (_, k) => a[k] ?? 0xffff))),
    y: Uint8Array.from(y), ply: Uint16Array.from(y, (_, i) => i % 2), game: Uint32Array.from(y, (_, i) => i),
  };
  assert.equal(boardSamples([{ id: 'g', moves: ['h2e2', 'h9g7'], result: '1-0' }, { id: 'u', moves: ['h2e2'], result: '*' }]).y.length, 2, 'a position per move of games with a result');
  const head = fitBoardValue(samples, { hiddenSize: 8, epochs: 40, lr: 2e-2 });
  assert.equal(head.metadata.input, 'board');
  const c = boardCalibration(head, samples, sideToMoveWinRate(samples), calibrate);
  assert.ok(c.accuracy > 0.9, `it learns who has more rooks: accuracy ${c.accuracy}`);
  // A hand-made board head that counts rooks (red +1, black -1 on every point): taking a rook is worth it.
  const counter = { ...head, hiddenSize: 1, w1: new Float32Array(14 * 90 + 1), b1: new Float32Array(1), w2: Float32Array.from([4, 0, -4]), b2: new Float32Array(3) };
  for (let sq = 0; sq < 90; sq++) { counter.w1[4 * 90 + sq] = 1; counter.w1[11 * 90 + sq] = -1; }
  // The a-file pawns gone, red's rook takes black's rook for nothing.
  const pos = Position.fromFen('rnbakabnr/9/1c5c1/2p1p1p1p/9/9/2P1P1P1P/1C5C1/9/RNBAKABNR w');
  const before = boardValueProbs(counter, pos);
  pos.make(parseIccs(pos, 'a0a9'));
  const after = boardValueProbs(counter, pos);
  pos.unmake();
  assert.ok(after[0] > before[0] + 0.3, `P(red wins) ${before[0].toFixed(3)} -> ${after[0].toFixed(3)}`);
  const player = await Player.create(tinyModel(3), undefined, { value: counter });
  player.mode = 'value';
  player.ruleChecks = false;
  assert.equal(moveToIccs((await player.choose(pos)).move), 'a0a9');
  await player.release();
});

test('Elo from W/D/L: an even score is 0 with an interval around it, a perfect one has no finite bound, openings are legal', () => {
  const even = eloEstimate({ wins: 40, draws: 20, losses: 40 });
  assert.equal(even.score, 0.5);
  assert.equal(even.elo, 0);
  assert.ok(even.low < -50 && even.high > 50 && Math.abs(even.low + even.high) < 1e-9, `${even.low} ${even.high}`);
  const three = eloEstimate({ wins: 75, draws: 0, losses: 25 });
  assert.ok(Math.abs(three.elo - 400 * Math.log10(3)) < 1e-9, 'a 75% score is +191');
  assert.equal(eloEstimate({ wins: 10, draws: 0, losses: 0 }).elo, Infinity);
  for (const line of OPENINGS) {
    const pos = Position.start();
    for (const m of line.split(' ')) pos.play(parseIccs(pos, m));
  }
});

test('board value at play (sparse rows) equals the dense head on the one-hot board', () => {
  const r = new Random(4);
  const H = 5, n = 14 * 90 + 1;
  const head = { inputSize: n, hiddenSize: H, mean: new Float32Array(n), scale: new Float32Array(n).fill(1), w1: Float32Array.from({ length: n * H }, () => r.normal() * 0.2), b1: Float32Array.from({ length: H }, () => r.normal()), w2: Float32Array.from({ length: H * 3 }, () => r.normal()), b2: Float32Array.from({ length: 3 }, () => r.normal()), metadata: { input: 'board' } };
  const pos = Position.start();
  pos.make(pos.legalMoves()[5]!);
  const x = new Float32Array(n);
  for (const i of boardInputs(pos)) x[i] = 1;
  const dense = valueProbs(head, x), sparse = boardValueProbs(head, pos);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(dense[k]! - sparse[k]!) < 1e-6, `${dense} vs ${sparse}`);
});

test('board value with synthetic records mixed in: their positions join training only, weighted per game; records without a result are refused', async () => {
  const { trainBoardValue } = await import('../../src/xiangqi/player/boardValue.ts');
  const { playGame, randomMover } = await import('../../src/xiangqi/player/match.ts');
  const { writeFileSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-value-mix-'));
  const line = async (id: string, seed: number, result: string) => {
    const g = await playGame(randomMover(seed), randomMover(seed + 1000), { maxPlies: 12 });
    return JSON.stringify({ id, iccs: g.moves.map(moveToIccs).join(' '), result });
  };
  const corpus = join(dir, 'games.jsonl'), records = join(dir, 'records.jsonl'), unfinished = join(dir, 'unfinished.jsonl');
  writeFileSync(corpus, (await Promise.all(Array.from({ length: 80 }, (_, i) => line(`g${i}`, i, ['1-0', '0-1', '1/2-1/2'][i % 3]!)))).join('\n') + '\n');
  writeFileSync(records, (await Promise.all(Array.from({ length: 6 }, (_, i) => line(`synth-${i}`, 500 + i, '1-0')))).join('\n') + '\n');
  writeFileSync(unfinished, (await line('synth-x', 7, '*')) + '\n');
  const quiet = { log: () => {}, hidden: [4], epochs: 1 };
  const alone = await trainBoardValue({ corpus, out: join(dir, 'alone'), ...quiet });
  const mixed = await trainBoardValue({ corpus, out: join(dir, 'mixed'), mix: records, mixGames: 4, ...quiet });
  assert.equal(alone.mixGames, 0);
  assert.equal(mixed.mixGames, 4, '--mix-games takes the first 4 records');
  assert.equal(mixed.trainPositions - alone.trainPositions, 4 * 12, 'every position of the 4 mixed games (12 plies each) is a training position');
  assert.equal(mixed.baseRate, alone.baseRate, 'the base rate stays the experts\'');
  assert.deepEqual(mixed.heads[0]!.test.positions, alone.heads[0]!.test.positions, 'the test games are the same expert games');
  assert.equal(loadValueHead(join(dir, 'mixed', 'value.safetensors')).metadata.mixGames, '4');
  await assert.rejects(trainBoardValue({ corpus, out: join(dir, 'bad'), mix: unfinished, ...quiet }), /no records with a result/);
});

test('alphabeta: mates, declines a capture that loses the rook for a free one, keeps to depth, nodes and stop, and leaves the position as it was', async () => {
  // The expected score of material for the side to move (rook 9, cannon 4.5, horse 4): a stand-in for the value network.
  const material = (p: Position) => 1 / (1 + Math.exp(-materialLead(p) / 3));
  const mateFen = '9/3k5/9/9/9/9/9/9/R8/4K4 w';
  const mateIn1 = Position.fromFen(mateFen);
  const m = await alphaBeta(mateIn1, mateIn1.legalMoves(), { depth: 3 }, material);
  assert.equal(moveToIccs(m.move), 'a1d1');
  assert.equal(m.scores[mateIn1.legalMoves().indexOf(m.move)], 1, 'a mate scores 1');
  assert.equal(m.depth, 1, 'a forced win needs no deeper look');
  assert.equal(mateIn1.fen(), Position.fromFen(mateFen).fen());
  // Red's rook can take the cannon on a7, which black's rook on a9 takes back, or the free horse on h5
  // (the advisor on f7 keeps a rook on the f-file from checking, which would tie with the horse).
  const fen = 'r4k3/9/c4a3/9/R6n1/9/9/9/9/3K5 w';
  const pos = Position.fromFen(fen);
  const moves = pos.legalMoves();
  const cannon = parseIccs(pos, 'a5a7'), horse = parseIccs(pos, 'a5h5');
  const greedy = (p: Position) => { const ms = p.legalMoves(); return ms.reduce((best, x) => { p.make(x); const v = 1 - material(p); p.unmake(); return v > best.v ? { x, v } : best; }, { x: ms[0]!, v: -1 }).x; };
  assert.equal(greedy(pos), cannon, 'one ply without the recapture takes the cannon');
  // The capture search alone, as the board-valued search mode values a child: black takes the rook back.
  pos.make(cannon);
  const standing = material(pos);
  pos.make(parseIccs(pos, 'a9a7'));
  const recaptured = 1 - material(pos);
  pos.unmake();
  assert.ok(Math.abs(captureSearchValue(pos, material) - recaptured) < 1e-12 && recaptured > standing, `${captureSearchValue(pos, material)} vs ${recaptured} (standing ${standing})`);
  pos.unmake();
  const one = await alphaBeta(pos, [cannon, ...moves.filter((x) => x !== cannon)], { depth: 1 }, material);
  assert.equal(one.move, horse, 'depth 1 and the capture search see the recapture');
  assert.equal(one.depth, 1);
  const deep = await alphaBeta(pos, moves, { depth: 3 }, material);
  assert.deepEqual([deep.move, deep.depth], [horse, 3]);
  const best = deep.scores[moves.indexOf(horse)]!;
  assert.ok(deep.scores.every((s) => s <= best), 'the others are bounds below the chosen move');
  assert.ok(deep.nodes > one.nodes);
  assert.equal(pos.fen(), Position.fromFen(fen).fen(), 'the position is left as it was');
  // A node budget of 1 still completes depth 1; a stop flag set before the search ends it after depth 1.
  const tight = await alphaBeta(pos, moves, { nodes: 1 }, material);
  assert.deepEqual([tight.depth, tight.move], [1, horse]);
  const stopped = await alphaBeta(pos, moves, { stop: { stopped: true } }, material);
  assert.equal(stopped.depth, 1);
  await assert.rejects(alphaBeta(pos, moves, { depth: 0 }, material), /search depth must be an integer of at least 1, got 0/);
  await assert.rejects(alphaBeta(pos, [], {}, material), /no move to search/);
  // Ties go to the move given first (the policy's order): the start position is level after any quiet move.
  const start = Position.start(), opening = start.legalMoves().filter((x) => start.pieceAt(x >> 8) === 0);
  const tie = await alphaBeta(start, [opening[5]!, ...opening.filter((x) => x !== opening[5])], { depth: 1 }, () => 0.5);
  assert.equal(tie.move, opening[5]);
});

test('alphabeta and board-valued search modes: alphabeta needs a board value network; with one that counts rooks both take a free rook, each with its own default budget', async () => {
  const trunk = await Player.create(tinyModel(4), undefined, { value: randomHead() });
  assert.deepEqual(trunk.availableModes, ['policy', 'value', 'search']);
  trunk.mode = 'search';
  assert.deepEqual(trunk.defaultBudget, trunk.searchBudget, 'a head on the language model searches a few dozen network runs');
  assert.throws(() => { trunk.mode = 'alphabeta'; }, /the alphabeta mode values thousands of positions a move, which needs the board value network/);
  await trunk.release();
  const counter = { ...randomHead(), inputSize: 14 * 90 + 1, hiddenSize: 1, w1: new Float32Array(14 * 90 + 1), b1: new Float32Array(1), w2: Float32Array.from([4, 0, -4]), b2: new Float32Array(3), metadata: { input: 'board' } };
  for (let sq = 0; sq < 90; sq++) { counter.w1[4 * 90 + sq] = 1; counter.w1[11 * 90 + sq] = -1; }
  const player = await Player.create(tinyModel(3), undefined, { value: counter });
  assert.deepEqual(player.availableModes, ['policy', 'value', 'search', 'alphabeta']);
  player.mode = 'alphabeta';
  player.ruleChecks = false;
  assert.deepEqual(player.defaultBudget, player.alphaBetaBudget);
  const pos = Position.fromFen('rnbakabnr/9/1c5c1/2p1p1p1p/9/9/2P1P1P1P/1C5C1/9/RNBAKABNR w');
  const c = await player.choose(pos, { budget: { depth: 2 } });
  assert.equal(moveToIccs(c.move), 'a0a9');
  assert.deepEqual([c.depth, c.candidates[0]!.move, c.candidates.length], [2, c.move, pos.legalMoves().length]);
  assert.ok(c.value! > 0.5 && c.nodes! > 44, `value ${c.value}, nodes ${c.nodes}`);
  // The search mode over a board network: the language model runs at the root only, so hundreds
  // of nodes cost one scoring run, and the search takes the rook too.
  player.mode = 'search';
  assert.deepEqual(player.defaultBudget, player.boardSearchBudget);
  let runs = 0;
  const score = player.scorer.score.bind(player.scorer);
  player.scorer.score = (...args) => { runs++; return score(...args); };
  const s = await player.choose(pos, { budget: { nodes: 300 } });
  assert.deepEqual([moveToIccs(s.move), s.nodes, runs], ['a0a9', 300, 1]);
  assert.ok(s.depth! >= 2 && s.value! > 0.5, `depth ${s.depth}, value ${s.value}`);
  await player.release();
});
