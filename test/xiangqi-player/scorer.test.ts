// The cached, batched move scorer against the plain definition (one full forward per move).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { input } from '../../src/graph/ops.ts';
import { ParamStore, Scope } from '../../src/nn/params.ts';
import { gpt2, type GPT2Config } from '../../src/models/gpt2.ts';
import { compile } from '../../src/runtime/session.ts';
import { Position, moveToIccs } from '../../src/xiangqi/board.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';
import { fitContext, MoveScorer } from '../../src/xiangqi/player/scorer.ts';
import { Player, playableMoves } from '../../src/xiangqi/player/player.ts';
import { tinyModel, TINY } from './fixtures.ts';
import { iccsTokens, moveTokens, RED_WINS, BLACK_WINS, UNKNOWN_RESULT, FORMATS } from '../../src/xiangqi/player/vocab.ts';

const V = FORMATS.moves.vocabSize;
const config: GPT2Config = { vocabSize: V, hiddenSize: 32, numLayers: 2, numHeads: 4, intermediateSize: 64, maxPosition: 64 };

function randomModel(seed: number) {
  const store = new ParamStore(seed);
  gpt2(new Scope(store), config, { ids: input('ids', 'int64', ['batch', 'seq']) }); // creates the seeded weights
  return { config, format: 'moves' as const, store, metadata: {} };
}

async function referenceLogProb(store: ParamStore, context: number[], move: string): Promise<number> {
  const seq = [...context, ...iccsTokens(move)];
  const logits = gpt2(new Scope(store), config, { ids: input('ids', 'int64', [1, 'seq']) }).logits;
  const exe = await compile({ logits }, { params: 'initializers', paramValue: (n) => store.get(n) });
  const out = (await exe.run({ ids: { dtype: 'int64', shape: [1, seq.length], data: BigInt64Array.from(seq, BigInt) } })).logits!.data as Float32Array;
  let lp = 0;
  for (let t = context.length - 1; t < seq.length - 1; t++) {
    const row = Array.from(out.subarray(t * V, (t + 1) * V));
    const max = Math.max(...row);
    const logZ = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
    lp += row[seq[t + 1]!]! - logZ;
  }
  return lp;
}

test('scores every legal move as the sum of its 4 characters\' log-probabilities (matches a full forward pass)', async () => {
  const model = randomModel(3);
  const scorer = await MoveScorer.create(model);
  const pos = Position.start();
  for (const m of ['h2e2', 'h9g7']) pos.play(parseIccs(pos, m));
  const context = [RED_WINS, ...iccsTokens('h2e2'), ...iccsTokens('h9g7')];
  const legal = pos.legalMoves();
  const scored = await scorer.score(context, legal);
  assert.equal(scored.length, legal.length);
  assert.deepEqual(new Set(scored.map((s) => s.move)), new Set(legal));
  for (let i = 1; i < scored.length; i++) assert.ok(scored[i - 1]!.logProb >= scored[i]!.logProb, 'best first');
  const total = scored.reduce((s, m) => s + m.probability, 0);
  assert.ok(Math.abs(total - 1) < 1e-9, `probabilities over legal moves sum to ${total}`);
  for (const s of [scored[0]!, scored[7]!, scored[scored.length - 1]!]) {
    const want = await referenceLogProb(model.store, context, s.iccs);
    assert.ok(Math.abs(s.logProb - want) < 1e-4, `${s.iccs}: cached ${s.logProb} vs full ${want}`);
  }
  await scorer.release();
});

test('a context longer than the window keeps the result token and the latest whole move pairs', () => {
  const ctx = [BLACK_WINS, ...Array.from({ length: 20 }, (_, i) => (i % 19) + 1)]; // 1 + 5 moves
  const fitted = fitContext(ctx, 14);
  assert.equal(fitted[0], BLACK_WINS);
  assert.equal(fitted.length, 1 + 12); // dropped 2 moves = 8 tokens; 1 + 12 <= 14
  assert.deepEqual(fitted.slice(1), ctx.slice(9));
  assert.equal(fitContext(ctx, 40), ctx);
});

