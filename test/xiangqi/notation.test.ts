import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IllegalMoveError, Position, moveToIccs } from '../../src/xiangqi/board.ts';
import { NotationError, detectNotation, formatLine, formatMove, parseMove, type Notation } from '../../src/xiangqi/notation.ts';

const iccs = (pos: Position, text: string, notation?: Notation) => moveToIccs(parseMove(pos, text, notation));
const byIccs = (pos: Position, text: string) => pos.legalMoves().find((m) => moveToIccs(m) === text)!;
const write = (pos: Position, text: string, notation: Notation, style?: Parameters<typeof formatMove>[3]) => formatMove(pos, byIccs(pos, text), notation, style);

test('the opening 炮二平五 馬８進７ in every notation and glyph variant', () => {
  const pos = Position.start();
  for (const text of ['h2e2', 'H2-E2', 'C2.5', 'C2=5', 'c2.5', '炮二平五', '砲二平五', '炮2平5', '炮２平５']) assert.equal(iccs(pos, text), 'h2e2', text);
  assert.equal(iccs(pos, 'h3e3', 'uci'), 'h2e2');
  assert.equal(write(pos, 'h2e2', 'chinese'), '炮二平五');
  assert.equal(write(pos, 'h2e2', 'wxf'), 'C2.5');
  assert.equal(write(pos, 'h2e2', 'uci'), 'h3e3');
  pos.make(byIccs(pos, 'h2e2'));
  for (const text of ['h9g7', 'H8+7', 'N8+7', '馬８進７', '马8进7', '馬8進7', '傌８進７']) assert.equal(iccs(pos, text), 'h9g7', text);
  assert.equal(write(pos, 'h9g7', 'chinese'), '馬８進７');
  assert.equal(write(pos, 'h9g7', 'chinese', { script: 'simplified', blackDigits: 'arabic' }), '马8进7');
  assert.equal(write(pos, 'h9g7', 'wxf'), 'H8+7');
  assert.equal(write(pos, 'i9i8', 'chinese', { script: 'simplified' }), '车９进１');
  assert.equal(write(pos, 'e9e8', 'chinese'), '將５進１');
  assert.equal(write(pos, 'e9e8', 'chinese', { script: 'simplified' }), '将５进１');
  assert.equal(write(pos, 'g9e7', 'chinese'), '象７進５');
  assert.equal(write(pos, 'f9e8', 'wxf'), 'A6+5');
  assert.equal(write(pos, 'a9a8', 'wxf'), 'R1+1', "black counts files from black's right: a = 1");
});

test('tandem pieces: 前/後 and WXF +/-', () => {
  const pos = Position.fromFen('3k5/9/9/9/9/4C4/9/4C4/9/5K3 w');
  assert.equal(iccs(pos, '前炮進一'), 'e4e5');
  assert.equal(iccs(pos, '后炮平六'), 'e2d2');
  assert.equal(iccs(pos, '後炮平六'), 'e2d2');
  assert.equal(iccs(pos, '炮前進一'), 'e4e5', 'Hong Kong order');
  assert.equal(iccs(pos, 'C+.4'), 'e4f4');
  assert.equal(iccs(pos, 'C-+1'), 'e2e3');
  assert.equal(write(pos, 'e4e5', 'chinese'), '前炮進一');
  assert.equal(write(pos, 'e2d2', 'chinese', { script: 'simplified' }), '后炮平六');
  assert.equal(write(pos, 'e4e5', 'wxf'), 'C++1');
  assert.equal(write(pos, 'e2d2', 'wxf'), 'C-.6');
  // Both cannons can advance one step: naming the file alone is ambiguous, and says so.
  assert.throws(() => parseMove(pos, '炮五進一'), (e: Error) => e instanceof NotationError && /ambiguous.*e4e5.*e2e3|ambiguous.*e2e3.*e4e5/.test(e.message));
  // ...but a file name that fits only one of them is accepted, as real records do.
  assert.equal(iccs(pos, '炮五進二'), 'e4e6');
});

