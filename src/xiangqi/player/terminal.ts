/**
 * `bert4ts xiangqi play`: a game against the model in the terminal. The board is drawn with ANSI
 * colours (red pieces red, black pieces bold), moves are typed in ICCS (h2e2), WXF (C2.5) or
 * Chinese (炮二平五), and every move is echoed in all three.
 */
import { createInterface } from 'node:readline';
import { Position, RED, squareAt, moveFrom, moveTo, type Move, type Side } from '../board.ts';
import { formatMove, parseMove } from '../notation.ts';
import type { Player } from './player.ts';

// Red and black glyphs differ for every piece (俥傌炮 vs 車馬砲), so the board reads without colour too.
const GLYPHS = { red: ' 帥仕相傌俥炮兵', black: ' 將士象馬車砲卒' };

export interface BoardStyle { colour: boolean }

/**
 * The board as text, black's side at the top, ICCS files a-i and ranks 9-0 at the edges. Each cell
 * is 3 columns: a CJK glyph (2 columns wide) and a space, or a dot and two spaces.
 */
export function drawBoard(pos: Position, o: BoardStyle & { lastMove?: Move } = { colour: true }): string {
  const paint = (code: string, s: string) => (o.colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const marked = o.lastMove === undefined ? [] : [moveFrom(o.lastMove), moveTo(o.lastMove)];
  const files = '   ' + [...'abcdefghi'].map((f) => f + '  ').join('').trimEnd();
  const lines = [files];
  for (let row = 0; row < 10; row++) {
    let line = ` ${9 - row} `;
    for (let file = 0; file < 9; file++) {
      const sq = squareAt(file, row);
      const p = pos.pieceAt(sq);
      const code = marked.includes(sq) ? '4;' : ''; // underline the last move's squares
      if (p) line += paint(code + (p & RED ? '31;1' : '1'), (p & RED ? GLYPHS.red : GLYPHS.black)[p & 7]!) + ' ';
      else line += paint(code + '2', '·') + '  ';
    }
    lines.push(line + `${9 - row}`);
    if (row === 4) lines.push(paint('2', '   ~~~~~ 楚河      漢界 ~~~~~'));
  }
  lines.push(files);
  return lines.join('\n');
}

/** A move in ICCS, WXF and Chinese, e.g. "h2e2 / C2.5 / 炮二平五" (pos: before the move). */
export function describeMove(pos: Position, m: Move): string {
  return `${formatMove(pos, m, 'iccs')} / ${formatMove(pos, m, 'wxf')} / ${formatMove(pos, m, 'chinese')}`;
}

const HELP = `Type a move in ICCS (h2e2), WXF (C2.5) or Chinese (炮二平五). Commands:
  hint   the model's top 5 moves for you     undo   take back your last move
  board  draw the board again                 new    start a new game
  fen    print the position as FEN            quit   leave`;

export interface PlayOptions {
  side: Side;
  temperature: number;
  colour: boolean;
  input: NodeJS.ReadableStream;
  output: { write(s: string): unknown };
}

/** The interactive loop. Resolves when the input ends or the user quits. */
export async function playInTerminal(player: Player, o: PlayOptions): Promise<void> {
  let pos = Position.start();
  const say = (s: string) => o.output.write(s + '\n');
  let last: Move | undefined;

  const show = () => say(drawBoard(pos, { colour: o.colour, lastMove: last }));
  const over = (): boolean => {
    const outcome = pos.outcome();
    if (!outcome) return false;
    const youWon = (outcome.result === '1-0') === (o.side === 0) && outcome.result !== '1/2-1/2';
    say(`Game over: ${outcome.result} by ${outcome.reason}${outcome.result === '1/2-1/2' ? '' : youWon ? ' — you win!' : ' — the model wins'}. Type "new" to play again or "quit".`);
    return true;
  };
  const modelMoves = async () => {
    if (over()) return;
    const choice = await player.choose(pos, { temperature: o.temperature });
    const text = describeMove(pos, choice.move);
    const p = (100 * choice.candidates.find((c) => c.move === choice.move)!.probability).toFixed(1);
    pos.play(choice.move);
    last = choice.move;
    show();
    say(`Model plays ${text}  (p ${p}%, ${choice.thinkMs.toFixed(0)} ms)`);
    over();
  };

  say(`You play ${o.side === 0 ? 'red (bottom, moves first)' : 'black (top)'}. ${HELP}`);
  show();
  if (o.side !== pos.side) await modelMoves();
  const rl = createInterface({ input: o.input, terminal: false });
  const prompt = () => o.output.write(`${pos.side === 0 ? 'red' : 'black'}> `);
  prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    if (!line) { prompt(); continue; }
    const cmd = line.toLowerCase();
    if (cmd === 'quit' || cmd === 'exit') break;
    if (cmd === 'help') say(HELP);
    else if (cmd === 'board') show();
    else if (cmd === 'fen') say(pos.fen());
    else if (cmd === 'new') {
      pos = Position.start();
      last = undefined;
      show();
      if (o.side !== pos.side) await modelMoves();
    } else if (cmd === 'undo') {
      // Take back the model's reply and the user's move, so it is the user's turn again.
      const plies = pos.side === o.side ? 2 : 1;
      if (pos.ply < plies || (plies === 2 && pos.ply - 2 < (o.side === 0 ? 0 : 1))) say('Nothing to undo.');
      else {
        for (let i = 0; i < plies; i++) pos.unmake();
        const h = pos.history();
        last = h[h.length - 1];
        show();
      }
    } else if (cmd === 'hint') {
      if (pos.outcome()) say('The game is over.');
      else {
        const ranked = await player.analyse(pos);
        for (const c of ranked.slice(0, 5)) say(`  ${describeMove(pos, c.move).padEnd(28)} ${(100 * c.probability).toFixed(1)}%`);
      }
    } else if (pos.outcome()) {
      over();
    } else if (pos.side !== o.side) {
      say('Wait for the model to move.');
    } else {
      let m: Move;
      try {
        m = parseMove(pos, line);
      } catch (e) {
        say(`${(e as Error).message}`);
        prompt();
        continue;
      }
      say(`You play ${describeMove(pos, m)}`);
      pos.play(m);
      last = m;
      if (!over()) await modelMoves();
      else show();
    }
    prompt();
  }
  rl.close();
  say('Bye.');
}
