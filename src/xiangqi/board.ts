/**
 * Xiangqi board: FEN, make/unmake, legal move generation, check, mate, repetition.
 *
 * Representation (chosen for speed, see bench/xiangqi.ts): a 16x16 mailbox in a Uint8Array, the 9x10
 * board at files 3..11 and rows 3..12, so every step a piece can take from the board (at most two
 * squares) lands on a padding square marked OFF and never needs a bounds check. Row 0 of the board
 * (FEN's first row) is black's back rank; red plays "up" (-16). A move is `from | to << 8`.
 *
 * Pieces also live in 32 slots (0..15 red, 16..31 black) so generation walks the pieces rather than
 * the board. Legality uses the king-attack test, with a fast path: when the side to move is not in
 * check, a non-king move can only expose its own general if it leaves or enters the general's rank
 * or file (rook, cannon screen, flying general) or leaves a square diagonally next to it (a horse leg).
 */

export const KING = 1, ADVISOR = 2, ELEPHANT = 3, HORSE = 4, ROOK = 5, CANNON = 6, PAWN = 7;
export const RED = 8, BLACK = 16;
const OFF = 32;
export type PieceType = typeof KING | typeof ADVISOR | typeof ELEPHANT | typeof HORSE | typeof ROOK | typeof CANNON | typeof PAWN;
/** 0 = red, 1 = black. */
export type Side = 0 | 1;
export type Move = number;

export const START_FEN = 'rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1';

/** Piece letters by kind (index 1-7), black's; red's are the upper case. */
export const FEN_LETTERS = ' kabnrcp';
/** Most pieces of one type a side can have (xiangqi has no promotion). */
const MAX_COUNT = [0, 1, 2, 2, 2, 2, 2, 5];

// ---------------------------------------------------------------------------------------------
// Squares: sq = (3 + row) * 16 + (3 + file); row 0 = black's back rank, file 0 = ICCS file 'a'.

export const squareAt = (file: number, row: number): number => ((row + 3) << 4) + file + 3;
export const fileOf = (sq: number): number => (sq & 15) - 3;
/** Board row counted from the top (black's back rank = 0). */
export const rowOf = (sq: number): number => (sq >> 4) - 3;
/** ICCS rank: 0 = red's back rank. */
export const rankOf = (sq: number): number => 12 - (sq >> 4);
export const moveFrom = (m: Move): number => m & 255;
export const moveTo = (m: Move): number => m >> 8;
export const makeMove = (from: number, to: number): Move => from | (to << 8);

const IN_BOARD = new Uint8Array(256);
const IN_PALACE = new Uint8Array(256);
/** 1 on red's half (rows 5..9), 2 on black's half (rows 0..4). */
const HALF = new Uint8Array(256);
/** Squares a side's elephant or advisor may stand on (bit 1 red, bit 2 black). */
const ELEPHANT_SQ = new Uint8Array(256);
const ADVISOR_SQ = new Uint8Array(256);
for (let row = 0; row < 10; row++) {
  for (let file = 0; file < 9; file++) {
    const sq = squareAt(file, row);
    IN_BOARD[sq] = 1;
    HALF[sq] = row >= 5 ? 1 : 2;
    if (file >= 3 && file <= 5 && (row <= 2 || row >= 7)) IN_PALACE[sq] = 1;
  }
}
for (const [file, row] of [[2, 0], [6, 0], [0, 2], [4, 2], [8, 2], [2, 4], [6, 4]]) {
  ELEPHANT_SQ[squareAt(file!, row!)] |= 2;
  ELEPHANT_SQ[squareAt(file!, 9 - row!)] |= 1;
}
for (const [file, row] of [[3, 0], [5, 0], [4, 1], [3, 2], [5, 2]]) {
  ADVISOR_SQ[squareAt(file!, row!)] |= 2;
  ADVISOR_SQ[squareAt(file!, 9 - row!)] |= 1;
}

const ORTHO = [-16, 16, -1, 1];
const DIAG = [-17, -15, 15, 17];
/** Horse moves as [leg, target] pairs. */
const HORSE_STEPS = [[-16, -33], [-16, -31], [16, 31], [16, 33], [-1, -18], [-1, 14], [1, -14], [1, 18]];

