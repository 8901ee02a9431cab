/**
 * `npm run bench -- xiangqi-player [--model file] [--value file] [--games N] [--modes policy,value,search,alphabeta] [--checks on,off] [--opponents random,fairy1,fairy2,bert4ts:alphabeta[:plain]] [--openings N] [--search-nodes N] [--search-ms T] [--search-depth D] [--accuracy-games N] [--agreement-games N] [--corpus file] [--history N] [--guidance G] [--temperature T] [--plain] [--random-seed N]`:
 * the player's strength. Top-1 move prediction on held-out (test split) games, every legal move
 * scored, result not given; agreement with the synthetic records' search on fresh games
 * (searchAgreement); then one row per opponent, mode and rule-check setting: W/D/L, score, Elo with
 * a 95% interval, ms and nodes per move, how the games ended and the material each side captured. Opponents:
 * a uniformly random legal mover, Fairy-Stockfish at a fixed depth (bench/fairy, driven over UCI;
 * rows skipped with a message when it is not installed), the greedy and search baselines. Colours
 * alternate, and game pairs start from the OPENINGS (match.ts) so a deterministic engine plays
 * different games; the model plays its most likely move unless `--temperature T` (> 0) samples it from
 * softmax(score / T), seeded per game. `--compare other.safetensors` also counts how often another model (e.g. the
 * fp32 weights of the shipped fp16 file) picks the same move in the accuracy positions. Prints rows,
 * then one JSON line. `--out games.jsonl` keeps every game played, one line each: rerun the same
 * command and each row resumes after its last recorded game (game i is the same game whether or not
 * it is played in one process), so a many-hour run survives interruption; `--games` may grow.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Position } from '../src/xiangqi/board.ts';
import { readCorpus } from '../src/xiangqi/player/dataset.ts';
import { searchAgreement } from '../src/xiangqi/player/synthetic.ts';
import { capturedMaterial, eloEstimate, freeCaptures, greedyMover, modelMover, OPENINGS, playMatch, randomMover, resultFor, searchMover, uciMover, type MatchFigures, type Mover } from '../src/xiangqi/player/match.ts';
import { isPlayMode, Player, playerModelFile, PLAY_MODES, type PlayMode } from '../src/xiangqi/player/player.ts';
import { parseIccs } from '../src/xiangqi/notation.ts';
import { moveFromIccs } from '../src/xiangqi/player/vocab.ts';
import { Progress } from '../src/util/progress.ts';
import { writeFileAtomic } from '../src/util/files.ts';
import { fileSha256, valueHeadPathFor } from '../src/xiangqi/player/value.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    model: { type: 'string' },
    /** Another model file (e.g. the fp32 weights of an fp16 model): how often both pick the same move. */
    compare: { type: 'string' },
    games: { type: 'string', default: '100' },
    'accuracy-games': { type: 'string', default: '0' },
    /** Fresh synthetic games on which the model's move is compared with the records' search. */
    'agreement-games': { type: 'string', default: '0' },
    /** Plies of history shown to a position- or board-format model (default: the most it was trained with). */
    history: { type: 'string' },
    /** Result guidance for play (Player.guidance; accuracy is always measured without it). */
    guidance: { type: 'string' },
    /** 0: the model plays its most likely move; above 0 it samples from softmax(score / T), seeded per game. */
    temperature: { type: 'string', default: '0' },
    /** Only without the player's rule checks (= --checks off). */
    plain: { type: 'boolean' },
    /** Play modes to measure (policy, value, search, alphabeta). */
    modes: { type: 'string', default: 'policy,value,search' },
    /** Rule checks in play: on, off, or both. */
    checks: { type: 'string', default: 'on,off' },
    /** random, greedy, search (the 2-ply material search), fairyN (Fairy-Stockfish at depth N), bert4ts:MODE[:plain] (this player in another mode, over its UCI engine). */
    opponents: { type: 'string', default: 'random,fairy1,fairy2' },
    /** How many of the 16 OPENINGS games start from (each from both sides); 0: all from the start. */
    openings: { type: 'string', default: '16' },
    /** The search modes' budget (default: Player.budgetFor(mode)). */
    'search-nodes': { type: 'string' },
    'search-ms': { type: 'string' },
    'search-depth': { type: 'string' },
    /** Value head (default: value.safetensors beside the model). */
    value: { type: 'string' },
    /** Seed of the random mover (default 11): other seeds give other games against it. */
    'random-seed': { type: 'string', default: '11' },
    corpus: { type: 'string', default: fileURLToPath(new URL('../../data/games.jsonl', import.meta.url)) },
    /** Games file (JSONL): every game played is appended; a rerun resumes each row after its last game. */
    out: { type: 'string' },
  },
});
const games = Number(values.games);
const randomSeed = Number(values['random-seed']);
if (!Number.isInteger(randomSeed)) throw new Error(`--random-seed must be an integer, got ${values['random-seed']}`);
const accuracyGames = Number(values['accuracy-games']);
const temperature = Number(values.temperature);
if (values.temperature.trim() === '' || !(temperature >= 0) || !Number.isFinite(temperature)) throw new Error(`--temperature must be a number >= 0, got ${values.temperature}`);
const player = await Player.load(values.model, undefined, { value: values.value });
const other = values.compare ? await Player.load(values.compare) : undefined;
if (values.history !== undefined) player.historyPlies = Number(values.history);
if (values.guidance !== undefined) player.guidance = Number(values.guidance);
// Accuracy and agreement measure prediction: the model's own top move among the playable ones. Play follows --plain.
player.ruleChecks = false;
if (other) other.ruleChecks = false;
const figures: Record<string, number | string> = {};
console.log(`xiangqi player: ${player.model.config.numLayers} layers, hidden ${player.model.config.hiddenSize}, trained ${player.model.metadata.step ?? '?'} steps, ${player.model.format} format${player.model.format !== 'moves' ? ` (${player.historyPlies} plies of history)` : ''}, guidance ${player.guidance}, value head ${player.valueHead ? `${player.valueHead.hiddenSize ? `tanh ${player.valueHead.hiddenSize}` : 'linear'} (test Brier ${player.valueHead.metadata.testBrier ?? '?'})` : 'none'}; Node ${process.version}, load average ${loadavg()[0]!.toFixed(2)}`);

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

