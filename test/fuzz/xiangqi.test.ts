// Property-based fuzzing of every xiangqi input path: FEN, move notations, PGN (UTF-8 and Big5),
// tar / tar.gz, the corpus builder over a directory, and the UCI command loop. Inputs are valid ones
// mutated (bytes flipped, truncated, big numbers and junk spliced in) plus random ones. Every case must
// give a correct result or one of our typed errors, within a time bound, with memory bounded by its
// size; writers are checked by reading back what they wrote.
//
// Seeded, so a failure reproduces. BERT4TS_FUZZ_RUNS=N runs every property N times (long mode);
// the default counts keep this file to a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { FenError, IllegalMoveError, Position, START_FEN, moveToIccs, type Move } from '../../src/xiangqi/board.ts';
import { NotationError, formatMove, parseMove, type Notation } from '../../src/xiangqi/notation.ts';
import { PgnError, decodeBig5Hkscs, decodeRecord, parsePgn, replay } from '../../src/xiangqi/pgn.ts';
import { TarError, readFiles } from '../../src/xiangqi/tar.ts';
import { buildCorpus } from '../../src/xiangqi/corpus.ts';
import { UciEngine } from '../../src/xiangqi/player/uci.ts';
import type { Player } from '../../src/xiangqi/player/player.ts';
import { FileError } from '../../src/util/files.ts';
import { tarArchive, paxRecord } from '../xiangqi/tar-fixtures.ts';
import { timeBound } from '../timeBound.ts';

const LONG = Number(process.env.BERT4TS_FUZZ_RUNS) || 0;
const runs = (n: number) => (LONG > 0 ? LONG : n);
const params = (n: number, seed: number) => ({ numRuns: runs(n), seed, endOnFailure: true });
const TIME_LIMIT_MS = timeBound(2000);
const TYPED = [PgnError, FenError, NotationError, IllegalMoveError, TarError, FileError];

/** Runs one case: a result, or a typed error (anything else fails), within the time bound and with memory bounded by the input. */
async function bounded<T>(inputBytes: number, f: () => Promise<T> | T): Promise<T | Error> {
  const before = process.memoryUsage();
  const t0 = performance.now();
  let out: T | Error;
  try {
    out = await f();
  } catch (e) {
    if (!TYPED.some((k) => e instanceof k)) throw e;
    out = e as Error;
  }
  const ms = performance.now() - t0;
  assert.ok(ms < TIME_LIMIT_MS, `took ${ms.toFixed(0)} ms`);
  const after = process.memoryUsage();
  // Retained growth only (garbage may or may not have been collected): generous, so never flaky.
  const grown = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  assert.ok(grown < 256 * 2 ** 20 + 200 * inputBytes, `memory grew by ${(grown / 2 ** 20).toFixed(0)} MB for ${inputBytes} input bytes`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generators

/** A position reached by `plies` random legal moves (seeded), and the moves. */
function randomGame(seed: number, plies: number): { pos: Position; moves: Move[] } {
  const pos = Position.start();
  const moves: Move[] = [];
  let s = seed >>> 0 || 1;
  for (let i = 0; i < plies; i++) {
    const legal = pos.legalMoves();
    if (!legal.length) break;
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const m = legal[s % legal.length]!;
    pos.make(m);
    moves.push(m);
  }
  return { pos, moves };
}
const gameArb = fc.record({ seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }), plies: fc.integer({ min: 0, max: 120 }) });

const BIG = ['99999999999999999999', '-1', '0', '4294967296', '-2147483649', '1e309', 'NaN', '0x7fffffff', '777777777777', '\u0000', '\uffff', '__proto__'];

/** Mutations of a valid text: flip characters, truncate, splice in big numbers or junk. */
function mutateText(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant('flip' as const), at: fc.nat(), ch: fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }) }),
    fc.record({ k: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ k: fc.constant('splice' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...BIG), fc.string({ maxLength: 12, unit: 'binary' })) }),
    fc.record({ k: fc.constant('repeat' as const), at: fc.nat(), n: fc.integer({ min: 2, max: 2000 }), len: fc.integer({ min: 1, max: 4 }) }),
  );
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([s, edits]) => {
    for (const e of edits) {
      const at = s.length ? e.at % (s.length + 1) : 0;
      if (e.k === 'flip') s = s.slice(0, at) + e.ch + s.slice(at + 1);
      else if (e.k === 'cut') s = s.slice(0, at);
      else if (e.k === 'splice') s = s.slice(0, at) + e.text + s.slice(at);
      else s = s.slice(0, at) + s.slice(at, at + e.len).repeat(e.n) + s.slice(at + e.len);
    }
    return s;
  });
}

