// Self-imitation pilot (issue 25, docs/XIANGQI.md "Nor does imitating its own wins"): the plain policy
// samples its moves (temperature T) against the random mover, from the bench's openings; the games it
// wins become `xiangqi train --mix` records whose targets are its own moves after the opening.
// Development only. Resumes after the games already in OUT.log (appends to OUT and OUT.log).
//   node --import tsx bench/_xiangqi_self_imitation.ts MODEL SEED GAMES T OUT [MAX_PLIES=160]
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { Player } from '../src/xiangqi/player/player.ts';
import { playGame, randomMover, modelMover, OPENINGS } from '../src/xiangqi/player/match.ts';
import { moveToIccs, Position } from '../src/xiangqi/board.ts';
import { moveFromIccs } from '../src/xiangqi/player/vocab.ts';
const [model, seedText, gamesText, tText, out] = process.argv.slice(2);
const seed = Number(seedText), games = Number(gamesText), T = Number(tText), maxPlies = Number(process.argv[7] ?? 160);
if (!out || !Number.isInteger(seed) || !(Number.isInteger(games) && games > 0) || !(T >= 0) || !(Number.isInteger(maxPlies) && maxPlies > 2)) {
  process.stderr.write('usage: node --import tsx bench/_xiangqi_self_imitation.ts MODEL SEED GAMES T OUT [MAX_PLIES=160]\n');
  process.exit(2);
}
const player = await Player.load(model);
player.ruleChecks = false;
const openings = OPENINGS.map((o) => { const p = Position.start(); return o.split(' ').map((m) => { const mv = moveFromIccs(m); p.make(mv); return mv; }); });
const done = existsSync(out + '.log') ? readFileSync(out + '.log', 'utf8').trim().split('\n').filter(Boolean).length : 0;
const t = { win: 0, draw: 0, loss: 0 };
const started = Date.now();
const policy = modelMover(player, { temperature: T, seed }), random = randomMover(seed + 7);
for (let i = done; i < games; i++) {
  const modelIsRed = i % 2 === 0;
  const opening = openings[Math.floor(i / 2) % openings.length];
  const g = modelIsRed ? await playGame(policy, random, { opening, game: i, maxPlies }) : await playGame(random, policy, { opening, game: i, maxPlies });
  const won = g.result === (modelIsRed ? '1-0' : '0-1');
  const r = won ? 'win' : g.result === '1/2-1/2' ? 'draw' : 'loss';
  t[r]++;
  if (won) {
    const learn = g.moves.map((_, ply) => (ply >= 2 && (ply % 2 === 0) === modelIsRed ? '1' : '0')).join('');
    appendFileSync(out, JSON.stringify({ id: `si-${seed}-${i}`, iccs: g.moves.map(moveToIccs).join(' '), result: g.result, ending: g.reason, learn }) + '\n');
  }
  appendFileSync(out + '.log', JSON.stringify({ i, r, ending: g.reason, plies: g.plies }) + '\n');
  process.stderr.write(`game ${i + 1}/${games}: ${r} (${g.reason}, ${g.plies} plies); ${t.win}/${t.draw}/${t.loss}; ${((Date.now() - started) / 1000 / (i + 1 - done)).toFixed(1)} s a game\n`);
}
await player.release();
