// The material search (the synthetic records' expert) and the records it writes: legal games, the
// expert's decisive moves marked as targets, and batches that learn only those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Position, moveToIccs } from '../../src/xiangqi/board.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';
import { materialLead, materialValue, playMatch, randomMover, searchMover } from '../../src/xiangqi/player/match.ts';
import { playableMoves } from '../../src/xiangqi/player/player.ts';
import { Random } from '../../src/util/random.ts';
import { CONVERTING_LEAD, decisive, recordGame, searchAgreement, syntheticGame, targetKind, writeSyntheticCorpus } from '../../src/xiangqi/player/synthetic.ts';
import { BatchSampler, gameSequence, hasTarget, mixedBatchAt, packBatch, positionSequence, readCorpus } from '../../src/xiangqi/player/dataset.ts';
import { moveFromIccs } from '../../src/xiangqi/player/vocab.ts';

test('materialValue: a free piece is worth its value, a defended one less the capturer, a mate everything', () => {
  // The rook on a0 takes the horse on a5 for free; the rook on c0 takes the pawn on c4 and the black rook takes it back.
  const offers = Position.fromFen('2r1k4/9/9/9/n8/2p6/9/9/9/R1R2K3 w - - 0 1');
  assert.equal(materialValue(offers, parseIccs(offers, 'a0a5')), 4);
  assert.equal(materialValue(offers, parseIccs(offers, 'c0c4')), 1 - 9);
  assert.equal(offers.fen(), '2r1k4/9/9/9/n8/2p6/9/9/9/R1R2K3 w - - 0 1', 'the position is left as it was');
  // The rook takes the pawn on a5; the cannon takes the rook over the horse; the red horse takes the cannon back: 1 - (9 - 4.5).
  const defended = Position.fromFen('c3k4/9/n8/9/p8/9/1N7/9/9/R2K5 w - - 0 1');
  assert.equal(materialValue(defended, parseIccs(defended, 'a0a5')), 1 - (9 - 4.5));
  // Black's rook on a5 shields its general from a0a9 (mate, as below): moving off to i5 loses (from c5 it could still block on c9).
  const shield = Position.fromFen('4k4/1R7/9/9/r8/9/9/9/9/R2K5 b - - 0 1');
  assert.equal(materialValue(shield, parseIccs(shield, 'a5i5')), -1000);
  assert.ok(searchMover(1).best(shield).value > -1000);
  // Rook b8 holds rank 8, the red general the d-file: a0a9 mates.
  const mate = Position.fromFen('4k4/1R7/9/9/9/9/9/9/9/R2K5 w - - 0 1');
  assert.equal(materialValue(mate, parseIccs(mate, 'a0a9')), 1000);
  const expert = searchMover(1);
  // b8f8 stalemates, which loses in xiangqi: it is as good.
  assert.deepEqual(expert.best(mate).moves.map(moveToIccs).sort(), ['a0a9', 'b8f8']);
  assert.deepEqual(expert.best(offers).moves.map(moveToIccs), ['a0a5']);
  // At the start nothing can be won and most moves lose nothing: not a decisive position.
  const start = expert.best(Position.start());
  assert.equal(start.value, 0);
  assert.ok(start.worse < 0.5, `${start.worse}`);
});

test('the search converts: among moves equal on material it avoids repeating, then leaves the fewest replies', () => {
  // Checked move by move in games against the random mover, against a direct count of the replies.
  const expert = searchMover(4), opponent = new Random(5);
  let checked = 0, squeezed = 0;
  for (let game = 0; game < 4; game++) {
    const pos = Position.start();
    while (!pos.outcome() && pos.ply < 200) {
      if (pos.ply % 2 === game % 2) {
        const choice = expert.choose(pos);
        const judged = playableMoves(pos).filter((m) => materialValue(pos, m) === choice.value).map((m) => {
          pos.make(m);
          const j = { m, repeats: pos.repetitions() > 0, replies: pos.legalMoves().length };
          pos.unmake();
          return j;
        });
        const mine = judged.find((j) => j.m === choice.move)!;
        assert.ok(mine, 'the choice has the best material value');
        const rivals = judged.filter((j) => !j.repeats || mine.repeats);
        assert.ok(!mine.repeats || judged.every((j) => j.repeats), `ply ${pos.ply}: ${moveToIccs(choice.move)} repeats a position while another move does not`);
        assert.equal(mine.replies, Math.min(...rivals.map((j) => j.replies)), `ply ${pos.ply}: ${moveToIccs(choice.move)} leaves the fewest replies`);
        squeezed += rivals.some((j) => j.replies > mine.replies) ? 1 : 0;
        checked++;
        pos.make(choice.move);
      } else {
        const legal = pos.legalMoves();
        pos.make(legal[opponent.int(legal.length)]!);
      }
    }
  }
  assert.ok(checked > 20 && squeezed > checked / 2, `${squeezed} of ${checked} choices squeezed the replies`);
});

test('materialLead and decisive: quiet moves teach only while converting a lead', () => {
  assert.equal(materialLead(Position.start()), 0);
  // Red has an extra rook and black an extra pawn.
  assert.equal(materialLead(Position.fromFen('4k4/9/9/9/p8/9/9/9/9/R2K5 w - - 0 1')), 9 - 1);
  assert.equal(materialLead(Position.fromFen('4k4/9/9/9/p8/9/9/9/9/R2K5 b - - 0 1')), 1 - 9);
  const quiet = { value: 0, worse: 0, outranked: 0.7 };
  assert.equal(decisive(quiet, 0), false);
  assert.equal(decisive(quiet, CONVERTING_LEAD), true);
  assert.equal(decisive({ ...quiet, outranked: 0 }, 9), false, 'nothing is worse: nothing to learn');
  assert.equal(decisive({ value: 4, worse: 0.2, outranked: 0.2 }, 0), true, 'winning material teaches at any lead');
});