test('a moves-format player fits a long game into the window; the scorer refuses a context that does not fit', async () => {
  const player = await Player.create(randomModel(9));
  const pos = Position.start();
  for (let ply = 0; ply < 30; ply++) pos.play((await player.choose(pos)).move);
  const ctx = player.context(pos);
  assert.ok(ctx.length <= player.scorer.maxContext && ctx.length > player.scorer.maxContext - 8, `${ctx.length} tokens`);
  assert.equal(ctx[0], RED_WINS);
  assert.deepEqual(ctx.slice(-4), moveTokens(pos.history()[29]!));
  const tooLong = [RED_WINS, ...pos.history().flatMap(moveTokens)];
  await assert.rejects(player.scorer.score(tooLong, pos.legalMoves()), /does not fit the model's window/);
  await player.release();
});

test('the player only plays legal moves, conditions on the side to move, and samples with a temperature', async () => {
  const player = await Player.create(randomModel(5));
  const pos = Position.start();
  assert.deepEqual(player.context(pos), [RED_WINS]);
  assert.deepEqual(player.context(pos, 'unknown'), [UNKNOWN_RESULT]);
  const seen = new Set<string>();
  for (let ply = 0; ply < 10; ply++) {
    const choice = await player.choose(pos, { temperature: ply % 2 ? 1 : 0, random: () => 0.999 });
    assert.ok(pos.isLegal(choice.move), `ply ${ply}: ${moveToIccs(choice.move)} is legal`);
    if (ply % 2 === 0) assert.equal(choice.move, choice.candidates[0]!.move, 'temperature 0 plays the best move');
    seen.add(moveToIccs(choice.move));
    pos.play(choice.move);
  }
  assert.deepEqual(player.context(pos).slice(1, 5), moveTokens(pos.history()[0]!));
  assert.equal(player.context(pos)[0], RED_WINS, 'red to move after 10 plies: asks for a red win');
  await assert.rejects(player.choose(pos, { temperature: -1 }), /temperature must be >= 0/);
  await player.release();
});

for (const [format, maxPosition, history] of [['position', 128, 14], ['board', 160, 16]] as const) {
  test(`${format} format: the context is the board historyPlies ago, then the moves since; it works from any FEN`, async () => {
    const prefix = FORMATS[format].prefix;
    const P = FORMATS[format].prefixTokens;
    const player = await Player.create(tinyModel(4, { ...TINY, vocabSize: FORMATS[format].vocabSize, maxPosition }, format));
    assert.equal(player.historyPlies, history, `maxPosition ${maxPosition} leaves room for ${history} plies after the ${1 + P}-token prompt and before a move`);
    const pos = Position.start();
    assert.deepEqual(player.context(pos), [RED_WINS, ...prefix(pos)]);
    const boards = [pos.clone()];
    for (let ply = 0; ply < 20; ply++) {
      const choice = await player.choose(pos);
      assert.ok(pos.isLegal(choice.move));
      pos.play(choice.move);
      boards.push(pos.clone());
      const ctx = player.context(pos);
      const shown = Math.min(pos.ply, history);
      assert.equal(ctx.length, 1 + P + 4 * shown);
      assert.deepEqual(ctx.slice(1, 1 + P), prefix(boards[pos.ply - shown]!), `ply ${pos.ply}: the prefix is the board ${shown} plies ago`);
      assert.deepEqual(ctx.slice(-4), moveTokens(choice.move));
    }
    const fen = Position.fromFen('4k4/9/R8/9/9/9/9/9/9/3K5 b - - 0 1');
    assert.deepEqual(player.context(fen), [BLACK_WINS, ...prefix(fen)]);
    assert.ok(fen.isLegal((await player.choose(fen)).move));
    await player.release();
  });
}

test('the player never completes a perpetual check that loses by rule while another move exists', () => {
  const pos = Position.fromFen('4k4/9/R8/9/9/9/9/9/9/3K5 w - - 0 1');
  for (const m of ['a7a9', 'e9e8', 'a9a8', 'e8e9', 'a8a9', 'e9e8', 'a9a8', 'e8e9']) pos.play(parseIccs(pos, m));
  const repeat = parseIccs(pos, 'a8a9');
  assert.ok(pos.isLegal(repeat));
  pos.make(repeat);
  assert.deepEqual(pos.outcome(), { result: '0-1', reason: 'perpetual check' }, 'the third check in the cycle loses for red');
  pos.unmake();
  const playable = playableMoves(pos);
  assert.ok(!playable.includes(repeat));
  assert.equal(playable.length, pos.legalMoves().length - 1);

  // One cycle earlier the check itself does not lose yet, but the king's reply would complete the
  // third repetition: that check is not played either.
  const earlier = Position.fromFen('4k4/R8/9/9/9/9/9/9/9/3K5 w - - 0 1');
  for (const m of ['a8a9', 'e9e8', 'a9a8', 'e8e9', 'a8a9', 'e9e8']) earlier.play(parseIccs(earlier, m));
  const check = parseIccs(earlier, 'a9a8');
  earlier.make(check);
  assert.equal(earlier.outcome(), undefined);
  earlier.play(parseIccs(earlier, 'e8e9'));
  assert.deepEqual(earlier.outcome(), { result: '0-1', reason: 'perpetual check' });
  earlier.unmake();
  earlier.unmake();
  assert.ok(!playableMoves(earlier).includes(check));
  assert.ok(playableMoves(earlier).includes(parseIccs(earlier, 'a9b9')), 'a quiet rook move stays playable');
});

test('rule checks: the player does not allow a draw by repetition while another move exists', async () => {
  const player = await Player.create(tinyModel(2));
  const iccs = (moves: { move: number }[] | number[]) => moves.map((m) => moveToIccs(typeof m === 'number' ? m : m.move));
  assert.equal(player.ruleChecks, true, 'on by default');
  const pos = Position.fromFen('5k3/9/9/9/8r/R8/9/9/9/3K5 w - - 0 1');
  for (const m of ['a4a3', 'i5i6', 'a3a4', 'i6i5']) pos.play(parseIccs(pos, m));
  // a4a3 returns to a position seen before.
  const repeat = parseIccs(pos, 'a4a3');
  assert.ok(!player.candidateMoves(pos).includes(repeat));
  assert.equal(player.candidateMoves(pos).length, playableMoves(pos).length - 1);
  assert.ok(!iccs(await player.analyse(pos)).includes('a4a3'));
  player.ruleChecks = false;
  assert.ok(iccs(await player.analyse(pos)).includes('a4a3'), 'the post\'s plain choice may repeat');
  player.ruleChecks = true;

  // a2a4 is a new position, but the reply f8f9 brings the start about for the third time.
  for (const m of ['a4a2', 'f9f8']) pos.play(parseIccs(pos, m));
  const back = parseIccs(pos, 'a2a4');
  pos.make(back);
  assert.equal(pos.repetitions(), 0, 'a2a4 itself repeats nothing');
  pos.play(parseIccs(pos, 'f8f9'));
  assert.deepEqual(pos.outcome(), { result: '1/2-1/2', reason: 'repetition' }, 'but the reply f8f9 draws');
  pos.unmake();
  pos.unmake();
  assert.ok(playableMoves(pos).includes(back));
  assert.ok(!player.candidateMoves(pos).includes(back));
  assert.ok(player.candidateMoves(pos).includes(parseIccs(pos, 'a2a1')));

  // When every move repeats, they all stay playable. The black general has one move on f9 and on
  // e9 (e8 and f8 are the rook's, d9 faces the red general).
  const only = Position.fromFen('5k3/R8/9/9/9/9/9/9/9/3K5 w - - 0 1');
  for (const m of ['a8b8', 'f9e9', 'b8a8', 'e9f9', 'a8b8']) only.play(parseIccs(only, m));
  assert.deepEqual(iccs(player.candidateMoves(only)), ['f9e9']);
  assert.equal(moveToIccs((await player.choose(only)).move), 'f9e9');
  await player.release();
});

test('rule checks: a move that wins on the spot (checkmate, or stalemate, which also wins) is played, one that lets the opponent do so is not', async () => {
  const player = await Player.create(tinyModel(4));
  const iccs = (moves: number[]) => moves.map(moveToIccs);
  const mate = Position.fromFen('9/3k5/9/9/9/9/9/9/R8/4K4 w - - 0 1');
  assert.deepEqual(iccs(player.candidateMoves(mate)), ['a1d1']);
  assert.equal(moveToIccs((await player.choose(mate)).move), 'a1d1');
  const stale = Position.fromFen('3k5/9/9/9/9/9/9/9/4R4/5K3 w - - 0 1');
  assert.deepEqual(iccs(player.candidateMoves(stale)), ['e1e8']);
  stale.play(parseIccs(stale, 'e1e8'));
  assert.deepEqual(stale.outcome(), { result: '1-0', reason: 'stalemate' });

  // Moves after which a reply wins on the spot are left out: here 8 of the 12, e.g. the rook off the
  // back rank, after which ...a2a0 mates.
  const guard = Position.fromFen('4k4/9/9/9/9/9/9/r8/9/1R1K5 w - - 0 1');
  const replyWins = (m: number) => { guard.make(m); const r = guard.legalMoves().some((x) => { guard.make(x); const over = !guard.hasLegalMove(); guard.unmake(); return over; }); guard.unmake(); return r; };
  const safe = guard.legalMoves().filter((m) => !replyWins(m));
  assert.equal(guard.legalMoves().length - safe.length, 8);
  assert.deepEqual(iccs(player.candidateMoves(guard)).sort(), iccs(safe).sort());
  assert.ok(!iccs(player.candidateMoves(guard)).includes('b0b5'));

  player.ruleChecks = false;
  assert.equal(player.candidateMoves(mate).length, mate.legalMoves().length, 'the plain choice scores every move');
  assert.equal(player.candidateMoves(guard).length, guard.legalMoves().length);
  await player.release();
});

test('rule checks: a forced win in two (every reply allows a win on the spot) is played when nothing wins at once', async () => {
  const player = await Player.create(tinyModel(5));
  const iccs = (moves: number[]) => moves.map(moveToIccs);
  const endsGame = (p: Position, m: number) => { p.make(m); const over = !p.hasLegalMove(); p.unmake(); return over; };
  const winsNow = (p: Position) => p.legalMoves().some((m) => endsGame(p, m));
  // A brute-force oracle over the whole tree, two moves deep.
  const forcedWins = (p: Position) => p.legalMoves().filter((m) => {
    p.make(m);
    const replies = p.legalMoves();
    const forced = replies.length > 0 && replies.every((r) => { p.make(r); const w = winsNow(p); p.unmake(); return w; });
    p.unmake();
    return forced;
  });
  // The rook to the 8th rank shuts the general in; the cannon then mates whatever black does.
  const pos = Position.fromFen('4k4/9/9/9/9/9/9/9/1C7/R2K5 w - - 0 1');
  assert.ok(!winsNow(pos), 'nothing wins on the spot');
  assert.deepEqual(iccs(forcedWins(pos)), ['a0a8']);
  assert.deepEqual(iccs(player.candidateMoves(pos)), ['a0a8']);
  assert.equal(moveToIccs((await player.choose(pos)).move), 'a0a8');
  pos.play(parseIccs(pos, 'a0a8'));
  for (const reply of pos.legalMoves()) {
    pos.make(reply);
    const next = player.candidateMoves(pos);
    assert.ok(next.length > 0 && next.every((m) => endsGame(pos, m)), `after ${moveToIccs(reply)} it wins on the spot`);
    pos.unmake();
  }
  // Where no move forces a win, nothing is left out for it: the guard position keeps its 4 safe moves.
  const guard = Position.fromFen('4k4/9/9/9/9/9/9/r8/9/1R1K5 w - - 0 1');
  assert.deepEqual(forcedWins(guard), []);
  assert.equal(player.candidateMoves(guard).length, 4);
  player.ruleChecks = false;
  assert.equal(player.candidateMoves(pos).length, pos.legalMoves().length);
  await player.release();
});

test('the exported scoring network (for onnxruntime-web) gives the same logits in plain onnxruntime', async () => {
  const { InferenceSession, Tensor } = await import('onnxruntime-node');
  const { scorerOnnx } = await import('../../src/xiangqi/player/scorer.ts');
  const model = tinyModel(6);
  const session = await InferenceSession.create(scorerOnnx(model));
  assert.deepEqual([...session.inputNames].sort(), ['candidates', 'context']);
  const player = await Player.create(model);
  const pos = Position.start();
  pos.play(parseIccs(pos, 'b2e2'));
  const context = player.context(pos);
  const moves = pos.legalMoves();
  const cand = BigInt64Array.from(moves.flatMap((m) => moveTokens(m).slice(0, 3)), BigInt);
  const out = await session.run({ context: new Tensor('int64', BigInt64Array.from(context, BigInt), [1, context.length]), candidates: new Tensor('int64', cand, [moves.length, 3]) });
  const V = model.config.vocabSize;
  const ranked = await player.analyse(pos);
  const best = ranked[0]!;
  const t = moveTokens(best.move);
  const head = out.contextLogits!.data as Float32Array, tail = out.candidateLogits!.data as Float32Array;
  const i = moves.indexOf(best.move);
  const lsm = (data: Float32Array, off: number, k: number) => {
    const row = Array.from(data.subarray(off, off + V));
    const max = Math.max(...row);
    return row[k]! - max - Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  };
  let lp = lsm(head, (context.length - 1) * V, t[0]!);
  for (let j = 1; j < 4; j++) lp += lsm(tail, (i * 3 + j - 1) * V, t[j]!);
  assert.ok(Math.abs(lp - best.logProb) < 1e-4, `exported ${lp} vs player ${best.logProb}`);
  await player.release();
});

test('result guidance: score = log P(m | wins) + γ (log P(m | wins) - log P(m | loses))', async () => {
  const player = await Player.create(tinyModel(8));
  const pos = Position.start();
  pos.play(parseIccs(pos, 'h2e2'));
  const win = new Map((await player.scorer.score(player.context(pos, 'win'), pos.legalMoves())).map((s) => [s.iccs, s.logProb]));
  const lose = new Map((await player.scorer.score(player.context(pos, 'lose'), pos.legalMoves())).map((s) => [s.iccs, s.logProb]));
  assert.equal(player.context(pos, 'lose')[0], RED_WINS, 'black to move: "loses" asks for a red win');
  const guided = await player.analyse(pos, 'win', 1.5);
  for (const s of guided) assert.ok(Math.abs(s.logProb - (win.get(s.iccs)! + 1.5 * (win.get(s.iccs)! - lose.get(s.iccs)!))) < 1e-9);
  for (let i = 1; i < guided.length; i++) assert.ok(guided[i - 1]!.logProb >= guided[i]!.logProb);
  assert.ok(Math.abs(guided.reduce((t, s) => t + s.probability, 0) - 1) < 1e-9);
  const plain = await player.analyse(pos, 'win', 0);
  assert.ok(plain.every((s) => Math.abs(s.logProb - win.get(s.iccs)!) < 1e-12), 'γ = 0 is the plain score');
  await assert.rejects(player.analyse(pos, 'win', -1), /guidance must be >= 0/);
  await player.release();
});