/** The same for bytes; numbers are spliced in as ASCII, so declared sizes and lengths get big or negative. */
function mutateBytes(base: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ k: fc.constant('write' as const), at: fc.nat(), text: fc.constantFrom(...BIG, '77777777777', '-0000000001', '0000000100\0', ' 1 path=\n') }),
  );
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([b0, edits]) => {
    let b = Buffer.from(b0);
    for (const e of edits) {
      const at = b.length ? e.at % b.length : 0;
      if (e.k === 'flip') { if (b.length) b[at] = e.byte; }
      else if (e.k === 'cut') b = b.subarray(0, at);
      else { b = Buffer.from(b); b.write(e.text, at, 'latin1'); }
    }
    return b;
  });
}

const NOTATIONS: Array<[Notation, Parameters<typeof formatMove>[3]]> = [
  ['iccs', undefined], ['uci', undefined], ['wxf', undefined], ['chinese', {}], ['chinese', { script: 'simplified', blackDigits: 'arabic' }],
];

/** A game record in PGN, moves in Chinese (traditional), with comments and a variation. */
function pgnOf(seed: number, plies: number): { text: string; moves: Move[] } {
  const { moves } = randomGame(seed, plies);
  const pos = Position.start();
  const parts: string[] = [];
  for (const [i, m] of moves.entries()) {
    if (i % 2 === 0) parts.push(`${i / 2 + 1}.`);
    parts.push(formatMove(pos, m, 'chinese'));
    if (i === 3) parts.push('{好棋 (comment)}', '(炮八平五 ; skipped\n)');
    pos.make(m);
  }
  return { text: `[Event "fuzz ${seed}"]\n[Red "紅方"]\n[Black "黑方"]\n[Result "*"]\n\n${parts.join(' ')} *\n`, moves };
}

let big5Encoder: Map<string, number[]> | undefined;
/** Big5 bytes for text whose characters are all in Big5 (built once from our decoder). */
function toBig5(text: string): Buffer {
  if (!big5Encoder) {
    big5Encoder = new Map();
    for (let lead = 0xa1; lead <= 0xf9; lead++) {
      for (const trail of [...Array(63).keys()].map((i) => 0x40 + i).concat([...Array(94).keys()].map((i) => 0xa1 + i))) {
        try {
          const ch = decodeBig5Hkscs(Uint8Array.of(lead, trail));
          if (!big5Encoder.has(ch)) big5Encoder.set(ch, [lead, trail]);
        } catch { /* unmapped */ }
      }
    }
  }
  const out: number[] = [];
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) out.push(ch.charCodeAt(0));
    else out.push(...big5Encoder.get(ch)!);
  }
  return Buffer.from(out);
}

const pgnArb = fc.record({ seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }), plies: fc.integer({ min: 1, max: 40 }) }).map(({ seed, plies }) => pgnOf(seed, plies).text);

const sameMoves = (a: Move[], b: Move[]) => assert.deepEqual(a.map(moveToIccs), b.map(moveToIccs));

// ---------------------------------------------------------------------------------------------
// FEN and notations

test('FEN: positions of random play round-trip; mutated FENs parse to a round-tripping position or a FenError', async () => {
  await fc.assert(fc.asyncProperty(gameArb, async ({ seed, plies }) => {
    const fen = randomGame(seed, plies).pos.fen();
    assert.equal(Position.fromFen(fen).fen(), fen);
  }), params(500, 2301));
  const fenArb = mutateText(gameArb.map(({ seed, plies }) => randomGame(seed, plies).pos.fen()));
  await fc.assert(fc.asyncProperty(fc.oneof(fenArb, fc.string({ maxLength: 200 })), async (fen) => {
    const r = await bounded(fen.length, () => Position.fromFen(fen));
    if (r instanceof Position) assert.equal(Position.fromFen(r.fen()).fen(), r.fen());
  }), params(3000, 2302));
});

test('notations: every legal move of random positions, written in each notation, reads back as the same move', async () => {
  await fc.assert(fc.asyncProperty(gameArb, async ({ seed, plies }) => {
    const { pos } = randomGame(seed, plies);
    for (const m of pos.legalMoves()) {
      for (const [notation, style] of NOTATIONS) {
        const text = formatMove(pos, m, notation, style);
        assert.equal(moveToIccs(parseMove(pos, text, notation)), moveToIccs(m), `${notation} "${text}" in ${pos.fen()}`);
      }
    }
  }), params(80, 2303));
});

