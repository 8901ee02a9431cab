import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PgnError, decodeRecord, movesToIccs, parsePgn, replay } from '../../src/xiangqi/pgn.ts';

// "[Event "測試"]\n[Red "呂欽"]\n\n1. 炮二平五 馬８進７\n2. 馬二進三 車９平８\n1-0\n" in Big5.
const BIG5_RECORD = Buffer.from('5b4576656e742022b4fab8d5225d0a5b5265642022a766b4dc225d0a0a312e20acb6a447a5ada4ad20b0a8a2b7b669a2b60a322e20b0a8a447b669a45420a8aea2b8a5ada2b70a312d300a', 'hex');

test('decodes Big5 and UTF-8 records; refuses what it cannot decode instead of dropping it', () => {
  const text = decodeRecord(BIG5_RECORD);
  assert.match(text, /\[Event "測試"\]/);
  assert.match(text, /馬８進７/);
  // HKSCS characters, which Node's own big5 decoder turns into Private Use Area code points.
  assert.equal(decodeRecord(Buffer.from([0x41, 0x9d, 0xef, 0xfb, 0xdf])), 'A嘅峯');
  assert.equal(decodeRecord(Buffer.from([0x88, 0x62])), 'Ê\u0304', 'a pair that maps to two code points');
  assert.equal(decodeRecord(Buffer.from('\uFEFF[Event "x"]', 'utf8')), '[Event "x"]');
  assert.throws(() => decodeRecord(Buffer.from([0x5b, 0xff, 0xff, 0x5d])), (e: Error) => e instanceof PgnError && e.reason === 'unknown encoding' && /first at byte 1/.test(e.message));
});

test('parses tags, strips comments and variations, keeps the main line and result', () => {
  const [game, second] = parsePgn([
    '[Event "Quote "inside" the value"]',
    '[Result "0-1"]',
    '',
    '1.炮二平五 {a comment} 馬８進７ (1... 炮８平５ 2. 馬二進三 (2. 馬八進七)) ; line comment',
    '2. 馬二進三 車９平８ 0-1',
    '[Event "second"]',
    '1. h2e2 h9g7 *',
  ].join('\n'));
  assert.equal(game!.tags.Event, 'Quote "inside" the value');
  assert.deepEqual(game!.moveTexts, ['炮二平五', '馬８進７', '馬二進三', '車９平８']);
  assert.equal(game!.result, '0-1');
  assert.equal(second!.tags.Event, 'second');
  assert.deepEqual(second!.moveTexts, ['h2e2', 'h9g7']);
  assert.equal(second!.result, '*');
});

test('replay validates every move and names the bad one', () => {
  const [game] = parsePgn(decodeRecord(BIG5_RECORD));
  const replayed = replay(game!);
  assert.equal(movesToIccs(replayed.moves), 'h2e2 h9g7 h0g2 i9h9');
  assert.equal(game!.result, '1-0');
  assert.throws(() => replay(parsePgn('1. 炮二平五 馬８進７ 2. 車一進二 車９進９')[0]!),
    (e: Error) => e instanceof PgnError && e.reason === 'illegal move' && /ply 4 "車９進９"/.test(e.message));
  assert.throws(() => replay(parsePgn('1. 炮二平五 跳馬')[0]!), (e: Error) => e instanceof PgnError && e.reason === 'unreadable move');
  assert.throws(() => replay(parsePgn('[FEN "9/9 w"]\n1. h2e2')[0]!), (e: Error) => e instanceof PgnError && e.reason === 'bad FEN');
});

test('moves written after a mate are dropped, not rejected', () => {
  // Black is mated by two chariots; the record then has black's general step into check.
  const [game] = parsePgn('[FEN "R3k4/R8/9/9/9/9/9/9/9/3K5 b - - 0 1"]\n1... 將５進１ 2. 車九平八');
  const replayed = replay(game!);
  assert.equal(replayed.moves.length, 0);
  assert.equal(replayed.droppedAfterEnd, 2);
});
