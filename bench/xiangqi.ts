/**
 * `npm run bench -- xiangqi [--repeat N]`: move generator speed as perft nodes per second (leaf
 * nodes of the legal move tree, counted in bulk at the last ply, as engines report perft), from the
 * start position at depth 5 (133,312,995 nodes) and the other positions of the shared perft file;
 * plus notation throughput. Prints rows, then one JSON line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Position, START_FEN } from '../src/xiangqi/board.ts';
import { formatMove, parseMove } from '../src/xiangqi/notation.ts';
import { parsePerftFile, type PerftCase } from '../src/xiangqi/perft.ts';

const { values } = parseArgs({ args: process.argv.slice(2), options: { repeat: { type: 'string', default: '3' } } });
const repeat = Number(values.repeat);

const PERFT_FILE = new URL('../../shared/data/xiangqi/perft.txt', import.meta.url);
const cases: PerftCase[] = existsSync(PERFT_FILE)
  ? parsePerftFile(readFileSync(PERFT_FILE, 'utf8'))
  : [{ fen: START_FEN, counts: new Map([[5, 133_312_995]]), line: 0 }];

const figures: Record<string, number> = {};
// Other work on the machine slows perft a lot on 2 cores: print the load so figures can be judged.
const load = Number(loadavg()[0]!.toFixed(2));
console.log(`perft (best of ${repeat}), Node ${process.version}, load average ${load}`);
for (const [i, c] of cases.entries()) {
  const depth = Math.max(...[...c.counts.keys()].filter((d) => d <= 5));
  const expected = c.counts.get(depth)!;
  const pos = Position.fromFen(c.fen);
  let best = Infinity, nodes = 0;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    nodes = pos.perft(depth);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  if (nodes !== expected) throw new Error(`perft mismatch for ${c.fen} at depth ${depth}: got ${nodes}, expected ${expected}`);
  const rate = nodes / best;
  console.log(`  position ${i + 1} depth ${depth}: ${nodes.toLocaleString('en')} nodes in ${best.toFixed(2)} s = ${(rate / 1e6).toFixed(1)} M nodes/s  ${c.fen}`);
  const isStart = c.fen.split(' ')[0] === START_FEN.split(' ')[0];
  const name = isStart ? `start_d${depth}` : `pos${i + 1}_d${depth}`;
  figures[`${name}_nodes_per_s`] = Math.round(rate);
  figures[`${name}_seconds`] = Number(best.toFixed(3));
}

// Legal move generation alone (no bulk counting): full legal lists along random games.
{
  const pos = Position.start();
  let s = 1;
  const random = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  let lists = 0, moves = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    const legal = pos.legalMoves();
    lists++;
    moves += legal.length;
    if (!legal.length || pos.ply > 200) while (pos.ply) pos.unmake();
    else pos.make(legal[Math.floor(random() * legal.length)]!);
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`legalMoves(): ${(lists / secs / 1e3).toFixed(0)} k positions/s (${(moves / lists).toFixed(1)} moves each, random games)`);
  figures.legal_lists_per_s = Math.round(lists / secs);
}

// Notation: write every legal move in Chinese and read it back, as the game UI and corpus do.
{
  const pos = Position.start();
  pos.make(parseMove(pos, '炮二平五'));
  const legal = pos.legalMoves();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    for (const m of legal) {
      if (parseMove(pos, formatMove(pos, m, 'chinese')) !== m) throw new Error('round trip failed');
      n++;
    }
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`Chinese notation: ${(n / secs / 1e3).toFixed(1)} k moves/s written and parsed back`);
  figures.chinese_roundtrips_per_s = Math.round(n / secs);
}

console.log(JSON.stringify({ bench: 'xiangqi', load_average: load, ...figures }));