test('notations: mutated and random move texts give a legal move or a NotationError / IllegalMoveError', async () => {
  const moveText = gameArb.chain(({ seed, plies }) => {
    const { pos } = randomGame(seed, plies);
    const legal = pos.legalMoves();
    const texts = legal.length ? NOTATIONS.map(([n, s]) => formatMove(pos, legal[seed % legal.length]!, n, s)) : ['h2e2'];
    return fc.tuple(fc.constant(pos), fc.oneof(mutateText(fc.constantFrom(...texts)), fc.string({ maxLength: 40 }), fc.string({ maxLength: 8, unit: 'grapheme' })));
  });
  await fc.assert(fc.asyncProperty(moveText, fc.constantFrom<Notation | undefined>(undefined, 'iccs', 'uci', 'wxf', 'chinese'), async ([pos, text], notation) => {
    const before = pos.fen();
    const r = await bounded(text.length, () => parseMove(pos, text, notation));
    if (typeof r === 'number') assert.ok(pos.isLegal(r), `"${text}" read as illegal ${moveToIccs(r)}`);
    assert.equal(pos.fen(), before, 'parsing leaves the position alone');
  }), params(3000, 2304));
});

// ---------------------------------------------------------------------------------------------
// PGN

test('PGN: records of random games (UTF-8 and Big5) replay to the same moves', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 60 }), fc.boolean(), async (seed, plies, big5) => {
    const { text, moves } = pgnOf(seed, plies);
    const bytes = big5 ? toBig5(text) : Buffer.from(text);
    const games = parsePgn(decodeRecord(bytes));
    assert.equal(games.length, 1);
    assert.equal(games[0]!.tags.Red, '紅方');
    sameMoves(replay(games[0]!).moves, moves);
  }), params(300, 2305));
});

test('PGN: mutated records, mutated Big5 bytes and random bytes give games or a PgnError', async () => {
  const bytes = fc.oneof(
    mutateText(pgnArb).map((t) => Buffer.from(t)),
    mutateBytes(pgnArb.map((t) => toBig5(t))),
    fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
    // Big5-shaped noise: lead bytes with valid and invalid trails.
    fc.array(fc.tuple(fc.integer({ min: 0x81, max: 0xfe }), fc.integer({ min: 0, max: 255 })), { maxLength: 200 }).map((p) => Buffer.from(p.flat())),
  );
  await fc.assert(fc.asyncProperty(bytes, async (data) => {
    await bounded(data.length, () => {
      for (const game of parsePgn(decodeRecord(data))) {
        try {
          const r = replay(game);
          assert.ok(r.moves.length <= game.moveTexts.length);
        } catch (e) {
          if (!(e instanceof PgnError)) throw e;
        }
      }
    });
  }), params(1500, 2306));
});

// ---------------------------------------------------------------------------------------------
// tar, tar.gz and the corpus builder

const work = mkdtempSync(join(tmpdir(), 'xq-fuzz-'));
let caseNo = 0;
test.after(() => rmSync(work, { recursive: true, force: true }));

const entryArb = fc.record({
  name: fc.oneof(fc.stringMatching(/^[a-z]{1,12}(\/[a-z]{1,12}){0,2}\.pgn$/), fc.constant(`長/${'x'.repeat(120)}.pgn`)),
  data: fc.oneof(pgnArb, fc.string({ maxLength: 300 })),
});

/** A valid archive: pax path records for long names, as tar --format=pax writes them. */
function archiveOf(entries: Array<{ name: string; data: string }>): Buffer {
  return tarArchive(entries.flatMap((e) => (Buffer.byteLength(e.name) > 100 ? [{ name: 'PaxHeader', data: paxRecord('path', e.name), type: 'x' }] : []).concat([{ name: Buffer.byteLength(e.name) > 100 ? 'long' : e.name, data: e.data, type: '0' }])));
}

async function readAll(path: string): Promise<Array<{ path: string; data: string }>> {
  const out = [];
  for await (const f of readFiles(path, { onSkip: () => {} })) out.push({ path: f.path, data: f.data.toString() });
  return out;
}

test('tar / tar.gz: archives of random files read back exactly', async () => {
  await fc.assert(fc.asyncProperty(fc.array(entryArb, { maxLength: 6 }), fc.boolean(), async (entries, gz) => {
    const path = join(work, `ok-${caseNo++}.tar${gz ? '.gz' : ''}`);
    const tar = archiveOf(entries);
    writeFileSync(path, gz ? gzipSync(tar) : tar);
    assert.deepEqual((await readAll(path)).map((f) => [f.path, f.data]), entries.map((e) => [e.name, e.data]));
  }), params(300, 2307));
});