// Strength: every mode, with and without the rule checks, against every opponent.
const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean);
for (const m of modes) if (!isPlayMode(m)) throw new Error(`--modes: "${m}" is not one of ${PLAY_MODES.join(', ')}`);
if (temperature > 0 && modes.some((m) => m !== 'policy')) throw new Error(`--temperature samples the policy's move; the value and search modes choose by value (give --modes policy)`);
const checks = values.checks.split(',').map((c) => c.trim());
for (const c of checks) if (c !== 'on' && c !== 'off') throw new Error(`--checks takes on, off or both (on,off), got "${c}"`);
if (values.plain) checks.splice(0, checks.length, 'off');
const openings = OPENINGS.slice(0, Number(values.openings)).map((line) => {
  const pos = Position.start();
  return line.split(' ').map((iccs) => { const m = parseIccs(pos, iccs); pos.play(m); return m; });
});
const searchFlag = (name: 'search-nodes' | 'search-ms' | 'search-depth') => {
  const text = values[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0) || (name !== 'search-ms' && !Number.isInteger(n))) throw new Error(`--${name} must be a ${name === 'search-ms' ? 'number' : 'whole number'} > 0, got "${text}"`);
  return n;
};
const explicitBudget = values['search-nodes'] || values['search-ms'] || values['search-depth']
  ? { nodes: searchFlag('search-nodes'), timeMs: searchFlag('search-ms'), ...(values['search-depth'] ? { depth: searchFlag('search-depth') } : {}) }
  : undefined;