// Zobrist keys, two 32-bit halves, from a fixed seed so hashes are stable across runs.
const ZOBRIST_LO = new Int32Array(24 * 256);
const ZOBRIST_HI = new Int32Array(24 * 256);
let SIDE_LO = 0, SIDE_HI = 0;
{
  let s = 0x9e3779b9 | 0;
  const next = () => { // xorshift32
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return s | 0;
  };
  for (let i = 0; i < ZOBRIST_LO.length; i++) { ZOBRIST_LO[i] = next(); ZOBRIST_HI[i] = next(); }
  SIDE_LO = next(); SIDE_HI = next();
}

export class FenError extends Error {
  constructor(fen: string, problem: string) {
    super(`invalid FEN "${fen.length > 120 ? `${fen.slice(0, 120)}..." (${fen.length} characters` : fen}": ${problem}`);
    this.name = 'FenError';
  }
}

export class IllegalMoveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IllegalMoveError';
  }
}

export type GameResult = '1-0' | '0-1' | '1/2-1/2';
export interface Outcome {
  result: GameResult;
  reason: 'checkmate' | 'stalemate' | 'perpetual check' | 'repetition' | 'move limit';
}

/** Longest game a Position can hold (the undo stacks are preallocated). */
export const MAX_GAME_PLIES = 1024;
const MAX_PLY = MAX_GAME_PLIES;
/** Per-ply move buffer: a side has at most 119 pseudo-legal moves (2x17 chariot, 2x17 cannon, 2x8 horse, 4+8+8, 5x3 soldier). */
const MOVES_PER_PLY = 160;
const MAX_PERFT_DEPTH = 32;
const MAX_FEN_COUNTER = 1e9; // + MAX_GAME_PLIES still fits an Int32

export class Position {
  /** Piece code per mailbox square (color | type), OFF outside the board. */
  readonly board = new Uint8Array(256);
  private readonly slotOf = new Int8Array(256).fill(-1);
  private readonly slotSq = new Uint8Array(32);
  private readonly kingSq = new Uint8Array(2);
  private _side: Side = 0;
  private _hashLo = 0;
  private _hashHi = 0;
  private _quietPlies = 0;
  private _fullMove = 1;
  private _ply = 0;

  /** Side to move: 0 red, 1 black. */
  get side(): Side { return this._side; }
  /** Zobrist hash of board and side to move, two 32-bit halves. */
  get hashLo(): number { return this._hashLo; }
  get hashHi(): number { return this._hashHi; }
  /** Plies since the last capture (FEN halfmove clock, then counted). */
  get quietPlies(): number { return this._quietPlies; }
  /** Full-move number as in FEN (incremented after black moves). */
  get fullMove(): number { return this._fullMove; }
  /** Moves made since this position was created from a FEN. */
  get ply(): number { return this._ply; }

  // Undo stacks, indexed by ply from the root position.
  private readonly moveStack = new Int32Array(MAX_PLY);
  private readonly capturedStack = new Uint8Array(MAX_PLY);
  private readonly capturedSlotStack = new Int8Array(MAX_PLY);
  private readonly quietStack = new Int32Array(MAX_PLY);
  private readonly hashLoStack = new Int32Array(MAX_PLY + 1);
  private readonly hashHiStack = new Int32Array(MAX_PLY + 1);
  /** Move buffer: region 0 for one-off queries, region d for perft at remaining depth d. */
  private readonly buffer = new Int32Array(MAX_PERFT_DEPTH * MOVES_PER_PLY + MOVES_PER_PLY);

  private constructor() {
    this.board.fill(OFF);
    for (let sq = 0; sq < 256; sq++) if (IN_BOARD[sq]) this.board[sq] = 0;
  }

  static start(): Position {
    return Position.fromFen(START_FEN);
  }

  /** Parses a xiangqi FEN: 10 rows from black's side, `w` (or `r`) red to move, `b` black. */
  static fromFen(fen: string): Position {
    const fields = fen.trim().split(/\s+/);
    const rows = (fields[0] ?? '').split('/');
    if (rows.length !== 10) throw new FenError(fen, `expected 10 rows separated by '/', got ${rows.length}`);
    const pos = new Position();
    const counts = new Uint8Array(24);
    let slots = [0, 16];
    for (let row = 0; row < 10; row++) {
      let file = 0;
      for (const ch of rows[row]!) {
        if (ch >= '1' && ch <= '9') {
          file += ch.charCodeAt(0) - 48;
          continue;
        }
        const type = FEN_LETTERS.indexOf(ch.toLowerCase() === 'h' ? 'n' : ch.toLowerCase() === 'e' ? 'b' : ch.toLowerCase());
        if (type <= 0) throw new FenError(fen, `unknown piece letter '${ch}' in row ${row + 1}`);
        if (file >= 9) throw new FenError(fen, `row ${row + 1} ("${rows[row]}") has more than 9 files`);
        const color = ch === ch.toUpperCase() ? RED : BLACK;
        const side: Side = color === RED ? 0 : 1;
        const sq = squareAt(file, row);
        const piece = color | type;
        if (++counts[piece]! > MAX_COUNT[type]!) throw new FenError(fen, `too many ${color === RED ? 'red' : 'black'} '${ch}' pieces`);
        const bit = side === 0 ? 1 : 2;
        if (type === KING && !(IN_PALACE[sq] && HALF[sq] === bit)) throw new FenError(fen, `general '${ch}' outside its palace at ${squareName(sq)}`);
        if (type === ADVISOR && !(ADVISOR_SQ[sq]! & bit)) throw new FenError(fen, `advisor '${ch}' on ${squareName(sq)}, which an advisor cannot reach`);
        if (type === ELEPHANT && !(ELEPHANT_SQ[sq]! & bit)) throw new FenError(fen, `elephant '${ch}' on ${squareName(sq)}, which an elephant cannot reach`);
        if (type === PAWN && (side === 0 ? row > 6 : row < 3)) throw new FenError(fen, `pawn '${ch}' behind its starting rank at ${squareName(sq)}`);
        pos.put(sq, piece, slots[side]!++);
        file++;
      }
      if (file !== 9) throw new FenError(fen, `row ${row + 1} ("${rows[row]}") has ${file} files, expected 9`);
    }
    if (counts[RED | KING] !== 1 || counts[BLACK | KING] !== 1) throw new FenError(fen, 'each side needs exactly one general (K and k)');
    const turn = fields[1] ?? 'w';
    if (turn === 'w' || turn === 'r') pos._side = 0;
    else if (turn === 'b') pos._side = 1;
    else throw new FenError(fen, `side to move must be 'w' or 'b', got '${turn}'`);
    if (fields[4] !== undefined) {
      const n = Number(fields[4]);
      // Bounded so the clock fits the Int32 undo stack and the FEN writes back the same.
      if (!Number.isInteger(n) || n < 0 || n > MAX_FEN_COUNTER) throw new FenError(fen, `halfmove clock must be an integer from 0 to ${MAX_FEN_COUNTER}, got '${fields[4]}'`);
      pos._quietPlies = n;
    }
    if (fields[5] !== undefined) {
      const n = Number(fields[5]);
      if (!Number.isInteger(n) || n < 1 || n > MAX_FEN_COUNTER) throw new FenError(fen, `move number must be an integer from 1 to ${MAX_FEN_COUNTER}, got '${fields[5]}'`);
      pos._fullMove = n;
    }
    if (pos.attacked(pos.kingSq[1 - pos._side]!, (1 - pos._side) as Side)) {
      throw new FenError(fen, `the side not to move (${pos._side ? 'red' : 'black'}) is in check, so the last move was illegal`);
    }
    if (pos._side) { pos._hashLo ^= SIDE_LO; pos._hashHi ^= SIDE_HI; }
    pos.hashLoStack[0] = pos._hashLo;
    pos.hashHiStack[0] = pos._hashHi;
    return pos;
  }

  private put(sq: number, piece: number, slot: number): void {
    this.board[sq] = piece;
    this.slotOf[sq] = slot;
    this.slotSq[slot] = sq;
    if ((piece & 7) === KING) this.kingSq[piece & RED ? 0 : 1] = sq;
    this._hashLo ^= ZOBRIST_LO[(piece << 8) | sq]!;
    this._hashHi ^= ZOBRIST_HI[(piece << 8) | sq]!;
  }

  /** The position as FEN (board, side, `- -`, halfmove clock, move number). */
  fen(): string {
    const rows: string[] = [];
    for (let row = 0; row < 10; row++) {
      let s = '', empty = 0;
      for (let file = 0; file < 9; file++) {
        const p = this.board[squareAt(file, row)]!;
        if (!p) { empty++; continue; }
        if (empty) { s += empty; empty = 0; }
        const letter = FEN_LETTERS[p & 7]!;
        s += p & RED ? letter.toUpperCase() : letter;
      }
      if (empty) s += empty;
      rows.push(s);
    }
    return `${rows.join('/')} ${this._side ? 'b' : 'w'} - - ${this._quietPlies} ${this._fullMove}`;
  }

  /** Board and side to move only: equal for positions that count as repeated. */
  boardFen(): string {
    return this.fen().split(' ').slice(0, 2).join(' ');
  }

  /** An independent copy, history included (so repetition and take-backs work on it too). */
  clone(): Position {
    const copy = new Position();
    copy.board.set(this.board);
    copy.slotOf.set(this.slotOf);
    copy.slotSq.set(this.slotSq);
    copy.kingSq.set(this.kingSq);
    copy._side = this._side;
    copy._hashLo = this._hashLo;
    copy._hashHi = this._hashHi;
    copy._quietPlies = this._quietPlies;
    copy._fullMove = this._fullMove;
    copy._ply = this._ply;
    for (const key of ['moveStack', 'capturedStack', 'capturedSlotStack', 'quietStack', 'hashLoStack', 'hashHiStack'] as const) {
      (copy[key] as Int32Array | Uint8Array | Int8Array).set(this[key].subarray(0, this._ply + 1));
    }
    return copy;
  }

  pieceAt(sq: number): number {
    return this.board[sq]! & 31;
  }

  kingSquare(side: Side): number {
    return this.kingSq[side]!;
  }

  // -------------------------------------------------------------------------------------------
  // Attacks

  /** Is the general of `side` standing on `k` attacked by the other side? (Only used for generals.) */
  private attacked(k: number, side: Side): boolean {
    const b = this.board;
    const enemy = side ? RED : BLACK;
    const eRook = enemy | ROOK, eCannon = enemy | CANNON, eHorse = enemy | HORSE, ePawn = enemy | PAWN;
    for (let i = 0; i < 4; i++) {
      const d = ORTHO[i]!;
      let s = k + d;
      while (b[s] === 0) s += d;
      const p = b[s];
      if (p === OFF) continue;
      if (p === eRook || (i < 2 && p === (enemy | KING))) return true;
      s += d;
      while (b[s] === 0) s += d;
      if (b[s] === eCannon) return true;
    }
    // A horse attacks the general through the square diagonally next to the general (its leg).
    if (b[k - 17] === 0 && (b[k - 18] === eHorse || b[k - 33] === eHorse)) return true;
    if (b[k - 15] === 0 && (b[k - 14] === eHorse || b[k - 31] === eHorse)) return true;
    if (b[k + 15] === 0 && (b[k + 14] === eHorse || b[k + 31] === eHorse)) return true;
    if (b[k + 17] === 0 && (b[k + 18] === eHorse || b[k + 33] === eHorse)) return true;
    // Enemy pawns attack from in front of the general (from its own side's view) and, having
    // crossed the river (always true next to a palace), from the side.
    if (b[k + (side ? 16 : -16)] === ePawn || b[k - 1] === ePawn || b[k + 1] === ePawn) return true;
    return false;
  }

  inCheck(): boolean {
    return this.attacked(this.kingSq[this._side]!, this._side);
  }

  // -------------------------------------------------------------------------------------------
  // Move generation

  /** Writes the pseudo-legal moves of the side to move into `out` from `start`; returns the end. */
  private generatePseudo(out: Int32Array, start: number): number {
    const b = this.board;
    const side = this._side;
    const own = side ? BLACK : RED;
    const ownHalf = side ? 2 : 1;
    const forward = side ? 16 : -16;
    let n = start;
    const base = side << 4;
    for (let slot = base; slot < base + 16; slot++) {
      const from = this.slotSq[slot]!;
      if (!from) continue;
      switch (b[from]! & 7) {
        case KING:
          for (let i = 0; i < 4; i++) {
            const to = from + ORTHO[i]!;
            if (IN_PALACE[to] && !(b[to]! & own)) out[n++] = from | (to << 8);
          }
          break;
        case ADVISOR:
          for (let i = 0; i < 4; i++) {
            const to = from + DIAG[i]!;
            if (IN_PALACE[to] && !(b[to]! & own)) out[n++] = from | (to << 8);
          }
          break;
        case ELEPHANT:
          for (let i = 0; i < 4; i++) {
            const eye = from + DIAG[i]!;
            const to = eye + DIAG[i]!;
            if (b[eye] === 0 && HALF[to] === ownHalf && !(b[to]! & own)) out[n++] = from | (to << 8);
          }
          break;
        case HORSE:
          for (let i = 0; i < 8; i++) {
            const step = HORSE_STEPS[i]!;
            if (b[from + step[0]!] !== 0) continue;
            const to = from + step[1]!;
            const t = b[to]!;
            if (t !== OFF && !(t & own)) out[n++] = from | (to << 8);
          }
          break;
        case ROOK:
          for (let i = 0; i < 4; i++) {
            const d = ORTHO[i]!;
            let to = from + d;
            while (b[to] === 0) { out[n++] = from | (to << 8); to += d; }
            const t = b[to]!;
            if (t !== OFF && !(t & own)) out[n++] = from | (to << 8);
          }
          break;
        case CANNON:
          for (let i = 0; i < 4; i++) {
            const d = ORTHO[i]!;
            let to = from + d;
            while (b[to] === 0) { out[n++] = from | (to << 8); to += d; }
            if (b[to] === OFF) continue;
            to += d;
            while (b[to] === 0) to += d;
            const t = b[to]!;
            if (t !== OFF && !(t & own)) out[n++] = from | (to << 8);
          }
          break;
        case PAWN: {
          const ahead = from + forward;
          const t = b[ahead]!;
          if (t !== OFF && !(t & own)) out[n++] = from | (ahead << 8);
          if (HALF[from] !== ownHalf) {
            const l = b[from - 1]!, r = b[from + 1]!;
            if (l !== OFF && !(l & own)) out[n++] = from | ((from - 1) << 8);
            if (r !== OFF && !(r & own)) out[n++] = from | ((from + 1) << 8);
          }
          break;
        }
      }
    }
    return n;
  }

  /** Would the pseudo-legal move leave the mover's general attacked? Board is restored after. */
  private exposesOwnKing(from: number, to: number): boolean {
    const b = this.board;
    const moved = b[from]!, captured = b[to]!;
    b[to] = moved;
    b[from] = 0;
    const k = (moved & 7) === KING ? to : this.kingSq[this._side]!;
    const bad = this.attacked(k, this._side);
    b[from] = moved;
    b[to] = captured;
    return bad;
  }

  /** Filters pseudo-legal moves in out[start..end) to legal ones in place; returns the new end. */
  private filterLegal(out: Int32Array, start: number, end: number): number {
    const k = this.kingSq[this._side]!;
    const checked = this.attacked(k, this._side);
    const kFile = k & 15, kRow = k >> 4;
    let n = start;
    for (let i = start; i < end; i++) {
      const m = out[i]!;
      const from = m & 255, to = m >> 8;
      if (!checked && from !== k) {
        const df = (from & 15) - kFile, dr = (from >> 4) - kRow;
        const onLineFrom = df === 0 || dr === 0;
        const nearFrom = (df === 1 || df === -1) && (dr === 1 || dr === -1);
        if (!onLineFrom && !nearFrom && (to & 15) !== kFile && to >> 4 !== kRow) { out[n++] = m; continue; }
      }
      if (!this.exposesOwnKing(from, to)) out[n++] = m;
    }
    return n;
  }

  /** All legal moves of the side to move. */
  legalMoves(): Move[] {
    const off = 0;
    const end = this.filterLegal(this.buffer, off, this.generatePseudo(this.buffer, off));
    return Array.from(this.buffer.subarray(off, end));
  }

  /** Pseudo-legal moves: follow piece movement rules but may leave one's own general in check. */
  pseudoLegalMoves(): Move[] {
    const off = 0;
    return Array.from(this.buffer.subarray(off, this.generatePseudo(this.buffer, off)));
  }

  hasLegalMove(): boolean {
    const off = 0;
    const end = this.generatePseudo(this.buffer, off);
    for (let i = off; i < end; i++) {
      const m = this.buffer[i]!;
      if (!this.exposesOwnKing(m & 255, m >> 8)) return true;
    }
    return false;
  }

  isLegal(m: Move): boolean {
    return this.legalMoves().includes(m);
  }

  // -------------------------------------------------------------------------------------------
  // Make / unmake

  /** Plays a move without checking it (use `play` for untrusted input). */
  make(m: Move): void {
    const b = this.board;
    const from = m & 255, to = m >> 8;
    const piece = b[from]!, captured = b[to]!;
    const ply = this._ply;
    if (ply >= MAX_PLY) throw new Error(`game longer than ${MAX_PLY} plies`);
    this.moveStack[ply] = m;
    this.capturedStack[ply] = captured;
    this.quietStack[ply] = this._quietPlies;
    const slot = this.slotOf[from]!;
    let lo = this._hashLo ^ SIDE_LO ^ ZOBRIST_LO[(piece << 8) | from]! ^ ZOBRIST_LO[(piece << 8) | to]!;
    let hi = this._hashHi ^ SIDE_HI ^ ZOBRIST_HI[(piece << 8) | from]! ^ ZOBRIST_HI[(piece << 8) | to]!;
    if (captured) {
      const cs = this.slotOf[to]!;
      this.capturedSlotStack[ply] = cs;
      this.slotSq[cs] = 0;
      lo ^= ZOBRIST_LO[(captured << 8) | to]!;
      hi ^= ZOBRIST_HI[(captured << 8) | to]!;
      this._quietPlies = 0;
    } else {
      this._quietPlies++;
    }
    b[to] = piece;
    b[from] = 0;
    this.slotOf[to] = slot;
    this.slotOf[from] = -1;
    this.slotSq[slot] = to;
    if ((piece & 7) === KING) this.kingSq[this._side] = to;
    if (this._side) this._fullMove++;
    this._side = (this._side ^ 1) as Side;
    this._hashLo = lo;
    this._hashHi = hi;
    this._ply = ply + 1;
    this.hashLoStack[ply + 1] = lo;
    this.hashHiStack[ply + 1] = hi;
  }

  /** Takes back the last move made. */
  unmake(): void {
    if (this._ply === 0) throw new Error('unmake: no move to take back');
    const ply = --this._ply;
    const b = this.board;
    const m = this.moveStack[ply]!;
    const from = m & 255, to = m >> 8;
    const piece = b[to]!, captured = this.capturedStack[ply]!;
    const slot = this.slotOf[to]!;
    b[from] = piece;
    this.slotOf[from] = slot;
    this.slotSq[slot] = from;
    b[to] = captured;
    if (captured) {
      const cs = this.capturedSlotStack[ply]!;
      this.slotOf[to] = cs;
      this.slotSq[cs] = to;
    } else {
      this.slotOf[to] = -1;
    }
    this._side = (this._side ^ 1) as Side;
    if ((piece & 7) === KING) this.kingSq[this._side] = from;
    if (this._side) this._fullMove--;
    this._quietPlies = this.quietStack[ply]!;
    this._hashLo = this.hashLoStack[ply]!;
    this._hashHi = this.hashHiStack[ply]!;
  }

  /** Plays a move after checking it is legal; the error says why it is not. */
  play(m: Move): void {
    const reason = this.whyIllegal(m);
    if (reason) throw new IllegalMoveError(reason);
    this.make(m);
  }

  /** Why `m` is not legal here, or undefined when it is. */
  whyIllegal(m: Move): string | undefined {
    const from = m & 255, to = m >> 8;
    if (!IN_BOARD[from] || !IN_BOARD[to]) return `move ${m} is not on the board`;
    const name = `${squareName(from)}${squareName(to)}`;
    const piece = this.board[from]!;
    const mover = this._side ? 'black' : 'red';
    if (!piece) return `${name}: no piece on ${squareName(from)}`;
    if (!(piece & (this._side ? BLACK : RED))) return `${name}: the piece on ${squareName(from)} is not ${mover}'s (${mover} to move)`;
    if (!this.pseudoLegalMoves().includes(m)) return `${name}: a ${PIECE_NAMES[piece & 7]} cannot move from ${squareName(from)} to ${squareName(to)}`;
    if (this.exposesOwnKing(from, to)) return `${name}: leaves ${mover}'s general in check (or facing the other general)`;
    return undefined;
  }

  /** The moves played since the root position, oldest first. */
  history(): Move[] {
    return Array.from(this.moveStack.subarray(0, this._ply));
  }

  // -------------------------------------------------------------------------------------------
  // Game state

  isCheckmate(): boolean {
    return this.inCheck() && !this.hasLegalMove();
  }

  /** No legal move while not in check. In xiangqi this loses, like checkmate. */
  isStalemate(): boolean {
    return !this.inCheck() && !this.hasLegalMove();
  }

  /** How many earlier positions in this game (since the root) equal the current one. */
  repetitions(): number {
    let count = 0;
    // A repeated position has the same side to move, and no capture can lie in between.
    const oldest = Math.max(0, this._ply - this._quietPlies);
    for (let p = this._ply - 2; p >= oldest; p -= 2) {
      if (this.hashLoStack[p] === this._hashLo && this.hashHiStack[p] === this._hashHi) count++;
    }
    return count;
  }

  /**
   * The game's result, or undefined while it goes on.
   * - No legal move loses (checkmate and stalemate alike).
   * - The same position for the third time (`repetitions() >= 2`): if one side gave check with every
   *   one of its moves since the first occurrence and the other did not, the checking side loses
   *   (perpetual check); otherwise a draw. Perpetual chase is not judged (simplified).
   * - `moveLimit` plies without a capture (default 120, the 60-move rule): a draw.
   */
  outcome(moveLimit = 120): Outcome | undefined {
    if (!this.hasLegalMove()) {
      return { result: this._side ? '1-0' : '0-1', reason: this.inCheck() ? 'checkmate' : 'stalemate' };
    }
    if (this.repetitions() >= 2) {
      const perpetual = this.perpetualChecker();
      if (perpetual === 0) return { result: '0-1', reason: 'perpetual check' };
      if (perpetual === 1) return { result: '1-0', reason: 'perpetual check' };
      return { result: '1/2-1/2', reason: 'repetition' };
    }
    if (this._quietPlies >= moveLimit) return { result: '1/2-1/2', reason: 'move limit' };
    return undefined;
  }

  /** Within the cycle since the first occurrence of the current position: which side checked on every move, if exactly one did. */
  private perpetualChecker(): Side | undefined {
    let first = this._ply;
    for (let p = this._ply - 2; p >= Math.max(0, this._ply - this._quietPlies); p -= 2) {
      if (this.hashLoStack[p] === this._hashLo && this.hashHiStack[p] === this._hashHi) first = p;
    }
    const always = [true, true];
    const undone: Move[] = [];
    while (this._ply > first) {
      // After the move at ply-1 the side to move is the one that was checked (or not).
      const checker = (this._side ^ 1) as Side;
      if (!this.inCheck()) always[checker] = false;
      undone.push(this.moveStack[this._ply - 1]!);
      this.unmake();
    }
    for (let i = undone.length - 1; i >= 0; i--) this.make(undone[i]!);
    if (always[0] && !always[1]) return 0;
    if (always[1] && !always[0]) return 1;
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Perft

  /** Number of leaf nodes of the legal move tree `depth` plies deep (move generator check). */
  perft(depth: number): number {
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_PERFT_DEPTH) throw new RangeError(`perft depth must be an integer from 0 to ${MAX_PERFT_DEPTH}, got ${depth}`);
    if (depth === 0) return 1;
    return this.perftInner(depth);
  }

  private perftInner(depth: number): number {
    const buf = this.buffer;
    const off = depth * MOVES_PER_PLY;
    const end = this.filterLegal(buf, off, this.generatePseudo(buf, off));
    if (depth === 1) return end - off;
    let nodes = 0;
    for (let i = off; i < end; i++) {
      this.make(buf[i]!);
      nodes += this.perftInner(depth - 1);
      this.unmake();
    }
    return nodes;
  }

  /** Perft split by root move, as `[iccs, count]` pairs (for finding generator bugs). */
  divide(depth: number): Array<[string, number]> {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`divide depth must be a positive integer, got ${depth}`);
    return this.legalMoves().map((m) => {
      this.make(m);
      const n = this.perft(depth - 1);
      this.unmake();
      return [moveToIccs(m), n];
    });
  }
}

const PIECE_NAMES = ['', 'general', 'advisor', 'elephant', 'horse', 'chariot', 'cannon', 'soldier'];

/** ICCS square name, e.g. `e0` for red's general at the start. */
export function squareName(sq: number): string {
  return String.fromCharCode(97 + fileOf(sq)) + rankOf(sq);
}

export function moveToIccs(m: Move): string {
  return squareName(m & 255) + squareName(m >> 8);
}

export function parseSquare(name: string): number {
  const m = /^([a-i])([0-9])$/.exec(name);
  if (!m) throw new Error(`bad square "${name}": expected a file a-i and a rank 0-9, e.g. "e0"`);
  return squareAt(m[1]!.charCodeAt(0) - 97, 9 - Number(m[2]));
}
