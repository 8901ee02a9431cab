import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FenError, Position, START_FEN, moveFrom, moveToIccs, parseSquare, squareName } from '../../src/xiangqi/board.ts';

const legal = (pos: Position) => pos.legalMoves().map(moveToIccs).sort();
const movesFrom = (pos: Position, square: string) => legal(pos).filter((m) => m.startsWith(square)).map((m) => m.slice(2)).sort();

/** Small deterministic PRNG so random playouts are reproducible. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 2 ** 32; };
}

test('FEN round trip and square names', () => {
  const pos = Position.fromFen(START_FEN);
  assert.equal(pos.fen(), START_FEN);
  assert.equal(Position.fromFen('rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w').fen(), START_FEN);
  assert.equal(squareName(pos.kingSquare(0)), 'e0');
  assert.equal(squareName(pos.kingSquare(1)), 'e9');
  assert.equal(squareName(parseSquare('h2')), 'h2');
  assert.equal(pos.side, 0);
  assert.equal(Position.fromFen(START_FEN.replace(' w ', ' b ')).side, 1);
});

test('malformed FEN is rejected with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/RNBAKABNR w', /expected 10 rows/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNRR w', /more than 9 files/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABN w', /has 8 files/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNX w', /unknown piece letter 'X'/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBA1ABNR w', /exactly one general/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR x', /side to move must be 'w' or 'b'/],
    ['rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKAANR w', /too many red 'A'/],
    ['3k5/9/9/9/9/9/9/9/9/K8 w', /outside its palace at a0/],
    ['3k5/9/9/9/9/9/9/9/B8/5K3 w', /elephant 'B' on a1/],
    ['3k5/9/9/9/9/9/9/P8/9/5K3 w', /pawn 'P' behind its starting rank/],
    ['4k4/9/9/9/9/9/9/9/9/4K4 w', /black\) is in check/],
    ['', /expected 10 rows/],
  ];
  for (const [fen, reason] of cases) assert.throws(() => Position.fromFen(fen), (e: Error) => e instanceof FenError && reason.test(e.message), fen);
});

test('horse is blocked by a piece on its leg', () => {
  const pos = Position.fromFen('3k5/9/9/9/4P4/4N4/9/9/9/5K3 w');
  assert.deepEqual(movesFrom(pos, 'e4'), ['c3', 'c5', 'd2', 'f2', 'g3', 'g5']);
});

test('elephant is blocked on its eye and cannot cross the river', () => {
  const pos = Position.fromFen('3k5/9/9/9/9/2B6/3P5/9/9/5K3 w');
  assert.deepEqual(movesFrom(pos, 'c4'), ['a2']);
});

test('cannon slides to empty squares and captures only over exactly one screen', () => {
  const pos = Position.fromFen('3k5/9/1n7/9/1p7/9/9/1C7/9/5K3 w');
  assert.deepEqual(movesFrom(pos, 'b2'), ['a2', 'b0', 'b1', 'b3', 'b4', 'b7', 'c2', 'd2', 'e2', 'f2', 'g2', 'h2', 'i2']);
});

test('pawns move sideways only after crossing the river', () => {
  const pos = Position.fromFen('3k5/9/9/2p6/4P4/9/4P4/9/9/5K3 w');
  assert.deepEqual(movesFrom(pos, 'e3'), ['e4']);
  assert.deepEqual(movesFrom(pos, 'e5'), ['d5', 'e6', 'f5']);
  pos.make(pos.legalMoves().find((m) => squareName(moveFrom(m)) === 'e3')!);
  assert.deepEqual(movesFrom(pos, 'c6'), ['c5']);
});

test('general stays in the palace and may not face the other general', () => {
  assert.deepEqual(movesFrom(Position.fromFen('5k3/9/9/9/9/9/9/3K5/9/9 w'), 'd2'), ['d1', 'e2']);
  assert.deepEqual(movesFrom(Position.fromFen('3k5/9/9/9/9/9/9/9/9/4K4 w'), 'e0'), ['e1', 'f0']);
  // The horse is the only piece between the generals, so it may not leave the file (flying general).
  const pinned = Position.fromFen('4k4/9/9/9/4N4/9/9/9/9/4K4 w');
  assert.deepEqual(legal(pinned), ['e0d0', 'e0e1', 'e0f0']);
});

test('check, checkmate and stalemate (no legal move loses)', () => {
  const mate = Position.fromFen('R3k4/R8/9/9/9/9/9/9/9/3K5 b');
  assert.ok(mate.inCheck());
  assert.ok(mate.isCheckmate());
  assert.deepEqual(mate.outcome(), { result: '1-0', reason: 'checkmate' });
  const stalemate = Position.fromFen('3k5/8R/9/9/4R4/9/9/9/9/5K3 b');
  assert.ok(!stalemate.inCheck());
  assert.deepEqual(legal(stalemate), []);
  assert.ok(stalemate.isStalemate());
  assert.deepEqual(stalemate.outcome(), { result: '1-0', reason: 'stalemate' });
  assert.equal(Position.start().outcome(), undefined);
});

test('threefold repetition draws; perpetual check loses for the checker', () => {
  const pos = Position.start();
  const play = (...moves: string[]) => {
    for (const text of moves) pos.make(pos.legalMoves().find((m) => moveToIccs(m) === text)!);
  };
  play('h0g2', 'h9g7', 'g2h0', 'g7h9');
  assert.equal(pos.repetitions(), 1);
  assert.equal(pos.outcome(), undefined);
  play('h0g2', 'h9g7', 'g2h0', 'g7h9');
  assert.equal(pos.repetitions(), 2);
  assert.deepEqual(pos.outcome(), { result: '1/2-1/2', reason: 'repetition' });

  const checks = Position.fromFen('4k4/7R1/9/9/9/9/9/9/9/3K5 w');
  const cycle = ['h8h9', 'e9e8', 'h9h8', 'e8e9'];
  for (const text of [...cycle, ...cycle]) {
    checks.make(checks.legalMoves().find((m) => moveToIccs(m) === text)!);
  }
  assert.equal(checks.repetitions(), 2);
  assert.deepEqual(checks.outcome(), { result: '0-1', reason: 'perpetual check' });
  assert.equal(checks.fen().split(' ')[0], '4k4/7R1/9/9/9/9/9/9/9/3K5', 'outcome() leaves the position as it was');
});

test('60-move rule: 120 plies without a capture draw', () => {
  const pos = Position.fromFen('3k5/9/9/9/9/9/9/9/9/5K3 w - - 119 80');
  assert.equal(pos.outcome(), undefined);
  pos.make(pos.legalMoves()[0]!);
  assert.deepEqual(pos.outcome(), { result: '1/2-1/2', reason: 'move limit' });
});

test('make/unmake restore the position and keep the incremental hash equal to a fresh one', () => {
  const random = rng(7);
  for (let game = 0; game < 20; game++) {
    const pos = Position.start();
    const fens = [pos.fen()];
    for (let ply = 0; ply < 150; ply++) {
      const moves = pos.legalMoves();
      if (!moves.length) break;
      pos.make(moves[Math.floor(random() * moves.length)]!);
      const fresh = Position.fromFen(pos.fen());
      assert.equal(pos.hashLo, fresh.hashLo);
      assert.equal(pos.hashHi, fresh.hashHi);
      fens.push(pos.fen());
    }
    while (pos.ply > 0) {
      fens.pop();
      pos.unmake();
      assert.equal(pos.fen(), fens[fens.length - 1]);
    }
  }
});

test('fast legality filter agrees with make-and-test on random positions', () => {
  const random = rng(11);
  let compared = 0;
  for (let game = 0; game < 30; game++) {
    const pos = Position.start();
    for (let ply = 0; ply < 120; ply++) {
      const fast = legal(pos);
      // Brute force: a pseudo-legal move is legal iff the mover is not in check afterwards, which
      // fromFen rejects ("the side not to move is in check").
      const slow = pos.pseudoLegalMoves().filter((m) => {
        pos.make(m);
        let ok = true;
        try { Position.fromFen(pos.fen()); } catch { ok = false; }
        pos.unmake();
        return ok;
      }).map(moveToIccs).sort();
      assert.deepEqual(fast, slow, pos.fen());
      compared++;
      if (!fast.length) break;
      pos.make(pos.legalMoves()[Math.floor(random() * fast.length)]!);
    }
  }
  assert.ok(compared > 1000);
});

test('clone() copies the history: take-backs and repetition work on the copy, the original is untouched', () => {
  const pos = Position.start();
  for (const text of ['h0g2', 'h9g7', 'g2h0', 'g7h9', 'h0g2', 'h9g7', 'g2h0']) pos.make(pos.legalMoves().find((m) => moveToIccs(m) === text)!);
  const copy = pos.clone();
  copy.make(copy.legalMoves().find((m) => moveToIccs(m) === 'g7h9')!);
  assert.equal(copy.repetitions(), 2);
  assert.equal(pos.repetitions(), 1, 'the original did not move');
  assert.equal(pos.side, 1);
  for (let i = 0; i < 8; i++) copy.unmake();
  assert.equal(copy.fen(), START_FEN);
  assert.equal(pos.ply, 7);
});

test('play() rejects illegal moves with the reason', () => {
  const pos = Position.start();
  const move = (iccs: string) => parseSquare(iccs.slice(0, 2)) | (parseSquare(iccs.slice(2)) << 8);
  assert.throws(() => pos.play(move('e5e6')), /no piece on e5/);
  assert.throws(() => pos.play(move('h7e7')), /not red's \(red to move\)/);
  assert.throws(() => pos.play(move('h2e3')), /a cannon cannot move from h2 to e3/);
  const pinned = Position.fromFen('4k4/9/9/9/4N4/9/9/9/9/4K4 w');
  assert.throws(() => pinned.play(move('e5d7')), /leaves red's general in check/);
  pos.play(move('h2e2'));
  assert.equal(pos.fen(), 'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C2C4/9/RNBAKABNR b - - 1 1');
});

test('small perft counts from the start position', () => {
  const pos = Position.start();
  assert.deepEqual([1, 2, 3].map((d) => pos.perft(d)), [44, 1920, 79666]);
  const divide = pos.divide(2);
  assert.equal(divide.length, 44);
  assert.equal(divide.reduce((n, [, c]) => n + c, 0), 1920);
  assert.throws(() => pos.perft(-1), /non-negative|integer/);
});