test('tar / tar.gz: mutated archives (sizes, pax lengths, checksums made valid again) end in files or a TarError', async () => {
  const headerEdit = fc.record({
    field: fc.constantFrom([124, 12], [0, 100], [156, 1], [148, 8]),
    text: fc.constantFrom(...BIG, '77777777777\0', '-0000000001', '0000001000\0', '\x80\0\0\0\0\0\0\0\x01\0\0\0', '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff', 'x', 'L', 'g'),
    fix: fc.boolean(),
  });
  const archives = fc.tuple(fc.array(entryArb, { minLength: 1, maxLength: 4 }), fc.array(headerEdit, { maxLength: 3 }), fc.nat()).map(([entries, edits, which]) => {
    const tar = archiveOf(entries);
    const headers: number[] = [];
    for (let at = 0; at + 512 <= tar.length;) {
      headers.push(at);
      if (tar.subarray(at, at + 512).every((b) => b === 0)) break;
      at += 512 + Math.ceil((parseInt(tar.subarray(at + 124, at + 135).toString('latin1'), 8) || 0) / 512) * 512;
    }
    const at = headers[which % headers.length]!;
    for (const e of edits) {
      const [off, len] = e.field as [number, number];
      tar.fill(0, at + off, at + off + len);
      tar.write(e.text, at + off, len, 'latin1');
      if (e.fix) { // recompute the checksum, so the bad field itself is what the reader meets
        tar.fill(32, at + 148, at + 156);
        let sum = 0;
        for (let i = at; i < at + 512; i++) sum += tar[i]!;
        tar.write(sum.toString(8).padStart(6, '0') + '\0 ', at + 148, 'latin1');
      }
    }
    return tar;
  });
  const pax = fc.tuple(fc.array(fc.oneof(fc.constantFrom('-12 path=x\n', '0 x=\n', '99999999999 path=a\n', '5 a=b\n', '3 \n'), fc.string({ maxLength: 20 })), { maxLength: 4 }), entryArb)
    .map(([records, e]) => tarArchive([{ name: 'PaxHeader', data: paxRecord('path', 'a.pgn') + records.join(''), type: 'x' }, { name: e.name, data: e.data }]));
  const inputs = fc.oneof(archives, pax, mutateBytes(fc.array(entryArb, { maxLength: 3 }).map(archiveOf)), fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)));
  await fc.assert(fc.asyncProperty(inputs, fc.boolean(), fc.boolean(), async (tar, gz, mutateGz) => {
    let data = gz ? gzipSync(tar) : tar;
    if (gz && mutateGz && data.length > 20) { data = Buffer.from(data); data[10 + (tar.length % (data.length - 10))]! ^= 0x55; }
    const path = join(work, `bad-${caseNo++}.tar${gz ? '.gz' : ''}`);
    writeFileSync(path, data);
    const r = await bounded(tar.length, () => readAll(path));
    if (r instanceof Error) assert.ok(r.message.includes(path), `the error names the archive: ${r.message}`);
  }), params(1500, 2308));
});

const hashTree = (dir: string): string => {
  const h = createHash('sha1');
  const walk = (d: string) => { for (const n of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) { const p = join(d, n.name); if (n.isDirectory()) walk(p); else h.update(p).update(readFileSync(p)); } };
  walk(dir);
  return h.digest('hex');
};

test('corpus over a directory of valid, mutated and random records: counts add up, output replays, inputs unchanged', async () => {
  const file = fc.record({
    name: fc.stringMatching(/^(__proto__|constructor|[a-z]{1,6})(\/[a-z]{1,6})?\.(pgn|txt)$/),
    data: fc.oneof(pgnArb.map((t) => Buffer.from(t)), pgnArb.map(toBig5), mutateText(pgnArb).map((t) => Buffer.from(t)), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a))),
  });
  await fc.assert(fc.asyncProperty(fc.uniqueArray(file, { maxLength: 8, selector: (f) => f.name.split('/')[0]!.replace(/\..*/, '') }), async (files) => {
    const root = join(work, `tree-${caseNo++}`);
    const input = join(root, 'in');
    mkdirSync(input, { recursive: true });
    for (const f of files) {
      mkdirSync(join(input, f.name, '..'), { recursive: true });
      writeFileSync(join(input, f.name), f.data);
    }
    const before = hashTree(input);
    const out = join(root, 'games.jsonl');
    const size = files.reduce((n, f) => n + f.data.length, 0);
    const r = await bounded(size, () => buildCorpus(input, out, { silent: true, report: join(root, 'report.json') }));
    assert.ok(!(r instanceof Error), String(r));
    assert.equal(hashTree(input), before, 'inputs unchanged');
    assert.equal(r.valid, r.written + r.duplicates);
    assert.equal(r.records, r.valid + Object.values(r.rejected).reduce((n, x) => n + x.count, 0));
    assert.equal(({} as Record<string, unknown>).records, undefined, 'Object.prototype untouched');
    const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, r.written);
    for (const line of lines) {
      const g = JSON.parse(line) as { iccs: string; fen?: string; plies: number };
      const pos = Position.fromFen(g.fen ?? START_FEN);
      for (const m of g.iccs.split(' ')) pos.play(parseMove(pos, m, 'iccs'));
      assert.equal(pos.ply, g.plies);
    }
    rmSync(root, { recursive: true, force: true });
  }), params(100, 2309));
});

