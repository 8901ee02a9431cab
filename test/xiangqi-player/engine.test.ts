// The UCI/UCCI engine, the terminal game, the baseline movers and model files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Position, moveToIccs } from '../../src/xiangqi/board.ts';
import { parseIccs, parseUci } from '../../src/xiangqi/notation.ts';
import { Player } from '../../src/xiangqi/player/player.ts';
import { runUci } from '../../src/xiangqi/player/uci.ts';
import { drawBoard, playInTerminal } from '../../src/xiangqi/player/terminal.ts';
import { capturedMaterial, freeCaptures, greedyMover, playGame, playMatch, randomMover, modelMover } from '../../src/xiangqi/player/match.ts';
import { loadPlayerModel, ModelFileError, savePlayerModel } from '../../src/xiangqi/player/model.ts';
import { FORMATS, moveFromIccs, VOCAB, type ContextFormat } from '../../src/xiangqi/player/vocab.ts';
import { writeSafetensors } from '../../src/checkpoint/safetensors.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';
import { tinyModel, TINY } from './fixtures.ts';

async function uci(player: Player, lines: string[]): Promise<string[]> {
  const out: string[] = [];
  await runUci(player, Readable.from(lines.map((l) => l + '\n')), (l) => out.push(l));
  return out;
}

test('UCI: handshake, positions with moves, bestmove in Fairy-Stockfish coordinates; UCCI in ICCS', async () => {
  const player = await Player.create(tinyModel(4));
  const out = await uci(player, ['uci', 'setoption name UCI_Variant value xiangqi', 'isready', 'ucinewgame', 'position startpos moves h3e3 h10g8', 'go movetime 500', 'quit', 'go']);
  const most = Player.maxHistory(player.model);
  assert.deepEqual(out.slice(0, 7), ['id name bert4ts xiangqi LM', 'id author bert4ts', 'option name UCI_Variant type combo default xiangqi var xiangqi',
    'option name Mode type combo default policy var policy var value var search var alphabeta', 'option name RuleChecks type check default true',
    `option name History type spin default ${most} min 0 max ${most}`, 'uciok']);
  assert.ok(out.includes('readyok'));
  const best = out.filter((l) => l.startsWith('bestmove '));
  assert.equal(best.length, 1, 'nothing after quit');
  const pos = Position.start();
  for (const m of ['h3e3', 'h10g8']) pos.play(parseUci(pos, m));
  assert.ok(pos.isLegal(parseUci(pos, best[0]!.slice(9))), `${best[0]} is legal for red`);

  const ucci = await uci(player, ['ucci', 'position fen rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1 moves h2e2', 'go depth 1']);
  assert.equal(ucci[2], 'ucciok');
  const move = ucci.find((l) => l.startsWith('bestmove '))!.slice(9);
  const p2 = Position.start();
  p2.play(parseIccs(p2, 'h2e2'));
  assert.ok(p2.isLegal(parseIccs(p2, move)), `${move} is a legal ICCS move for black`);
  await player.release();
});

// A random game (seeds 59/1059) that ends in 49 plies with black checkmated.
const MATED = ['h2h3', 'b7b0', 'h3h6', 'h9g7', 'b2b7', 'e6e5', 'b7b8', 'a6a5', 'b8b7', 'a9a8', 'h6h1', 'c6c5', 'b7b2', 'a8a9', 'b2c2', 'g9e7', 'i0i1', 'h7h9', 'a3a4', 'a9a6', 'c2b2', 'h9h3', 'h1b1', 'i9g9', 'b2d2', 'e5e4', 'b1e1', 'h3h1', 'd2h2', 'b0b3', 'h2h4', 'b3a3', 'e1e4', 'e7g5', 'e4b4', 'g5i7', 'b4g4', 'a3e3', 'g4g5', 'a6a7', 'g5g7', 'h1f1', 'h4f4', 'g9g8', 'g3g4', 'a7a9', 'f4e4', 'g8d8', 'g7e7'];