// One budget given by flags applies to both search modes; otherwise each mode's default.
const budget = explicitBudget ?? player.budgetFor('search');
const alphaBetaBudget = explicitBudget ?? player.budgetFor('alphabeta');
const FAIRY = fileURLToPath(new URL('./fairy/node_modules/fairy-stockfish-nnue.wasm/uci.js', import.meta.url));
const opponents: { name: string; make: () => Promise<Mover & { close?: () => Promise<void> }> }[] = [];
for (const name of values.opponents.split(',').map((o) => o.trim())) {
  const depth = /^fairy(\d+)$/.exec(name)?.[1];
  if (name === 'random') opponents.push({ name, make: async () => randomMover(randomSeed) });
  else if (name === 'greedy') opponents.push({ name, make: async () => greedyMover(12) });
  else if (name === 'search') opponents.push({ name, make: async () => searchMover(13) });
  else if (name.startsWith('bert4ts:')) {
    // Mode against mode: our own UCI engine (bert4ts xiangqi uci) as the opponent, same model and value
    // files, at its mode's default budget (a bare `go`) or the budget flags', rule checks on unless `:plain`.
    // --history and --guidance are not passed on (the engine plays its defaults).
    const [, mode, plain, ...extra] = name.split(':');
    if (!isPlayMode(mode ?? '') || (plain !== undefined && plain !== 'plain') || extra.length) throw new Error(`--opponents: "${name}" is not bert4ts:MODE or bert4ts:MODE:plain (MODE one of ${PLAY_MODES.join(', ')})`);
    const args = [fileURLToPath(new URL('../bin/bert4ts.js', import.meta.url)), 'xiangqi', 'uci', '--mode', mode!, ...(values.model ? ['--model', values.model] : []), ...(values.value ? ['--value', values.value] : []), ...(plain ? ['--plain'] : [])];
    if (!player.availableModes.includes(mode as PlayMode)) throw new Error(`--opponents: ${name} needs what the ${mode} mode plays with (a value head; see --value)`);
    // The budget flags bind both sides; without them each side plays its mode's default budget.
    const go = explicitBudget ? [explicitBudget.nodes && `nodes ${explicitBudget.nodes}`, explicitBudget.timeMs && `movetime ${explicitBudget.timeMs}`, explicitBudget.depth && `depth ${explicitBudget.depth}`].filter(Boolean).join(' ') : '';
    opponents.push({ name, make: () => uciMover(`bert4ts ${mode}${plain ? ' (no rule checks)' : ''}`, process.execPath, args, { go }) });
  } else if (depth !== undefined) {
    if (!existsSync(FAIRY)) { console.log(`vs ${name}: skipped, Fairy-Stockfish is not installed (npm --prefix bench/fairy ci)`); continue; }
    // Node's fetch makes the wasm loader fetch a file path; without it, it reads the file.
    opponents.push({ name, make: () => uciMover(`fairy-stockfish depth ${depth}`, process.execPath, ['--no-experimental-fetch', FAIRY], { go: `depth ${depth}`, options: { UCI_Variant: 'xiangqi' } }) });
  } else throw new Error(`--opponents: unknown opponent "${name}" (random, greedy, search, fairyN, bert4ts:MODE[:plain])`);
}
/** One game of a row, as --out records it. */
interface GameLine { row: string; game: number; modelIsRed: boolean; result: 'win' | 'draw' | 'loss'; ending: string; plies: number; material: [number, number]; ms: number[]; /** Nodes searched per move (absent in files written before 2026-12-06 17:10). */ nodes?: number[]; load: number; time: string }
// What makes game i of a row the same game: a resumed run must agree on all of it.
const modelFile = playerModelFile(values.model);
const valueFile = values.value ?? valueHeadPathFor(modelFile);
const runConfig = JSON.stringify({
  model: fileSha256(modelFile), value: existsSync(valueFile) ? fileSha256(valueFile) : null, budget, ...(modes.includes('alphabeta') ? { alphaBetaBudget } : {}), openings: openings.length, randomSeed,
  history: player.historyPlies, guidance: player.guidance, ...(temperature > 0 ? { temperature } : {}),
});
const configLine = () => `${JSON.stringify({ config: JSON.parse(runConfig) as unknown, time: new Date().toISOString() })}\n`;
const played = new Map<string, GameLine[]>();
if (values.out && existsSync(values.out)) {
  const lines = readFileSync(values.out, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parsed: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    try {
      parsed.push(JSON.parse(lines[i]!));
    } catch {
      if (i === 0) throw new Error(`${values.out}: its first line is not JSON; not a games file written by --out (give another --out)`);
      if (i < lines.length - 1) throw new Error(`${values.out}:${i + 1}: not a JSON line; the games file is damaged`);
      // A line cut short by a kill mid-write: drop it (its game is played again).
      console.log(`${values.out}: dropping its last line, cut short (${lines[i]!.length} characters)`);
      writeFileAtomic(values.out, lines.slice(0, i).map((l) => `${l}\n`).join(''));
    }
  }
  const [head, ...rest] = parsed as [{ config?: unknown }, ...GameLine[]];
  if (head === undefined) writeFileAtomic(values.out, configLine());
  else if (JSON.stringify(head.config) !== runConfig) {
    throw new Error(`${values.out} was written by another setup (${JSON.stringify(head.config)}), this run is ${runConfig}: resume with the same model, value head and flags, or use another --out`);
  }
  for (const g of rest) {
    if (typeof g !== 'object' || g === null || typeof g.row !== 'string' || !Number.isInteger(g.game) || !Array.isArray(g.ms) || (g.nodes !== undefined && !Array.isArray(g.nodes))) throw new Error(`${values.out}: ${JSON.stringify(g).slice(0, 80)} is not a game line`);
    if (!played.has(g.row)) played.set(g.row, []);
    played.get(g.row)!.push(g);
  }
  for (const [row, list] of played) {
    list.forEach((g, i) => { if (g.game !== i) throw new Error(`${values.out}: row ${row} has game ${g.game} where game ${i} should be`); });
  }
} else if (values.out) writeFileAtomic(values.out, configLine());

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const eloText = (x: number) => (x === Infinity ? '+inf' : x === -Infinity ? '-inf' : `${x >= 0 ? '+' : ''}${Math.round(x)}`);
console.log(`${games} games a row, colours alternating, ${openings.length} openings (each from both sides); search budget ${JSON.stringify(budget)}${modes.includes('alphabeta') ? `, alphabeta ${JSON.stringify(alphaBetaBudget)}` : ''}; ${temperature > 0 ? `moves sampled at temperature ${temperature}` : 'most likely move'}`);
for (const { name, make } of games > 0 ? opponents : []) {
  const opponent = await make();
  try {
    for (const mode of modes as PlayMode[]) {
      if (mode !== 'policy' && !player.valueHead) { console.log(`vs ${name}, ${mode}: skipped, no value head (bert4ts xiangqi value; pass --value)`); continue; }
      for (const c of checks) {
        player.mode = mode;
        player.ruleChecks = c === 'on';
        const model = modelMover(player, { budget: mode === 'alphabeta' ? alphaBetaBudget : budget, temperature });
        const key = `${name}_${mode}_checks_${c}`;
        const rowGames = played.get(key) ?? [];
        const progress = new Progress({ label: `vs ${name} ${mode} checks ${c}`, total: games, unit: 'game' });
        if (rowGames.length) progress.tick(Math.min(games, rowGames.length));
        await playMatch(model, opponent, games, (i, g, modelIsRed) => {
          const [red, black] = capturedMaterial(g.moves);
          const line: GameLine = {
            row: key, game: i, modelIsRed, result: resultFor(g, modelIsRed), ending: `${resultFor(g, modelIsRed)} by ${g.reason}`, plies: g.plies,
            material: modelIsRed ? [red, black] : [black, red], ms: model.thinkMs.splice(0).map((x) => Number(x.toFixed(1))), nodes: model.nodes.splice(0), load: Number(loadavg()[0]!.toFixed(2)), time: new Date().toISOString(),
          };
          rowGames.push(line);
          if (values.out) appendFileSync(values.out, `${JSON.stringify(line)}\n`);
          progress.tick(1, { plies: g.plies });
        }, { openings, first: Math.min(games, rowGames.length) });
        progress.finish();
        // The row's figures: its first `games` games, whenever they were played.
        const row = rowGames.slice(0, games);
        const f: MatchFigures = { games: row.length, wins: row.filter((g) => g.result === 'win').length, draws: row.filter((g) => g.result === 'draw').length, losses: row.filter((g) => g.result === 'loss').length };
        // How games end and who wins material say why a result is what it is (e.g. draws at the ply cap).
        const endings = new Map<string, number>();
        for (const g of row) endings.set(g.ending, (endings.get(g.ending) ?? 0) + 1);
        const material = { model: row.reduce((n, g) => n + g.material[0], 0), opponent: row.reduce((n, g) => n + g.material[1], 0) };
        const e = eloEstimate(f);
        const ms = row.flatMap((g) => g.ms).sort((a, b) => a - b);
        const mean = ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length);
        const p95 = ms[Math.floor(0.95 * ms.length)] ?? 0;
        // Nodes a move over the games that recorded them (a row resumed from an older file may mix).
        const nodes = row.flatMap((g) => g.nodes ?? []);
        const meanNodes = nodes.length ? nodes.reduce((a, b) => a + b, 0) / nodes.length : undefined;
        const nodesText = meanNodes === undefined ? '' : `, ${meanNodes.toFixed(0)} nodes/move${nodes.length < ms.length ? ` (over ${nodes.length} of ${ms.length} moves)` : ''}`;
        console.log(`vs ${name.padEnd(7)} ${mode.padEnd(6)} checks ${c.padEnd(3)}  W/D/L ${f.wins}/${f.draws}/${f.losses}  score ${pct(e.score)}  Elo ${eloText(e.elo)} [${eloText(e.low)}, ${eloText(e.high)}]  ${mean.toFixed(0)} ms/move (p95 ${p95.toFixed(0)})${nodesText}`);
        console.log(`  endings: ${[...endings].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}; material captured per game (pawn 1, rook 9): model ${(material.model / row.length).toFixed(1)}, ${name} ${(material.opponent / row.length).toFixed(1)}`);
        Object.assign(figures, {
          [`${key}_wins`]: f.wins, [`${key}_draws`]: f.draws, [`${key}_losses`]: f.losses, [`${key}_score`]: Number(e.score.toFixed(3)),
          [`${key}_elo`]: Number.isFinite(e.elo) ? Math.round(e.elo) : String(e.elo), [`${key}_ms_per_move`]: Number(mean.toFixed(1)), ...(meanNodes === undefined ? {} : { [`${key}_nodes_per_move`]: Math.round(meanNodes) }),
        });
      }
    }
  } finally {
    await opponent.close?.();
  }
}
await player.release();
console.log(JSON.stringify(figures));
