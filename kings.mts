import { readFileSync } from 'node:fs';
import { Position, moveFrom, KING } from '../main/src/xiangqi/board.ts';
import { moveFromIccs } from '../main/src/xiangqi/player/vocab.ts';
for (const f of ['/work/data/synth1.jsonl', '/work/data/synth2.jsonl']) {
  const lines = readFileSync(f, 'utf8').split('\n').slice(0, 500).filter(Boolean);
  let t = 0, k = 0;
  for (const l of lines) { const g = JSON.parse(l); const pos = Position.start(); const ms = g.iccs.split(' ');
    ms.forEach((s: string, i: number) => { const m = moveFromIccs(s); if (g.learn[i] === '1') { t++; if ((pos.pieceAt(moveFrom(m)) & 7) === KING) k++; } pos.make(m); }); }
  console.log(f, 'targets', t, 'king moves', k, (100 * k / t).toFixed(1) + '%');
}