test('searchAgreement: the search agrees with itself everywhere, a random mover rarely', async () => {
  const search = searchMover(9);
  const itself = await searchAgreement(async (pos) => search.move(pos), 3, 5);
  assert.ok(itself.material.positions > 10 && itself.converting.positions > 10, JSON.stringify(itself));
  assert.equal(itself.material.agreed, itself.material.positions);
  assert.equal(itself.converting.agreed, itself.converting.positions);
  assert.equal(itself.convertingGaveMaterial, 0);
  const r = new Random(3);
  const random = await searchAgreement(async (pos) => { const legal = pos.legalMoves(); return legal[r.int(legal.length)]!; }, 3, 5);
  // The same games (they are the search's), so the same positions.
  assert.deepEqual([random.material.positions, random.converting.positions], [itself.material.positions, itself.converting.positions]);
  assert.ok(random.material.agreed < random.material.positions / 2 && random.convertingGaveMaterial > 0, JSON.stringify(random));
  assert.equal(targetKind({ value: 0, worse: 0, outranked: 0.5 }, 0), undefined);
  assert.equal(targetKind({ value: 0, worse: 0, outranked: 0.5 }, CONVERTING_LEAD), 'converting');
});

test('the material search beats the random mover', async () => {
  const f = await playMatch(searchMover(7), randomMover(8), 10);
  assert.ok(f.wins >= 9 && f.losses === 0, JSON.stringify(f));
});

test('synthetic records: legal games, targets only on the expert\'s plies, the result as played', async () => {
  for (const expertIsRed of [true, false]) {
    const g = syntheticGame('s', expertIsRed, 3);
    const moves = g.iccs.split(' ');
    assert.equal(g.learn.length, moves.length);
    const pos = Position.start();
    for (const [ply, iccs] of moves.entries()) {
      const m = moveFromIccs(iccs);
      assert.ok(pos.isLegal(m), `ply ${ply}: ${iccs} is legal`);
      if (g.learn[ply] === '1') assert.equal(ply % 2 === 0, expertIsRed, `ply ${ply} is a target only if the expert played it`);
      pos.make(m);
    }
    assert.equal(pos.outcome()?.result ?? '1/2-1/2', g.result);
    assert.ok(g.learn.includes('1') && g.learn.includes('0'));
  }
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-synth-'));
  const file = join(dir, 'records.jsonl');
  const f = await writeSyntheticCorpus(file, { games: 6, seed: 2, quiet: true });
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines.length, 6);
  assert.deepEqual(JSON.parse(lines[3]!), recordGame(2, 3), 'recordGame replays a written record');
  assert.ok(f.expertWins >= 5 && f.targets > 0 && f.targets < f.moves / 2, JSON.stringify(f));
  const all = Object.values(readCorpus(file).games).flat();
  assert.equal(all.length, 6);
  // Batches learn the marked moves only: 4 labels per target move inside the window.
  const game = all[0]!;
  const s = positionSequence('position', game, 0, 10);
  const labels = Array.from(packBatch([s]).labels.data as BigInt64Array, Number);
  const targets = [...game.learn!.slice(0, 10)].filter((c) => c === '1').length;
  assert.equal(labels.filter((l) => l !== -100).length, 4 * targets);
  for (let k = 0; k < 10; k++) {
    const label = labels[s.prompt - 1 + 4 * k]!;
    assert.equal(label !== -100, game.learn![k] === '1', `move ${k}`);
  }
  // From a later ply, and in the moves format (no prefix), the marks follow the plies.
  for (const seq of [positionSequence('position', game, 5, 8), gameSequence(game, 4 * 8)]) {
    const from = seq.prompt === 1 ? 0 : 5;
    const l = Array.from(packBatch([seq]).labels.data as BigInt64Array, Number);
    for (let k = 0; k < 8; k++) assert.equal(l[seq.prompt - 1 + 4 * k] !== -100, game.learn![from + k] === '1', `move ${from + k}`);
  }
  assert.equal(hasTarget({ ...s, skip: new Uint8Array(s.tokens.length).fill(1) }), false);

  // Mixed batches: each sampler draws its share of the tokens; record rows leave non-targets unlabelled.
  const corpusGames = all.map((g) => ({ id: g.id, moves: g.moves, result: g.result }));
  const options = { format: 'position' as const, windowAt: () => 16, hideResultRate: 0, seed: 1 };
  const batch = mixedBatchAt([new BatchSampler(corpusGames, { ...options, tokensPerBatch: 500 }), new BatchSampler(all, { ...options, tokensPerBatch: 1500 })], 3);
  const [rows, width] = batch.labels.shape as [number, number];
  const data = Array.from(batch.ids.data as BigInt64Array, Number), lab = Array.from(batch.labels.data as BigInt64Array, Number);
  let recordRows = 0;
  for (let r = 0; r < rows; r++) {
    // Move k's first character is input 66 + 4k (never [PAD]) and the label at 65 + 4k.
    const unlabelled = [...Array(16).keys()].some((k) => 66 + 4 * k < width && data[r * width + 66 + 4 * k] !== 0 && lab[r * width + 65 + 4 * k] === -100);
    recordRows += unlabelled ? 1 : 0;
  }
  assert.ok(recordRows > 0 && recordRows < rows, `${recordRows} of ${rows} rows are records`);
});
