// Checks against the shared real data (../shared/data/xiangqi): the perft reference counts and a
// sample of the CCPD game records. Skipped, with the reason, when the data is not there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Position } from '../../src/xiangqi/board.ts';
import { parsePerftFile } from '../../src/xiangqi/perft.ts';
import { decodeRecord, parsePgn, replay } from '../../src/xiangqi/pgn.ts';
import { formatMove } from '../../src/xiangqi/notation.ts';
import { readFiles } from '../../src/xiangqi/tar.ts';

const DATA = new URL('../../../shared/data/xiangqi/', import.meta.url);
const PERFT = new URL('perft.txt', DATA);
const ARCHIVE = new URL('ccpd.tar.gz', DATA);
const MAX_TEST_DEPTH = 4; // deeper counts are for the benchmark

test('perft counts of every position in perft.txt up to depth 4', (t) => {
  if (!existsSync(PERFT)) return t.skip(`shared data not found: ${PERFT.pathname}`);
  const cases = parsePerftFile(readFileSync(PERFT, 'utf8'));
  assert.ok(cases.length >= 3);
  let checked = 0;
  for (const { fen, counts, line } of cases) {
    const pos = Position.fromFen(fen);
    for (const [depth, expected] of counts) {
      if (depth > MAX_TEST_DEPTH) continue;
      assert.equal(pos.perft(depth), expected, `perft.txt line ${line}, depth ${depth}: ${fen}`);
      checked++;
    }
  }
  assert.ok(checked >= 9, `only ${checked} counts at depth <= ${MAX_TEST_DEPTH}`);
});

test('CCPD sample: records replay legally and our Chinese notation matches the records', async (t) => {
  if (!existsSync(ARCHIVE)) return t.skip(`shared data not found: ${ARCHIVE.pathname}`);
  let records = 0, valid = 0, moves = 0, sameText = 0;
  for await (const file of readFiles(ARCHIVE.pathname)) {
    if (!file.path.endsWith('.pgn')) continue;
    if (++records > 1500) break;
    const [game] = parsePgn(decodeRecord(file.data));
    let replayed;
    try { replayed = replay(game!); } catch { continue; }
    valid++;
    // Write every move back in Chinese and compare with the record. Records sometimes name one of
    // two pieces on a file by the file (炮九進三) where the standard form, which we write, is 前炮進三.
    const pos = Position.fromFen(replayed.fen);
    replayed.moves.forEach((m, i) => {
      const ours = formatMove(pos, m, 'chinese');
      const theirs = game!.moveTexts[i]!;
      moves++;
      if (ours === theirs) sameText++;
      else assert.ok(/^[前後中一二三四五]/.test(ours) && ours.slice(2) === theirs.slice(2), `${file.path} ply ${i + 1}: we write ${ours}, the record has ${theirs}`);
      pos.make(m);
    });
  }
  assert.ok(valid / Math.min(records, 1500) >= 0.99, `${valid} of ${records} records valid`);
  assert.ok(sameText / moves > 0.95, `${sameText} of ${moves} moves written identically`);
});
