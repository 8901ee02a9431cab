/**
 * `bert4ts xiangqi uci`: the player as an engine. Speaks UCI as Fairy-Stockfish does for xiangqi
 * (`uci` ... `uciok`; `UCI_Variant` option; squares a1..i10, red at the bottom) and UCCI (`ucci` ...
 * `ucciok`; ICCS squares a0..i9). Options `Mode` (policy, value, search, alphabeta: Player.mode),
 * `RuleChecks` and, for a `position`- or `board`-format model, `History` (Player.historyPlies). `go`
 * answers as soon as the choice is made: at once in the policy and value modes (one network run), in the search modes when the budget runs out — `movetime`, `nodes`, `depth`, the
 * clock (`wtime`/`btime`, `winc`/`binc`, `movestogo`), or `stop` after `go infinite` — or when the
 * search has nothing left to expand. While it thinks, `isready` is answered and `stop` ends the search.
 */
import { Position, START_FEN, moveToIccs, type Move } from '../board.ts';
import { moveToUci, parseIccs, parseUci } from '../notation.ts';
import { isPlayMode, Player, PLAY_MODES, type Budget } from './player.ts';

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
  /** The `go` being answered, and how to stop it. */
  private thinking: Promise<void> | undefined;
  private stopFlag = { stopped: false };

  constructor(private readonly player: Player, private readonly send: (line: string) => void, private readonly temperature = 0) {}

  private format(m: Move): string {
    return this.protocol === 'uci' ? moveToUci(m) : moveToIccs(m);
  }

  private noMove(why: string): void {
    this.send(`info string ${why}`);
    this.send(this.protocol === 'uci' ? 'bestmove (none)' : 'nobestmove');
  }

  /**
   * Handle one input line. Returns false on `quit`. Never throws: a failure is an info string. `go`
   * returns while the engine thinks; `isready` is answered at once, `stop` and `quit` end the
   * thinking, and any other command waits for it to finish.
   */
  async handle(line: string): Promise<boolean> {
    try {
      return await this.command(line);
    } catch (e) {
      this.send(`info string error: ${(e as Error).message}`);
      return true;
    }
  }

  /** Wait until the current `go` (if any) has answered. */
  async idle(): Promise<void> {
    while (this.thinking) await this.thinking;
  }

  private async command(line: string): Promise<boolean> {
    const words = line.trim().split(/\s+/).filter(Boolean);
    const [cmd, ...args] = words;
    if (cmd === 'stop' || cmd === 'quit') this.stopFlag.stopped = true;
    if (cmd !== 'isready' && cmd !== undefined) await this.idle();
    switch (cmd) {
      case undefined:
        return true;
      case 'uci':
      case 'ucci':
        this.protocol = cmd;
        this.send(`id name ${ENGINE_NAME}`);
        this.send('id author bert4ts');
        if (cmd === 'uci') {
          this.send('option name UCI_Variant type combo default xiangqi var xiangqi');
          this.send(`option name Mode type combo default ${this.player.mode} ${PLAY_MODES.map((m) => `var ${m}`).join(' ')}`);
          this.send(`option name RuleChecks type check default ${this.player.ruleChecks}`);
          if (this.player.model.format !== 'moves') this.send(`option name History type spin default ${this.player.historyPlies} min 0 max ${Player.maxHistory(this.player.model)}`);
        }
        this.send(`${cmd}ok`);
        return true;
      case 'isready':
        this.send('readyok');
        return true;
      case 'ucinewgame':
        this.pos = Position.start();
        this.rejected = '';
        return true;
      case 'setoption':
        this.setOption(args.join(' '));
        return true;
      case 'position':
        this.position(args);
        return true;
      case 'go': {
        let budget: Budget | undefined;
        try {
          budget = this.budget(args);
        } catch (e) {
          this.noMove(`go: ${(e as Error).message}`);
          return true;
        }
        this.stopFlag = { stopped: false };
        budget = { ...budget, stop: this.stopFlag };
        this.thinking = this.go(budget).finally(() => { this.thinking = undefined; });
        return true;
      }
      case 'stop':
      case 'ponderhit':
        return true; // a search was stopped above; `go` has answered
      case 'quit':
        return false;
      default:
        this.send(`info string unknown command "${cmd}"`);
        return true;
    }
  }

  private setOption(text: string): void {
    const m = /^name\s+(.+?)(?:\s+value\s+(.*))?$/i.exec(text);
    if (!m) return this.send('info string setoption: expected "setoption name <id> [value <x>]"');
    const name = m[1]!.toLowerCase(), value = (m[2] ?? '').trim();
    if (name === 'uci_variant') {
      if (value.toLowerCase() !== 'xiangqi') this.send(`info string this engine only plays xiangqi, not "${value}"`);
    } else if (name === 'mode') {
      const mode = value.toLowerCase();
      if (!isPlayMode(mode)) return this.send(`info string setoption Mode: expected one of ${PLAY_MODES.join(', ')}, got "${value}"`);
      try {
        this.player.mode = mode;
      } catch (e) {
        this.send(`info string setoption Mode: ${(e as Error).message}`);
      }
    } else if (name === 'rulechecks') {
      if (value !== 'true' && value !== 'false') return this.send(`info string setoption RuleChecks: expected true or false, got "${value}"`);
      this.player.ruleChecks = value === 'true';
    } else if (name === 'history' && this.player.model.format !== 'moves') {
      const plies = value === '' ? NaN : Number(value);
      try {
        this.player.historyPlies = plies;
      } catch (e) {
        this.send(`info string setoption History: ${(e as Error).message}`);
      }
    } else {
      this.send(`info string no option named "${m[1]}"`);
    }
  }

  /**
   * The search budget of a `go` command. The clock gives a move its share of the time left (over
   * `movestogo` moves, 30 when not given) plus most of the increment, never more than half the time
   * left. No limit at all: the player's default budget for its mode (Player.defaultBudget); `infinite`: until `stop`.
   */
  private budget(args: string[]): Budget {
    const budget: Budget = {};
    const clock: Record<string, number> = {};
    let infinite = false;
    for (let i = 0; i < args.length; i++) {
      const word = args[i]!;
      if (word === 'infinite') { infinite = true; continue; }
      if (word === 'ponder') continue;
      if (word === 'searchmoves') throw new Error('searchmoves is not supported');
      if (!['movetime', 'nodes', 'depth', 'wtime', 'btime', 'winc', 'binc', 'movestogo', 'mate'].includes(word)) throw new Error(`unknown parameter "${word}"`);
      const text = args[++i];
      const n = Number(text);
      // Clocks may run below zero in some GUIs: take them as 0.
      if (text === undefined || !Number.isFinite(n) || (n < 0 && word !== 'wtime' && word !== 'btime')) throw new Error(`${word} needs a number >= 0, got ${text === undefined ? 'nothing' : `"${text}"`}`);
      if (word === 'movetime') budget.timeMs = Math.max(1, n - Math.min(50, n / 10)); // a margin for the reply to travel
      else if (word === 'nodes') budget.nodes = Math.max(1, Math.floor(n));
      else if (word === 'depth' || word === 'mate') budget.depth = Math.max(1, Math.floor(n));
      else clock[word] = Math.max(0, n);
    }
    const side = this.pos?.side ?? 0;
    const left = side === 0 ? clock.wtime : clock.btime;
    if (left !== undefined) {
      const inc = (side === 0 ? clock.winc : clock.binc) ?? 0;
      const share = left / (clock.movestogo || 30) + 0.75 * inc;
      const fromClock = Math.max(1, Math.min(share, left / 2) - 20);
      budget.timeMs = Math.min(budget.timeMs ?? Infinity, fromClock);
    }
    if (infinite) return {};
    return budget.timeMs === undefined && budget.nodes === undefined && budget.depth === undefined ? this.player.defaultBudget : budget;
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

  private async go(budget: Budget): Promise<void> {
    const pos = this.pos?.clone();
    if (!pos) return this.noMove(`no position to play from: the last "position" was rejected (${this.rejected}); send a valid one`);
    if (!pos.hasLegalMove()) return this.noMove('no legal move: the game is over');
    let choice;
    try {
      choice = await this.player.choose(pos, { temperature: this.temperature, budget });
    } catch (e) {
      return this.noMove(`cannot choose a move: ${(e as Error).message}`);
    }
    const best = choice.candidates.find((c) => c.move === choice.move)!;
    const time = Math.round(choice.thinkMs);
    if (choice.value === undefined) {
      // The policy mode has no evaluation: the move's probability goes in an info string instead.
      this.send(`info depth 1 time ${time} pv ${this.format(choice.move)}`);
      this.send(`info string probability ${best.probability.toFixed(3)} among ${choice.candidates.length} legal moves`);
    } else {
      // A proven win or loss as `mate N` (in moves, negative when the engine is mated); else the
      // expected score s (win 1, draw ½) as centipawns by the usual logistic, 400·log10(s / (1 − s)).
      const s = Math.min(0.999, Math.max(0.001, choice.value));
      const decided = choice.provenPlies !== undefined && choice.value !== 0.5; // a proven draw stays cp 0
      const score = decided ? `mate ${(choice.value === 1 ? 1 : -1) * Math.ceil(choice.provenPlies! / 2)}` : `cp ${Math.round(400 * Math.log10(s / (1 - s)))}`;
      this.send(`info depth ${choice.depth ?? 1} nodes ${choice.nodes ?? 1} time ${time} score ${score} pv ${this.format(choice.move)}`);
      this.send(`info string expected score ${choice.value.toFixed(3)} (${this.player.mode} mode) among ${choice.candidates.length} moves`);
    }
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
  await engine.idle(); // input ended while thinking: still answer
}
