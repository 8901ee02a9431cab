// Regressions from the fault-injection pass (issue 23): each input here once hung, took quadratic
// time, polluted a prototype or overwrote an input. Every one must now end in a clear error or a
// correct result, quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TarError, readFiles } from '../../src/xiangqi/tar.ts';
import { buildCorpus } from '../../src/xiangqi/corpus.ts';
import { PgnError, decodeBig5Hkscs, parsePgn } from '../../src/xiangqi/pgn.ts';
import { FenError, Position } from '../../src/xiangqi/board.ts';
import { NotationError, parseMove } from '../../src/xiangqi/notation.ts';
import { FileError } from '../../src/util/files.ts';
import { readCorpus } from '../../src/xiangqi/player/dataset.ts';
import { writeSyntheticCorpus } from '../../src/xiangqi/player/synthetic.ts';
import { paxRecord, tarArchive, tarHeader } from './tar-fixtures.ts';
import { timeBound } from '../timeBound.ts';

const BIN = new URL('../../bin/bert4ts.js', import.meta.url).pathname;
const GAME = '[Result "1-0"]\n1. 炮二平五 馬８進７\n';

async function readAll(source: string, o: Parameters<typeof readFiles>[1] = {}): Promise<Array<{ path: string; data: Buffer }>> {
  const out = [];
  for await (const f of readFiles(source, o)) out.push(f);
  return out;
}

async function within<T>(ms: number, what: string, f: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  const r = await f();
  assert.ok(performance.now() - t0 < timeBound(ms), `${what} took ${(performance.now() - t0).toFixed(0)} ms (limit ${timeBound(ms)})`);
  return r;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'xq-hard-'));
}