test('three and five pawns on a file: 前/中/後, 一..五 and WXF P+, P5, P-, ++, --', () => {
  const three = Position.fromFen('3k5/9/4P4/4P4/4P4/9/9/9/9/5K3 w');
  assert.equal(iccs(three, '前兵平四'), 'e7f7');
  assert.equal(iccs(three, '中兵平六'), 'e6d6');
  assert.equal(iccs(three, '後兵平四'), 'e5f5');
  assert.equal(iccs(three, 'P+.4'), 'e7f7');
  assert.equal(iccs(three, 'P5.4'), 'e6f6', 'the middle pawn is named by its file');
  assert.equal(iccs(three, 'P-.4'), 'e5f5');
  assert.equal(write(three, 'e6f6', 'chinese'), '中兵平四');
  assert.equal(write(three, 'e6f6', 'wxf'), 'P5.4');
  assert.equal(write(three, 'e5d5', 'wxf'), 'P-.6');

  const five = Position.fromFen('3k5/9/4P4/4P4/4P4/4P4/4P4/9/9/5K3 w');
  assert.equal(iccs(five, '一兵平四'), 'e7f7');
  assert.equal(iccs(five, '二兵平四'), 'e6f6');
  assert.equal(iccs(five, '三兵平四'), 'e5f5');
  assert.equal(iccs(five, '++.4'), 'e7f7');
  assert.equal(iccs(five, 'P+.4'), 'e6f6');
  assert.equal(iccs(five, 'P5.4'), 'e5f5');
  assert.equal(write(five, 'e7f7', 'wxf'), '++.4');
  assert.equal(write(five, 'e6d6', 'wxf'), 'P+.6');
  assert.equal(write(five, 'e5f5', 'chinese'), '三兵平四');
});

test('tandem pawns on two files name the file: 前七 / 7+', () => {
  const pos = Position.fromFen('3k5/9/9/2P3P2/2P3P2/9/9/9/9/5K3 w');
  assert.equal(iccs(pos, '前七平八'), 'c6b6');
  assert.equal(iccs(pos, '7+.8'), 'c6b6');
  assert.equal(iccs(pos, '3-.2'), 'g5h5');
  assert.equal(write(pos, 'c6b6', 'chinese'), '前七平八');
  assert.equal(write(pos, 'g5h5', 'chinese'), '後三平二');
  assert.equal(write(pos, 'g5h5', 'wxf'), '3-.2');
  assert.throws(() => parseMove(pos, '前兵進一'), /ambiguous/);
});

test('bad and illegal input say why', () => {
  const pos = Position.start();
  assert.throws(() => parseMove(pos, 'xyz'), (e: Error) => e instanceof NotationError && /not a WXF move/.test(e.message));
  assert.throws(() => parseMove(pos, '炮二平'), (e: Error) => e instanceof NotationError && /3 characters/.test(e.message));
  assert.throws(() => parseMove(pos, '炮二走五'), /'走' is not 進\/进, 退 or 平/);
  assert.throws(() => parseMove(pos, 'h2e3'), (e: Error) => e instanceof IllegalMoveError && /cannot move from h2 to e3/.test(e.message));
  assert.throws(() => parseMove(pos, '馬五進三'), (e: Error) => e instanceof IllegalMoveError && /no red horse on file 5/.test(e.message));
  assert.throws(() => parseMove(pos, 'z1a1', 'iccs'), NotationError);
  const pinned = Position.fromFen('4k4/9/9/9/4N4/9/9/9/9/4K4 w');
  assert.throws(() => parseMove(pinned, 'H5+6'), (e: Error) => e instanceof IllegalMoveError && /leaves red's general in check/.test(e.message));
  assert.throws(() => formatMove(pos, byIccs(Position.fromFen(pos.fen().replace(' w ', ' b ')), 'h9g7'), 'chinese'), /illegal/);
});

test('detectNotation', () => {
  assert.equal(detectNotation('h2e2'), 'iccs');
  assert.equal(detectNotation('a10a9'), 'uci');
  assert.equal(detectNotation('炮二平五'), 'chinese');
  assert.equal(detectNotation('C2.5'), 'wxf');
});

test('every legal move round-trips through every notation along random games', () => {
  let s = 12345;
  const random = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  let checked = 0;
  for (let game = 0; game < 15; game++) {
    const pos = Position.start();
    for (let ply = 0; ply < 100; ply++) {
      const moves = pos.legalMoves();
      if (!moves.length) break;
      for (const m of moves) {
        for (const notation of ['iccs', 'uci', 'wxf', 'chinese'] as const) {
          assert.equal(parseMove(pos, formatMove(pos, m, notation), notation), m, `${notation} ${moveToIccs(m)} in ${pos.fen()}`);
        }
        assert.equal(parseMove(pos, formatMove(pos, m, 'chinese', { script: 'simplified', blackDigits: 'arabic' })), m);
        checked++;
      }
      pos.make(moves[Math.floor(random() * moves.length)]!);
    }
  }
  assert.ok(checked > 10000);
});

test('formatLine writes a move list and leaves the position unchanged', () => {
  const pos = Position.start();
  const moves = ['h2e2', 'h9g7', 'h0g2', 'i9h9'].map((t) => {
    const m = byIccs(pos, t);
    pos.make(m);
    return m;
  });
  for (let i = 0; i < 4; i++) pos.unmake();
  const before = pos.fen();
  assert.deepEqual(formatLine(pos, moves, 'chinese'), ['炮二平五', '馬８進７', '馬二進三', '車９平８']);
  assert.deepEqual(formatLine(pos, moves, 'wxf'), ['C2.5', 'H8+7', 'H2+3', 'R9.8']);
  assert.equal(pos.fen(), before);
});
