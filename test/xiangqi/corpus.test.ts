import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCorpus, formatReport } from '../../src/xiangqi/corpus.ts';
import { readFiles } from '../../src/xiangqi/tar.ts';

const BIG5_RECORD = Buffer.from('5b4576656e742022b4fab8d5225d0a5b5265642022a766b4dc225d0a0a312e20acb6a447a5ada4ad20b0a8a2b7b669a2b60a322e20b0a8a447b669a45420a8aea2b8a5ada2b70a312d300a', 'hex');
const STANDARD = 'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1';

/** A small tree of records covering every outcome the builder reports. */
function makeFixture(): string {
  const root = mkdtempSync(join(tmpdir(), 'xq-corpus-'));
  const put = (path: string, data: string | Buffer) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  put('games/b.pgn', BIG5_RECORD); // kept: Big5, standard start
  put('games/a.pgn', `[Event "first"]\n[Date "1999"]\n[Red "R"]\n[Black "B"]\n[ECCO "A00"]\n[Result "1-0"]\n[FEN "${STANDARD}"]\n\n1. 炮二平五 馬８進７ 2. 馬二進三 車９平８ 1-0\n`); // same moves as b: a sorts first and is kept
  put('games/c.pgn', '[Result "0-1"]\n1. 炮二平五 馬８進７ 2. 車一進二 車９進９\n'); // illegal at ply 4
  put('games/d.pgn', Buffer.from([0x5b, 0xff, 0xfe, 0x5d])); // neither UTF-8 nor Big5
  put('games/e.pgn', '[Event "empty"]\n[Result "*"]\n');
  put('endgames/f.pgn', '[Result "1-0"]\n[FEN "4k4/1R7/9/9/9/9/9/9/9/R2K5 w - - 0 1"]\n1. 車九進九\n'); // mate in one
  put('notes.txt', 'not a record');
  return root;
}

test('buildCorpus validates, dedupes, reports and writes deterministic JSONL', async () => {
  const root = makeFixture();
  try {
    const out1 = join(root, 'out1.jsonl'), out2 = join(root, 'out2.jsonl');
    const report = await buildCorpus(root, out1, { silent: true });
    await buildCorpus(root, out2, { silent: true });
    assert.equal(readFileSync(out1, 'utf8'), readFileSync(out2, 'utf8'), 'same input, same output');
    const games = readFileSync(out1, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(report.files, 7);
    assert.equal(report.skippedFiles, 1);
    assert.equal(report.records, 6);
    assert.equal(report.valid, 3);
    assert.equal(report.duplicates, 1);
    assert.equal(report.written, 2);
    assert.deepEqual(Object.fromEntries(Object.entries(report.rejected).map(([k, v]) => [k, v.count])), { 'illegal move': 1, 'unknown encoding': 1, 'no moves': 1 });
    assert.match(report.rejected['illegal move']!.examples[0]!, /games\/c\.pgn: ply 4 "車９進９"/);
    assert.deepEqual(report.fullGames, { records: 4, valid: 2, duplicates: 1, written: 1 });

    const opening = games.find((g) => !g.fen)!, endgame = games.find((g) => g.fen)!;
    assert.deepEqual(games.map((g) => g.source), ['endgames/f.pgn', 'games/a.pgn'], 'sorted by source path');
    assert.equal(opening.source, 'games/a.pgn', 'of two identical games the one whose path sorts first is kept');
    assert.equal(opening.iccs, 'h2e2 h9g7 h0g2 i9h9');
    assert.equal(opening.fen, undefined, 'standard start has no fen');
    assert.deepEqual([opening.result, opening.event, opening.date, opening.red, opening.black, opening.ecco, opening.plies], ['1-0', 'first', '1999', 'R', 'B', 'A00', 4]);
    assert.match(opening.id, /^[0-9a-f]{16}$/);
    assert.equal(endgame.fen, '4k4/1R7/9/9/9/9/9/9/9/R2K5 w - - 0 1');
    assert.equal(endgame.iccs, 'a0a9');
    assert.equal(endgame.end, 'checkmate');
    assert.match(formatReport(report), /illegal move: 1/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('readFiles reads tar.gz archives (long and non-ASCII names) like the directory', async (t) => {
  if (spawnSync('tar', ['--version']).status !== 0) return t.skip('no tar command to build a test archive');
  const root = makeFixture();
  try {
    const deep = `games/${'長'.repeat(40)}/${'x'.repeat(60)}.pgn`; // > 100 bytes: needs GNU or pax long names
    mkdirSync(join(root, deep, '..'), { recursive: true });
    writeFileSync(join(root, deep), '1. h2e2\n');
    const fromDir: string[] = [];
    for await (const f of readFiles(root)) fromDir.push(`${f.path}:${f.data.toString('hex')}`);
    for (const format of ['gnu', 'pax']) {
      const archive = join(tmpdir(), `xq-${format}-${process.pid}.tar.gz`);
      const r = spawnSync('tar', ['-czf', archive, `--format=${format}`, '-C', root, '.']);
      assert.equal(r.status, 0, String(r.stderr));
      const fromTar: string[] = [];
      for await (const f of readFiles(archive)) fromTar.push(`${f.path.replace(/^\.\//, '')}:${f.data.toString('hex')}`);
      rmSync(archive);
      assert.deepEqual(fromTar.sort(), fromDir.sort(), format);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('readFiles: a truncated or non-tar file is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xq-tar-'));
  try {
    const bogus = join(dir, 'bogus.tar');
    writeFileSync(bogus, Buffer.alloc(1024, 65));
    await assert.rejects(async () => { for await (const _ of readFiles(bogus)); }, /corrupt tar header/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
