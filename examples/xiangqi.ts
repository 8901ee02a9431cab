// The xiangqi player from code: the model's candidates for a position, a reply from a FEN, and a
// short game against the random mover with the moves in Chinese notation. Uses the shipped model
// (models/xiangqi/model.safetensors) unless given another file.
//   npx tsx examples/xiangqi.ts [model.safetensors]
import { xiangqi } from '../src/index.ts';

const { Player, Position, formatMove, formatLine, modelMover, playGame, randomMover } = xiangqi;
const player = await Player.load(process.argv[2]);

const start = Position.start();
const { candidates } = await player.choose(start);
console.log('opening candidates:', candidates.slice(0, 5).map((c) => `${formatMove(start, c.move, 'chinese')} ${(100 * c.probability).toFixed(1)}%`).join(', '));

const fen = Position.fromFen('3akab2/9/4b4/p3p1p1p/9/2p6/P3P1P1P/4C4/9/1RBAKAB2 w - - 0 1');
const reply = await player.choose(fen, { temperature: 0.5 });
console.log(`from ${fen.fen()}: ${formatMove(fen, reply.move, 'iccs')} ${formatMove(fen, reply.move, 'chinese')} (${reply.thinkMs.toFixed(0)} ms)`);

const game = await playGame(modelMover(player), randomMover(1), { maxPlies: 40 });
console.log(`against the random mover, at most 40 plies: ${game.result} (${game.reason})`);
console.log(formatLine(Position.start(), game.moves, 'chinese').join(' '));
await player.release();
