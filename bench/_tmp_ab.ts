import { fileURLToPath } from 'node:url';
import { Position, moveTo, type Move } from '../src/xiangqi/board.ts';
import { parseIccs } from '../src/xiangqi/notation.ts';
import { playMatch, uciMover, capturedMaterial, materialLead, searchMover, OPENINGS, type Mover } from '../src/xiangqi/player/match.ts';
import { loadValueHead } from '../src/xiangqi/player/value.ts';
import { boardValueProbs, boardInputs } from '../src/xiangqi/player/boardValue.ts';
const FAIRY = fileURLToPath(new URL('./fairy/node_modules/fairy-stockfish-nnue.wasm/uci.js', import.meta.url));
const head = loadValueHead(process.env.VALUE ?? 'models/xiangqi/value.safetensors');
const depth = Number(process.argv[3] ?? 2);
let nodes = 0;
// expected score for side to move
const H = head.hiddenSize;
function probs(active: number[]): number[] {
  const z = Float64Array.from(head.b1);
  for (const i of active) for (let k = 0; k < H; k++) z[k]! += head.w1[i * H + k]!;
  const logits = [0, 1, 2].map((c) => { let x = head.b2![c]!; for (let k = 0; k < H; k++) x += Math.tanh(z[k]!) * head.w2![k * 3 + c]!; return x; });
  const max = Math.max(...logits); const e = logits.map((l) => Math.exp(l - max)); const sum = e[0]! + e[1]! + e[2]!;
  return e.map((x) => x / sum);
}
const SYM = process.env.SYM === '1';
const evalPos = (pos: Position) => {
  nodes++;
  if (process.env.MAT === '1') return 1 / (1 + Math.exp(-materialLead(pos) / 3));
  const a = boardInputs(pos);
  const [r, d, b] = probs(a);
  let v = (pos.side === 0 ? r! : b!) + 0.5 * d!;
  if (SYM) {
    // the colour-mirrored position: red <-> black, rows flipped, the other side to move
    const m = a.filter((i) => i < 1260).map((i) => { const kind = Math.floor(i / 90), sq = i % 90, row = Math.floor(sq / 9), file = sq % 9; return ((kind + 7) % 14) * 90 + (9 - row) * 9 + file; });
    if (pos.side === 0) m.push(1260);
    const [r2, d2, b2] = probs(m);
    v = (v + (pos.side === 0 ? b2! : r2!) + 0.5 * d2!) / 2;
  }
  return v;
};
const captures = (pos: Position) => pos.legalMoves().filter((m) => pos.pieceAt(moveTo(m)) !== 0);
function qsearch(pos: Position, alpha: number, beta: number, qd: number): number {
  const stand = evalPos(pos);
  if (stand >= beta || qd <= 0) return stand;
  if (stand > alpha) alpha = stand;
  for (const m of captures(pos)) {
    pos.make(m);
    const s = 1 - qsearch(pos, 1 - beta, 1 - alpha, qd - 1);
    pos.unmake();
    if (s >= beta) return s;
    if (s > alpha) alpha = s;
  }
  return alpha;
}
function search(pos: Position, d: number, alpha: number, beta: number): number {
  const moves = pos.legalMoves();
  if (!moves.length) return 0; // mate or stalemate loses
  if (pos.repetitions() > 0) return 0.5;
  if (d === 0) return qsearch(pos, alpha, beta, 4);
  moves.sort((a, b) => (pos.pieceAt(moveTo(b)) ? 1 : 0) - (pos.pieceAt(moveTo(a)) ? 1 : 0));
  let best = -1;
  for (const m of moves) {
    pos.make(m);
    const s = 1 - search(pos, d - 1, 1 - beta, 1 - alpha);
    pos.unmake();
    if (s > best) best = s;
    if (s > alpha) alpha = s;
    if (alpha >= beta) break;
  }
  return best;
}
const ab: Mover = { name: 'ab', move(pos0) {
  const pos = pos0.clone();
  let bestM: Move = 0, best = -2;
  for (const m of pos.legalMoves()) {
    pos.make(m);
    const s = 1 - search(pos, depth - 1, 1 - 1.0001, 1 - best);
    pos.unmake();
    if (s > best) { best = s; bestM = m; }
  }
  return bestM;
} };
const openings = OPENINGS.map((line) => { const pos = Position.start(); return line.split(' ').map((iccs) => { const m = parseIccs(pos, iccs); pos.play(m); return m; }); });
const me = process.env.SM === '1' ? searchMover(1) : ab;
const fairy = await uciMover('fairy1', process.execPath, ['--no-experimental-fetch', FAIRY], { go: 'depth 1', options: { UCI_Variant: 'xiangqi' } });
const t0 = Date.now();
const f = await playMatch(me, fairy, Number(process.argv[2] ?? 6), (i, g, red) => process.env.V && console.log(i, red ? 'red' : 'black', g.result, g.reason, g.moves.length, capturedMaterial(g.moves), 'nodes', nodes, ((Date.now() - t0) / 1000).toFixed(0) + 's'), { openings });
console.log(JSON.stringify(f));
await fairy.close();