test('tar: a pax record of negative length is a TarError (it used to loop forever)', async () => {
  const dir = tmp();
  try {
    const first = paxRecord('path', 'abc.pgn');
    const tar = join(dir, 'neg.tar');
    // The second record's length sends the reader back to the first one.
    writeFileSync(tar, tarArchive([{ name: 'pax', data: `${first}-${first.length} x=y\n`, type: 'x' }, { name: 'a.pgn', data: GAME }]));
    await within(2000, 'negative pax', () => assert.rejects(readAll(tar), (e) => e instanceof TarError && /corrupt pax header.*not a positive decimal/.test(e.message) && e.message.startsWith(tar)));
    // A good pax path still names the file.
    writeFileSync(tar, tarArchive([{ name: 'pax', data: paxRecord('path', '長/名.pgn'), type: 'x' }, { name: 'short.pgn', data: GAME }]));
    assert.deepEqual((await readAll(tar)).map((f) => f.path), ['長/名.pgn']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tar: a size field that is not octal, or a huge meta record, is a TarError naming the offset', async () => {
  const dir = tmp();
  try {
    const tar = join(dir, 'bad.tar');
    writeFileSync(tar, Buffer.concat([tarHeader('a.pgn', 'zzzzzzzzzzz\0'), Buffer.alloc(1024)]));
    await within(2000, 'bad size', () => assert.rejects(readAll(tar), /bad\.tar: corrupt tar header at byte 0: the size field .* is not an octal number/));
    writeFileSync(tar, Buffer.concat([tarHeader('pax', 0o77777777777, 'x'), Buffer.alloc(1024)]));
    await assert.rejects(readAll(tar), (e) => e instanceof TarError && /pax header; over the/.test(e.message));
    writeFileSync(tar, Buffer.concat([tarHeader('a.pgn', 100), Buffer.alloc(100)]));
    await assert.rejects(readAll(tar), /archive ends inside "a\.pgn"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tar.gz: a large member is read in linear time, one over the limit is skipped without being held, a bomb stops', async () => {
  const dir = tmp();
  try {
    // 30 MB of spaces gzips to ~30 kB: it used to take ~20 s (each chunk re-concatenated the pending bytes).
    const big = join(dir, 'big.tar.gz');
    writeFileSync(big, gzipSync(tarArchive([{ name: 'big.pgn', data: Buffer.alloc(30 << 20, 32) }, { name: 'a.pgn', data: GAME }])));
    const skipped: string[] = [];
    const files = await within(5000, '30 MB member', () => readAll(big, { onSkip: (p, why) => skipped.push(`${p}: ${why}`) }));
    assert.deepEqual(files.map((f) => f.path), ['a.pgn']);
    assert.match(skipped[0]!, /^big\.pgn: 30\.0 MiB, over the 16 MiB limit/);
    await assert.rejects(readAll(big), (e) => e instanceof FileError && /big\.tar\.gz: big\.pgn: 30\.0 MiB, over the 16 MiB limit/.test(e.message), 'without onSkip, a skipped file is an error');
    const read = await within(5000, '12 MB member', () => readAll(big, { maxFileBytes: 64 << 20 }));
    assert.equal(read[0]!.data.length, 30 << 20);
    await within(5000, 'bomb', () => assert.rejects(readAll(big, { maxTotalBytes: 8 << 20, onSkip: () => {} }), (e) => e instanceof TarError && /gzip bomb/.test(e.message)));
    writeFileSync(big, Buffer.from('1f8b0800000000000003ffff', 'hex'));
    await assert.rejects(readAll(big), (e) => e instanceof TarError && /big\.tar\.gz: gzip error/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('directories: FIFOs and devices are reported, never opened for reading; symlinks to files are followed, to directories not', async (t) => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'games/deep'), { recursive: true });
    writeFileSync(join(dir, 'games/a.pgn'), GAME);
    symlinkSync('/dev/zero', join(dir, 'games/zero.pgn'));
    symlinkSync(join(dir, 'games/a.pgn'), join(dir, 'games/link.pgn'));
    symlinkSync(dir, join(dir, 'games/deep/loop')); // a cycle if followed
    if (spawnSync('mkfifo', [join(dir, 'games/fifo.pgn')]).status !== 0) t.diagnostic('no mkfifo: FIFO case not built');
    const out = join(dir, 'out.jsonl');
    const report = await within(5000, 'corpus over a directory with a FIFO and /dev/zero', () => buildCorpus(dir, out, { silent: true, maxExamples: 10 }));
    const bad = report.rejected['not a regular file']!;
    assert.ok(bad.examples.some((e) => /^games\/zero\.pgn: a device/.test(e)), bad.examples.join('\n'));
    assert.ok(bad.examples.some((e) => /^games\/deep\/loop: a symlink to a directory, not followed/.test(e)));
    assert.equal(report.valid, 2, 'a.pgn and the symlink to it');
    await assert.rejects(readAll(join(dir, 'games/zero.pgn')), (e) => e instanceof FileError && /a device/.test(e.message), 'as the archive itself');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corpus: outputs are atomic and never an input; names from files cannot reach Object.prototype', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'in/__proto__'), { recursive: true });
    writeFileSync(join(dir, 'in/__proto__/a.pgn'), `[__proto__ "x"]\n[constructor "y"]\n${GAME}`);
    const out = join(dir, 'games.jsonl');
    const report = await buildCorpus(join(dir, 'in'), out, { silent: true, report: join(dir, 'report.json') });
    assert.equal(({} as Record<string, unknown>).records, undefined, 'Object.prototype untouched');
    assert.equal(report.byFolder['__proto__']!.written, 1);
    assert.equal(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).byFolder.__proto__.written, 1);
    const games = parsePgn(`[__proto__ "x"]\n[constructor "y"]\n1. h2e2`);
    assert.equal(games[0]!.tags['__proto__'], 'x');
    assert.equal(games[0]!.tags['constructor'], 'y');

    // Output = input (the archive, a file in the directory through a hard link) is refused before writing.
    const tar = join(dir, 'in.tar');
    writeFileSync(tar, tarArchive([{ name: 'a.pgn', data: GAME }]));
    await assert.rejects(buildCorpus(tar, tar, { silent: true }), /output is the input/);
    assert.equal(readFileSync(tar).length, 2048, 'input unchanged');
    linkSync(join(dir, 'in/__proto__/a.pgn'), join(dir, 'hard.pgn'));
    await assert.rejects(buildCorpus(join(dir, 'in'), join(dir, 'hard.pgn'), { silent: true }), /output is the input/);
    await assert.rejects(buildCorpus(tar, out, { silent: true, report: out }), /same file/);

    // A failing run leaves the previous output whole.
    const before = readFileSync(out, 'utf8');
    writeFileSync(join(dir, 'bad.tar'), Buffer.alloc(1024, 65));
    await assert.rejects(buildCorpus(join(dir, 'bad.tar'), out, { silent: true }), TarError);
    assert.equal(readFileSync(out, 'utf8'), before);

    // The CLI: output = input is bad usage (2), a corrupt archive a failure (1), both named.
    let r = spawnSync(process.execPath, [BIN, 'xiangqi', 'corpus', tar, '--out', tar, '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /output is the input/);
    r = spawnSync(process.execPath, [BIN, 'xiangqi', 'corpus', join(dir, 'bad.tar'), '--out', out, '--quiet'], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /bad\.tar: corrupt tar header at byte 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PGN: unterminated comments, blank-line floods and long move tokens are linear, with typed errors', async () => {
  await within(2000, 'unclosed braces', () => assert.throws(() => parsePgn('1. h2e2 ' + '{'.repeat(200_000)), (e) => e instanceof PgnError && e.reason === 'unterminated comment'));
  const nested = parsePgn('1. h2e2 ' + '('.repeat(100_000) + 'x' + ')'.repeat(100_000) + ' h9g7');
  assert.deepEqual(nested[0]!.moveTexts, ['h2e2', 'h9g7']);
  const flood = '\n'.repeat(100_000) + '[A "b"]\n'.repeat(100_000);
  assert.equal(await within(2000, 'blank lines then tags', () => parsePgn(flood).length), 1);
  assert.deepEqual(parsePgn('1. h2e2 {a (b} h9g7 ; c ) d\n 1-0')[0]!.moveTexts, ['h2e2', 'h9g7']);
  const pos = Position.start();
  for (const text of ['+'.repeat(100_000) + 'x', '炮' + '＋'.repeat(100_000) + '二', 'h2' + ' '.repeat(100_000) + 'e2']) {
    await within(500, 'long move text', () => assert.throws(() => parseMove(pos, text), NotationError));
  }
  assert.equal(await within(2000, 'big Big5 text', () => decodeBig5Hkscs(Buffer.alloc(4 << 20, 0x41)).length), 4 << 20);
});

test('FEN: counters beyond the undo stack, and huge FENs, are FenErrors with a bounded message', () => {
  assert.throws(() => Position.fromFen('4k4/9/9/9/9/9/9/9/9/4K4 w - - 99999999999 1'), (e) => e instanceof FenError && /halfmove clock must be an integer from 0/.test(e.message));
  assert.throws(() => Position.fromFen('4k4/9/9/9/9/9/9/9/9/4K4 w - - 0 1e300'), FenError);
  const huge = '9/'.repeat(100_000);
  assert.throws(() => Position.fromFen(huge), (e) => e instanceof FenError && e.message.length < 400);
  const pos = Position.fromFen('4k4/9/9/9/9/9/9/9/9/3K5 w - - 1000000000 1000000000');
  assert.equal(Position.fromFen(pos.fen()).fen(), pos.fen());
});

test('player inputs and outputs: the training corpus must be a regular file of ICCS lines; synthetic records are written atomically', async (t) => {
  const dir = tmp();
  try {
    assert.throws(() => readCorpus('/dev/zero'), (e) => e instanceof FileError && /a device/.test(e.message));
    if (spawnSync('mkfifo', [join(dir, 'fifo.jsonl')]).status === 0) {
      await within(2000, 'FIFO corpus', () => assert.throws(() => readCorpus(join(dir, 'fifo.jsonl')), /a FIFO/));
    } else t.diagnostic('no mkfifo');
    writeFileSync(join(dir, 'g.jsonl'), '{"id": "a", "iccs": "h2e2 h9g7"}\n{"id": "b", "iccs": "h2e2 zz99"}\n');
    assert.throws(() => readCorpus(join(dir, 'g.jsonl')), (e) => e instanceof FileError && /g\.jsonl:2: "zz99" is not an ICCS move/.test(e.message));
    writeFileSync(join(dir, 'g.jsonl'), 'null\n');
    assert.throws(() => readCorpus(join(dir, 'g.jsonl')), /g\.jsonl:1: a game needs string fields/);

    const out = join(dir, 'records.jsonl');
    writeFileSync(out, 'old\n');
    await writeSyntheticCorpus(out, { games: 2, seed: 1, maxPlies: 10, quiet: true });
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 2);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temp file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