// ---------------------------------------------------------------------------------------------
// UCI

/** Stands in for the network: plays the first legal move (the command loop is under test, not the model). */
const stubPlayer = {
  async choose(pos: Position) {
    const legal = pos.legalMoves();
    return { move: legal[0]!, candidates: legal.map((move, i) => ({ move, probability: i ? 0 : 1 })), thinkMs: 0 };
  },
} as unknown as Player;

test('UCI: random command lines never crash or hang; go answers once, for the last accepted position only', async () => {
  const moveWord = fc.oneof(fc.stringMatching(/^[a-i](10|[1-9])[a-i](10|[1-9])$/), fc.stringMatching(/^[a-i][0-9][a-i][0-9]$/), fc.string({ maxLength: 6 }));
  const line = fc.oneof(
    fc.constantFrom('uci', 'ucci', 'isready', 'ucinewgame', 'go', 'go depth 3', 'stop', 'ponderhit', 'setoption name UCI_Variant value xiangqi', 'setoption name Hash value 16', 'setoption', ''),
    fc.tuple(fc.constantFrom('position startpos', 'position fen', 'position', 'position startpos moves', 'position fen 4k4/9/9/9/9/9/9/9/9/4K4 w moves'), fc.array(moveWord, { maxLength: 6 })).map(([a, ms]) => `${a} ${ms.join(' ')}`),
    gameArb.map(({ seed, plies }) => { const { moves } = randomGame(seed, plies); return `position startpos moves ${moves.map(moveToIccs).join(' ')}`; }),
    mutateText(fc.constant(`position fen ${START_FEN} moves h2e2`)),
    fc.string({ maxLength: 40 }),
  );
  await fc.assert(fc.asyncProperty(fc.array(line, { maxLength: 16 }), async (lines) => {
    const out: string[] = [];
    const engine = new UciEngine(stubPlayer, (l) => out.push(l));
    // Our own model of the engine: protocol, and the position (undefined after a rejected one).
    let protocol: 'uci' | 'ucci' = 'uci';
    let pos: Position | undefined = Position.start();
    await bounded(lines.join('\n').length, async () => {
      for (const l of lines) {
        const cmd = l.trim().split(/\s+/)[0];
        const n = out.length;
        assert.equal(await engine.handle(l), cmd !== 'quit');
        const said = out.slice(n);
        if (cmd === 'uci' || cmd === 'ucci') protocol = cmd;
        if (cmd === 'ucinewgame') pos = Position.start();
        if (cmd === 'position') pos = said.some((s) => s.startsWith('info string position ignored')) ? undefined : oracle(l, protocol);
        if (cmd !== 'go') { assert.ok(!said.some((s) => /^(no)?bestmove/.test(s)), `"${l}" answered ${said.join(' | ')}`); continue; }
        const answers = said.filter((s) => /^(no)?bestmove/.test(s));
        assert.equal(answers.length, 1, `go answers once: ${said.join(' | ')}`);
        const none = protocol === 'uci' ? 'bestmove (none)' : 'nobestmove';
        if (!pos || !pos.hasLegalMove()) assert.equal(answers[0], none);
        else assert.equal(answers[0], `bestmove ${protocol === 'uci' ? formatMove(pos, pos.legalMoves()[0]!, 'uci') : moveToIccs(pos.legalMoves()[0]!)}`);
      }
    });
  }), params(1000, 2310));
});

/** The position a valid `position` command sets, read independently of the engine. */
function oracle(line: string, protocol: 'uci' | 'ucci'): Position {
  const args = line.trim().split(/\s+/).slice(1);
  const at = args.indexOf('moves');
  const spec = at < 0 ? args : args.slice(0, at);
  const pos = spec[0] === 'startpos' ? Position.start() : Position.fromFen(spec.slice(1).join(' ') || START_FEN);
  for (const m of at < 0 ? [] : args.slice(at + 1)) pos.play(parseMove(pos, m, protocol === 'uci' ? 'uci' : 'iccs'));
  return pos;
}
