import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const BIN = new URL('../../bin/bert4ts.js', import.meta.url).pathname;

/** Runs the real CLI in a child process (capturing stdout in-process would swallow the test reporter's output). */
function run(...argv: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

test('xiangqi perft prints the node count', async () => {
  const r = run('xiangqi', 'perft', 'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w', '3');
  assert.equal(r.code, 0);
  assert.equal(r.out, '79666\n');
  const unquoted = run('xiangqi', 'perft', ...'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR b - - 0 1'.split(' '), '2');
  assert.equal(unquoted.out, '1920\n', 'an unquoted FEN is joined back together');
  const divide = run('xiangqi', 'perft', 'startpos', '2', '--divide');
  assert.match(divide.out, /^h2e2: 45$/m);
  assert.match(divide.out, /^total: 1920$/m);
});

test('xiangqi: bad usage exits 2, bad FEN exits 1, both with a message', async () => {
  let r = run('xiangqi', 'perft', 'startpos', 'deep');
  assert.equal(r.code, 2);
  assert.match(r.err, /depth must be an integer/);
  r = run('xiangqi', 'perft', '9/9 w', '2');
  assert.equal(r.code, 1);
  assert.match(r.err, /invalid FEN "9\/9 w": expected 10 rows/);
  r = run('xiangqi', 'nope');
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown subcommand 'nope'/);
  r = run('xiangqi', 'corpus', 'somewhere');
  assert.equal(r.code, 2);
  assert.match(r.err, /--out <file.jsonl> is required/);
  r = run('xiangqi', 'perft', '--bogus');
  assert.equal(r.code, 2);
  r = run('xiangqi', '--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /perft/);
  assert.match(r.out, /corpus/);
  r = run('xiangqi', 'corpus', '--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /--out games\.jsonl/);
});

test('xiangqi corpus writes JSONL and prints the counts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'xq-cli-'));
  try {
    writeFileSync(join(dir, 'a.pgn'), '[Result "1-0"]\n1. 炮二平五 馬８進７ 1-0\n');
    writeFileSync(join(dir, 'b.pgn'), '[Result "1-0"]\n1. 炮二平五 馬８進８\n');
    const out = join(dir, 'games.jsonl');
    const r = run('xiangqi', 'corpus', dir, '--out', out, '--quiet', '--report', join(dir, 'report.json'));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /parsed and valid: +1 /);
    assert.match(r.out, /illegal move: 1/);
    assert.equal(JSON.parse(readFileSync(out, 'utf8')).iccs, 'h2e2 h9g7');
    assert.equal(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).written, 1);
    const missing = run('xiangqi', 'corpus', join(dir, 'nothing-here'), '--out', out);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