test('UCI: bad input is reported on info lines, a finished game answers bestmove (none)', async () => {
  const player = await Player.create(tinyModel(4));
  const out = await uci(player, ['uci', 'frobnicate', 'setoption name UCI_Variant value chess', 'position startpos moves h3e10', 'position sideways', 'ucci', `position startpos moves ${MATED.join(' ')}`, 'go']);
  assert.ok(out.includes('info string unknown command "frobnicate"'));
  assert.ok(out.includes('info string this engine only plays xiangqi, not "chess"'));
  assert.ok(out.some((l) => /^info string position ignored: illegal move "h3e10"/.test(l)));
  assert.ok(out.some((l) => /^info string position ignored: expected "position startpos\|fen/.test(l)));
  assert.equal(out[out.length - 1], 'nobestmove', 'UCCI says so with nobestmove');
  // History: the plies of moves shown after the board; out of range is named, and changes nothing.
  const history = await uci(player, ['setoption name History value 3', 'setoption name History value 999', 'setoption name History value two']);
  assert.equal(player.historyPlies, 3);
  assert.deepEqual(history, [`info string setoption History: historyPlies must be an integer from 0 to ${Player.maxHistory(player.model)} for this model, got 999`,
    `info string setoption History: historyPlies must be an integer from 0 to ${Player.maxHistory(player.model)} for this model, got NaN`]);
  await player.release();
});

test('UCI: after a rejected position, go plays nothing until a valid position arrives (no move for a stale board)', async () => {
  const player = await Player.create(tinyModel(4));
  const out = await uci(player, ['uci', 'position startpos moves h3e3', 'position startpos moves h3e3 h10e10', 'go', 'position fen nonsense', 'go', 'position startpos', 'go']);
  const answers = out.filter((l) => l.startsWith('bestmove'));
  assert.deepEqual(answers.slice(0, 2), ['bestmove (none)', 'bestmove (none)'], out.join('\n'));
  assert.ok(out.some((l) => /^info string no position to play from: the last "position" was rejected \(illegal move "h10e10"/.test(l)));
  assert.match(answers[2]!, /^bestmove [a-i](10|[1-9])[a-i](10|[1-9])$/, 'a valid position clears the error');
  const long = await uci(player, ['position startpos moves ' + 'h2e2 '.repeat(300_000), 'isready']);
  assert.deepEqual(long, ['info string line ignored: longer than 1048576 characters', 'readyok'], 'an endless line is dropped, not parsed');
  const ucci = await uci(player, ['ucci', 'position startpos moves z9z9', 'go depth 1', 'ucinewgame', 'go depth 1']);
  assert.equal(ucci.filter((l) => l === 'nobestmove').length, 1, 'UCCI answers nobestmove');
  assert.match(ucci[ucci.length - 1]!, /^bestmove [a-i][0-9][a-i][0-9]$/);
  await player.release();
});

test('terminal game: moves in three notations, errors named, the model answers legally', async () => {
  const player = await Player.create(tinyModel(6));
  let text = '';
  await playInTerminal(player, { side: 0, temperature: 0, colour: false, input: Readable.from(['h2e2\n', 'x9y9\n', 'hint\n', 'undo\n', 'undo\n', 'C2.5\n', 'quit\n']), output: { write: (s: string) => (text += s) } });
  assert.match(text, /You play h2e2 \/ C2\.5 \/ 炮二平五/);
  assert.match(text, /Model plays [a-i][0-9][a-i][0-9] \/ \S+ \/ \S{4} {2}\(p [\d.]+%/);
  assert.match(text, /"x9y9" is not a WXF move|not/);
  assert.match(text, /Nothing to undo\./);
  assert.equal((text.match(/Model plays/g) ?? []).length, 2);
  assert.match(text, /Bye\./);
  assert.match(drawBoard(Position.start(), { colour: false }), /^ {3}a {2}b/);
  assert.match(drawBoard(Position.start(), { colour: true }), /\x1b\[31;1m帥/);
  await player.release();
});

test('baselines: greedy takes the biggest capture; games end with a result; the model never plays an illegal move', async () => {
  const greedy = greedyMover(1);
  // Red's only capture is the black rook on i1, with the rook on i0.
  const capture = Position.fromFen('3k5/9/9/9/9/9/9/2p6/8r/3AK3R w - - 0 1');
  for (let i = 0; i < 5; i++) assert.equal(greedy.move(capture), parseIccs(capture, 'i0i1'), 'greedy takes the rook');
  const player = await Player.create(tinyModel(8));
  const model = modelMover(player);
  const f = await playMatch(model, randomMover(3), 2);
  assert.equal(f.wins + f.draws + f.losses, 2);
  assert.ok(model.thinkMs.length > 0);
  assert.equal(model.nodes.length, model.thinkMs.length, 'nodes are recorded per move, as the think time');
  assert.ok(model.nodes.every((n) => n === 1), 'the policy mode searches nothing beyond the root');
  const g = await playGame(greedyMover(5), randomMover(6), { maxPlies: 30 });
  assert.ok(g.plies <= 30 && g.moves.length === g.plies);
  // The cannon takes the horse (4) over the black cannon; the rook takes the cannon back (4.5).
  assert.deepEqual(capturedMaterial(['b2b9', 'a9b9', 'h2e2'].map(moveFromIccs)), [4, 4.5]);
  // The rook on a0 takes the horse on a5 for free; the rook on c0 can take the pawn on c4, but the black rook takes back.
  const offers = Position.fromFen('2r1k4/9/9/9/n8/2p6/9/9/9/R1R2K3 w - - 0 1');
  assert.deepEqual(freeCaptures(offers).map(moveToIccs), ['a0a5']);
  assert.ok(offers.legalMoves().map(moveToIccs).includes('c0c4'));
  await player.release();
});

test('model files: fp16 round trip plays the same; a missing or foreign file gets a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-model-'));
  const model = tinyModel(9);
  savePlayerModel(join(dir, 'fp32.safetensors'), model);
  savePlayerModel(join(dir, 'fp16.safetensors'), model, { dtype: 'float16', metadata: { step: '7' } });
  const half = loadPlayerModel(join(dir, 'fp16.safetensors'));
  assert.equal(half.metadata.step, '7');
  assert.deepEqual(half.config, model.config);
  const [a, b] = await Promise.all([Player.create(loadPlayerModel(join(dir, 'fp32.safetensors'))), Player.create(half)]);
  const pos = Position.start();
  const [ra, rb] = [await a.analyse(pos), await b.analyse(pos)];
  assert.deepEqual(ra.slice(0, 3).map((s) => s.iccs), rb.slice(0, 3).map((s) => s.iccs));
  assert.ok(Math.abs(ra[0]!.logProb - rb[0]!.logProb) < 0.01);
  await a.release();
  await b.release();
  assert.throws(() => loadPlayerModel(join(dir, 'nope.safetensors')), (e: unknown) => e instanceof ModelFileError && /no model file at .*nope\.safetensors: train one/.test((e as Error).message));
  writeFileSync(join(dir, 'foreign.safetensors'), Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{}')]));
  assert.throws(() => loadPlayerModel(join(dir, 'foreign.safetensors')), /no "config" in its metadata/);
});

test('model files keep their vocabulary: each format\'s is pinned; files without a format are moves-format; a different vocabulary is refused', () => {
  // Saved models are checked against these strings: the vocabulary may only grow at the end.
  const moves = '[PAD] 0 1 2 3 4 5 6 7 8 9 a b c d e f g h i [1-0] [0-1] [1/2-1/2] [*]';
  const vocabOf = (format: ContextFormat) => VOCAB.slice(0, FORMATS[format].vocabSize).join(' ');
  assert.equal(vocabOf('moves'), moves);
  assert.equal(vocabOf('position'), `${moves} [x] [red] [black]`);
  assert.equal(vocabOf('board'), `${moves} [x] [red] [black] [.] K A B N R C P k a b n r c p`);
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-vocab-'));
  const config = { ...TINY, vocabSize: FORMATS.moves.vocabSize };
  const legacy = tinyModel(2, config, 'moves');
  const tensors = legacy.store.names().map((n) => [n, legacy.store.get(n)!] as [string, HostTensor]);
  writeSafetensors(join(dir, 'legacy.safetensors'), tensors, { config: JSON.stringify(config), vocab: moves });
  assert.equal(loadPlayerModel(join(dir, 'legacy.safetensors')).format, 'moves');
  writeSafetensors(join(dir, 'other.safetensors'), tensors, { config: JSON.stringify(config), contextFormat: 'moves', vocab: moves.replace('[*]', '[?]') });
  assert.throws(() => loadPlayerModel(join(dir, 'other.safetensors')), /trained with a different vocabulary/);
  writeSafetensors(join(dir, 'future.safetensors'), tensors, { config: JSON.stringify(config), contextFormat: 'fen' });
  assert.throws(() => loadPlayerModel(join(dir, 'future.safetensors')), /unknown contextFormat "fen" \(expected moves, position, board\)/);
  assert.throws(() => savePlayerModel(join(dir, 'mismatch.safetensors'), { ...legacy, format: 'board' }), /a board-format model has a vocabulary of 42 tokens, this config has vocabSize 24/);
  // Sizes in a model's config decide what is built: checked, as is the file kind.
  writeSafetensors(join(dir, 'huge.safetensors'), tensors, { config: JSON.stringify({ ...config, numLayers: 1e9 }), contextFormat: 'moves' });
  assert.throws(() => loadPlayerModel(join(dir, 'huge.safetensors')), (e) => e instanceof ModelFileError && /config "numLayers" must be an integer from 1 to 256, got 1000000000/.test(e.message));
  writeSafetensors(join(dir, 'junk.safetensors'), tensors, { config: '{nope', contextFormat: 'moves' });
  assert.throws(() => loadPlayerModel(join(dir, 'junk.safetensors')), (e) => e instanceof ModelFileError && /"config" metadata is not JSON/.test(e.message));
  assert.throws(() => loadPlayerModel('/dev/zero'), (e) => e instanceof ModelFileError && /a device, not a regular file/.test(e.message));
});

test('a match resumes: game i is the same game whether or not the games before it were played', async () => {
  const all: string[] = [];
  await playMatch(greedyMover(5), randomMover(6), 5, (_i, g) => all.push(g.moves.map(moveToIccs).join(' ')), { first: 0 });
  const resumed: string[] = [];
  const f = await playMatch(greedyMover(5), randomMover(6), 5, (i, g) => resumed.push(`${i}`, g.moves.map(moveToIccs).join(' ')), { first: 3 });
  assert.equal(f.games, 2);
  assert.deepEqual(resumed, ['3', all[3], '4', all[4]]);
  assert.notEqual(all[3], all[4], 'the random mover plays other moves in other games');
  await assert.rejects(playMatch(greedyMover(5), randomMover(6), 5, undefined, { first: -1 }), /first must be a whole number/);
});
