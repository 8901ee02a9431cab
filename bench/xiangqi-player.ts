/**
 * `npm run bench -- xiangqi-player [--model file] [--games N] [--accuracy-games N] [--agreement-games N] [--corpus file] [--history N] [--guidance G] [--plain] [--random-seed N]`:
 * the player's strength. Top-1 move prediction on held-out (test split) games, every legal move
 * scored, result not given; agreement with the synthetic records' search on fresh games
 * (searchAgreement); W/D/L against a uniformly random legal mover and a 1-ply material-greedy
 * player (the model red in half the games, black in the other half; temperature 0; with the
 * player's rule checks unless --plain); think time per move; how the games ended and the material
 * each side captured. `--compare other.safetensors` also counts how often another model (e.g. the
 * fp32 weights of the shipped fp16 file) picks the same move in the accuracy positions. Prints rows,
 * then one JSON line.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Position } from '../src/xiangqi/board.ts';
import { readCorpus } from '../src/xiangqi/player/dataset.ts';
import { searchAgreement } from '../src/xiangqi/player/synthetic.ts';
import { capturedMaterial, freeCaptures, greedyMover, modelMover, playMatch, randomMover, resultFor, type MatchFigures } from '../src/xiangqi/player/match.ts';
import { Player } from '../src/xiangqi/player/player.ts';
import { moveFromIccs } from '../src/xiangqi/player/vocab.ts';
import { Progress } from '../src/util/progress.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    model: { type: 'string' },
    /** Another model file (e.g. the fp32 weights of an fp16 model): how often both pick the same move. */
    compare: { type: 'string' },
    games: { type: 'string', default: '100' },
    'accuracy-games': { type: 'string', default: '60' },
    /** Fresh synthetic games on which the model's move is compared with the records' search. */
    'agreement-games': { type: 'string', default: '20' },
    /** Plies of history shown to a position- or board-format model (default: the most it was trained with). */
    history: { type: 'string' },
    /** Result guidance for play (Player.guidance; accuracy is always measured without it). */
    guidance: { type: 'string' },
    /** Play by the post's plain choice, without the player's rule checks (Player.ruleChecks = false). */
    plain: { type: 'boolean' },
    /** Seed of the random mover (default 11): other seeds give other games against it. */
    'random-seed': { type: 'string', default: '11' },
    corpus: { type: 'string', default: fileURLToPath(new URL('../../data/games.jsonl', import.meta.url)) },
  },
});
const games = Number(values.games);
const randomSeed = Number(values['random-seed']);
if (!Number.isInteger(randomSeed)) throw new Error(`--random-seed must be an integer, got ${values['random-seed']}`);
const accuracyGames = Number(values['accuracy-games']);
const player = await Player.load(values.model);
const other = values.compare ? await Player.load(values.compare) : undefined;
if (values.history !== undefined) player.historyPlies = Number(values.history);
if (values.guidance !== undefined) player.guidance = Number(values.guidance);
// Accuracy and agreement measure prediction: the model's own top move among the playable ones. Play follows --plain.
player.ruleChecks = false;
if (other) other.ruleChecks = false;
const figures: Record<string, number | string> = {};
console.log(`xiangqi player: ${player.model.config.numLayers} layers, hidden ${player.model.config.hiddenSize}, trained ${player.model.metadata.step ?? '?'} steps, ${player.model.format} format${player.model.format !== 'moves' ? ` (${player.historyPlies} plies of history)` : ''}, guidance ${player.guidance}, rule checks in play ${values.plain ? 'off (--plain)' : 'on'}; Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`);

if (accuracyGames > 0 && existsSync(values.corpus)) {
  const test = readCorpus(values.corpus).games.test.sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, accuracyGames);
  const progress = new Progress({ label: 'accuracy', total: test.reduce((n, g) => n + g.moves.length, 0), unit: 'move' });
  let hits = 0, total = 0, thinkMs = 0, same = 0;
  // Where a free capture was on the board: how often the player in the record took one, and the model.
  const free = { offered: 0, played: 0, predicted: 0 };
  for (const g of test) {
    const pos = Position.start();
    for (const iccs of g.moves) {
      const played = moveFromIccs(iccs);
      const t0 = performance.now();
      const ranked = await player.analyse(pos, 'unknown');
      thinkMs += performance.now() - t0;
      hits += ranked[0]!.move === played ? 1 : 0;
      const offered = freeCaptures(pos);
      if (offered.length) {
        free.offered++;
        if (offered.includes(played)) free.played++;
        if (offered.includes(ranked[0]!.move)) free.predicted++;
      }
      if (other) same += (await other.analyse(pos, 'unknown'))[0]!.move === ranked[0]!.move ? 1 : 0;
      total++;
      pos.make(played);
      progress.tick(1, { top1: hits / total });
    }
  }
  progress.finish();
  figures.top1_accuracy = Number((hits / total).toFixed(4));
  figures.accuracy_positions = total;
  figures.accuracy_games = test.length;
  figures.score_ms_per_position = Number((thinkMs / total).toFixed(1));
  if (other) {
    figures.same_top1_as_compared = Number((same / total).toFixed(4));
    console.log(`same top move as ${values.compare}: ${(100 * same / total).toFixed(2)}% of ${total} positions`);
    await other.release();
  }
  console.log(`top-1 move prediction on ${test.length} held-out games (${total} positions): ${(100 * hits / total).toFixed(1)}%`);
  console.log(`  ${free.offered} positions offered a free capture: the game record took one in ${(100 * free.played / free.offered).toFixed(1)}%, the model's top move in ${(100 * free.predicted / free.offered).toFixed(1)}%`);
  figures.records_free_capture_taken = Number((free.played / free.offered).toFixed(3));
  figures.model_free_capture_predicted = Number((free.predicted / free.offered).toFixed(3));
} else if (accuracyGames > 0) {
  console.log(`top-1 accuracy skipped: no corpus at ${values.corpus} (build it with \`bert4ts xiangqi corpus\`, or pass --corpus)`);
}

