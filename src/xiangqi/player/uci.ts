/**
 * `bert4ts xiangqi uci`: the player as an engine. Speaks UCI as Fairy-Stockfish does for xiangqi
 * (`uci` ... `uciok`; `UCI_Variant` option; squares a1..i10, red at the bottom) and UCCI (`ucci` ...
 * `ucciok`; ICCS squares a0..i9). It searches nothing: `go` scores every legal move with one forward
 * pass and answers at once, whatever movetime/depth/nodes ask for.
 */
import { Position, START_FEN, moveToIccs, type Move } from '../board.ts';
import { moveToUci, parseIccs, parseUci } from '../notation.ts';
import type { Player } from './player.ts';

export const ENGINE_NAME = 'bert4ts xiangqi LM';

/**
 * After a rejected `position` the engine has no position: `go` then answers with no move (`bestmove
 * (none)`, UCCI `nobestmove`) and an info string saying why, rather than a move for the previous
 * position that the GUI would apply to the one it meant. A valid `position` or `ucinewgame` clears it.
 */
export class UciEngine {
  private pos: Position | undefined = Position.start();
  private rejected = '';
  private protocol: 'uci' | 'ucci' = 'uci';

  constructor(private readonly player: Player, private readonly send: (line: string) => void, private readonly temperature = 0) {}

  private format(m: Move): string {
    return this.protocol === 'uci' ? moveToUci(m) : moveToIccs(m);
  }

  private noMove(why: string): void {
    this.send(`info string ${why}`);
    this.send(this.protocol === 'uci' ? 'bestmove (none)' : 'nobestmove');
  }

  /** Handle one input line. Returns false on `quit`. Never throws: a failure is an info string. */
  async handle(line: string): Promise<boolean> {
    try {
      return await this.command(line);
    } catch (e) {
      this.send(`info string error: ${(e as Error).message}`);
      return true;
    }
  }

  private async command(line: string): Promise<boolean> {
    const words = line.trim().split(/\s+/).filter(Boolean);
    const [cmd, ...args] = words;
    switch (cmd) {
      case undefined:
        return true;
      case 'uci':
      case 'ucci':
        this.protocol = cmd;
        this.send(`id name ${ENGINE_NAME}`);
        this.send('id author bert4ts');
        if (cmd === 'uci') this.send('option name UCI_Variant type combo default xiangqi var xiangqi');
        this.send(`${cmd}ok`);
        return true;
      case 'isready':
        this.send('readyok');
        return true;
      case 'ucinewgame':
        this.pos = Position.start();
        this.rejected = '';
        return true;
      case 'setoption': {
        const m = /^name\s+(.+?)(?:\s+value\s+(.*))?$/i.exec(args.join(' '));
        if (!m) this.send('info string setoption: expected "setoption name <id> [value <x>]"');
        else if (m[1]!.toLowerCase() === 'uci_variant' && (m[2] ?? '').toLowerCase() !== 'xiangqi') this.send(`info string this engine only plays xiangqi, not "${m[2]}"`);
        else if (m[1]!.toLowerCase() !== 'uci_variant') this.send(`info string no option named "${m[1]}"`);
        return true;
      }
      case 'position':
        this.position(args);
        return true;
      case 'go':
        await this.go();
        return true;
      case 'stop':
      case 'ponderhit':
        return true; // `go` has already answered
      case 'quit':
        return false;
      default:
        this.send(`info string unknown command "${cmd}"`);
        return true;
    }
  }

  private position(args: string[]): void {
    const movesAt = args.indexOf('moves');
    const spec = movesAt < 0 ? args : args.slice(0, movesAt);
    const moves = movesAt < 0 ? [] : args.slice(movesAt + 1);
    let pos: Position;
    try {
      if (spec[0] === 'startpos') pos = Position.start();
      else if (spec[0] === 'fen') pos = Position.fromFen(spec.slice(1).join(' ') || START_FEN);
      else throw new Error('expected "position startpos|fen <FEN> [moves ...]"');
      for (const text of moves) pos.play(this.protocol === 'uci' ? parseUci(pos, text) : parseIccs(pos, text));
    } catch (e) {
      this.rejected = (e as Error).message;
      this.pos = undefined;
      this.send(`info string position ignored: ${this.rejected}`);
      return;
    }
    this.pos = pos;
    this.rejected = '';
  }

  private async go(): Promise<void> {
    const pos = this.pos;
    if (!pos) return this.noMove(`no position to play from: the last "position" was rejected (${this.rejected}); send a valid one`);
    if (!pos.hasLegalMove()) return this.noMove('no legal move: the game is over');
    let choice;
    try {
      choice = await this.player.choose(pos, { temperature: this.temperature });
    } catch (e) {
      return this.noMove(`cannot choose a move: ${(e as Error).message}`);
    }
    const best = choice.candidates.find((c) => c.move === choice.move)!;
    // No search, so no centipawn score: the move's probability goes in an info string instead.
    this.send(`info depth 1 time ${Math.round(choice.thinkMs)} pv ${this.format(choice.move)}`);
    this.send(`info string probability ${best.probability.toFixed(3)} among ${choice.candidates.length} legal moves`);
    this.send(`bestmove ${this.format(choice.move)}`);
  }
}

/** Longest command line read; GUIs send a few kB at most (a position with its moves). */
const MAX_LINE = 1 << 20;

/** Lines of `input`; a line over MAX_LINE is dropped as it streams in (never held whole) and yields `undefined`. */
async function* boundedLines(input: NodeJS.ReadableStream): AsyncGenerator<string | undefined> {
  const decoder = new TextDecoder();
  let pending = '', dropping = false;
  for await (const chunk of input) {
    pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true });
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      if (!dropping) yield nl > MAX_LINE ? undefined : pending.slice(0, nl);
      dropping = false;
      pending = pending.slice(nl + 1);
    }
    if (pending.length > MAX_LINE) {
      if (!dropping) yield undefined;
      dropping = true;
      pending = '';
    }
  }
  if (pending && !dropping) yield pending;
}

/** Read commands line by line from `input` until `quit` or end of input. */
export async function runUci(player: Player, input: NodeJS.ReadableStream, send: (line: string) => void, temperature = 0): Promise<void> {
  const engine = new UciEngine(player, send, temperature);
  for await (const line of boundedLines(input)) {
    if (line === undefined) send(`info string line ignored: longer than ${MAX_LINE} characters`);
    else if (!(await engine.handle(line))) break;
  }
}