const agreementGames = Number(values['agreement-games']);
if (agreementGames > 0) {
  const progress = new Progress({ label: 'agreement', total: agreementGames, unit: 'game' });
  // Seed 1234: games no `bert4ts xiangqi synth --seed` below 1,000 writes, so none the model trained on.
  const a = await searchAgreement(async (pos) => (await player.analyse(pos))[0]!.move, agreementGames, 1234, () => progress.tick(1));
  progress.finish();
  const pct = (n: number, d: number) => `${(100 * n / Math.max(1, d)).toFixed(1)}%`;
  console.log(`agreement with the records' search on ${agreementGames} fresh synthetic games: material positions ${pct(a.material.agreed, a.material.positions)} of ${a.material.positions}, converting positions ${pct(a.converting.agreed, a.converting.positions)} of ${a.converting.positions} (gave material away in ${pct(a.convertingGaveMaterial, a.converting.positions)})`);
  figures.agreement_material = Number((a.material.agreed / Math.max(1, a.material.positions)).toFixed(3));
  figures.agreement_converting = Number((a.converting.agreed / Math.max(1, a.converting.positions)).toFixed(3));
  figures.converting_gave_material = Number((a.convertingGaveMaterial / Math.max(1, a.converting.positions)).toFixed(3));
}

const thinkAll: number[] = [];
player.ruleChecks = !values.plain;
for (const [name, opponent] of games > 0 ? [['random', randomMover(randomSeed)], ['greedy', greedyMover(12)]] as const : []) {
  const model = modelMover(player);
  // Free material: how often the model had a capture that cannot be taken back, and took one (beside
  // the rate of a uniformly random choice in the same positions); how often its move left the
  // opponent one.
  const free = { offered: 0, taken: 0, byChance: 0, moves: 0, leftOne: 0 };
  const watched = {
    name: 'model',
    async move(pos: Position) {
      const offered = freeCaptures(pos);
      const m = await model.move(pos);
      if (offered.length) {
        free.offered++;
        free.byChance += offered.length / pos.legalMoves().length;
        if (offered.includes(m)) free.taken++;
      }
      pos.make(m);
      free.moves++;
      if (freeCaptures(pos).length) free.leftOne++;
      pos.unmake();
      return m;
    },
  };
  const progress = new Progress({ label: `vs ${name}`, total: games, unit: 'game' });
  // How games end and who wins material say why a result is what it is (e.g. draws at the ply cap, pieces left hanging).
  const endings = new Map<string, number>();
  const material = { model: 0, opponent: 0 };
  const f: MatchFigures = await playMatch(watched, opponent, games, (_i, g, modelIsRed) => {
    const ending = `${resultFor(g, modelIsRed)} by ${g.reason}`;
    endings.set(ending, (endings.get(ending) ?? 0) + 1);
    const [red, black] = capturedMaterial(g.moves);
    material.model += modelIsRed ? red : black;
    material.opponent += modelIsRed ? black : red;
    progress.tick(1, { plies: g.plies });
  });
  progress.finish();
  thinkAll.push(...model.thinkMs);
  console.log(`vs ${name}: ${f.wins} wins, ${f.draws} draws, ${f.losses} losses of ${f.games} (model red in the first half)`);
  console.log(`  endings: ${[...endings].sort((a, b) => b[1] - a[1]).map(([e, n]) => `${e} ${n}`).join(', ')}`);
  console.log(`  material captured per game (pawn 1, rook 9): model ${(material.model / games).toFixed(1)}, ${name} ${(material.opponent / games).toFixed(1)}`);
  console.log(`  free captures: taken in ${free.taken} of ${free.offered} positions that offered one (a random choice: ${(100 * free.byChance / Math.max(1, free.offered)).toFixed(1)}%); ${(100 * free.leftOne / free.moves).toFixed(1)}% of the model's moves left the opponent one`);
  figures[`vs_${name}_free_capture_taken`] = Number((free.taken / Math.max(1, free.offered)).toFixed(3));
  figures[`vs_${name}_left_free_capture`] = Number((free.leftOne / free.moves).toFixed(3));
  figures[`vs_${name}_model_captured`] = Number((material.model / games).toFixed(2));
  figures[`vs_${name}_opponent_captured`] = Number((material.opponent / games).toFixed(2));
  figures[`vs_${name}_wins`] = f.wins;
  figures[`vs_${name}_draws`] = f.draws;
  figures[`vs_${name}_losses`] = f.losses;
}
thinkAll.sort((a, b) => a - b);
if (thinkAll.length) {
  figures.think_ms_mean = Number((thinkAll.reduce((a, b) => a + b, 0) / thinkAll.length).toFixed(1));
  figures.think_ms_p95 = Number(thinkAll[Math.floor(0.95 * thinkAll.length)]!.toFixed(1));
  console.log(`think time per move: mean ${figures.think_ms_mean} ms, p95 ${figures.think_ms_p95} ms (${thinkAll.length} moves)`);
}
await player.release();
console.log(JSON.stringify(figures));
