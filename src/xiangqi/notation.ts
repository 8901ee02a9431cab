/**
 * Move notations: ICCS (`h2e2`), the UCI coordinates Fairy-Stockfish uses (`h3e3`, ranks 1-10),
 * WXF (`C2.5`, `R+.3`, `P3.4`, `++.4`) and Chinese (`炮二平五`, `馬８進７`, `前炮退一`).
 *
 * WXF and Chinese describe a move relative to the mover: files are numbered 1-9 from the mover's
 * right, and `+`/進 means towards the opponent. Parsing reads the text into a description (piece,
 * file or place in a tandem, direction, number) and picks the one legal move it fits; none or
 * several is an error that says which.
 */
import {
  ADVISOR, CANNON, ELEPHANT, HORSE, IllegalMoveError, KING, PAWN, Position, ROOK,
  fileOf, makeMove, moveFrom, moveTo, moveToIccs, parseSquare, rowOf, squareAt,
  type Move, type PieceType, type Side,
} from './board.ts';

export type Notation = 'iccs' | 'uci' | 'wxf' | 'chinese';

export class NotationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotationError';
  }
}

/** Longest move text read: real moves are 4-6 characters, and a cap keeps every regex below linear. */
const MAX_MOVE_TEXT = 32;

function checkLength(text: string, notation: string): void {
  if (text.length > MAX_MOVE_TEXT) throw new NotationError(`"${text.slice(0, 20)}..." (${text.length} characters) is not a ${notation} move: moves are at most ${MAX_MOVE_TEXT} characters`);
}

// ---------------------------------------------------------------------------------------------
// Coordinates

export function parseIccs(pos: Position, text: string): Move {
  checkLength(text, 'ICCS');
  const m = /^\s*([a-i][0-9])-?([a-i][0-9])\s*$/i.exec(text);
  if (!m) throw new NotationError(`"${text}" is not an ICCS move: expected from and to squares like h2e2 (files a-i, ranks 0-9)`);
  return checkedMove(pos, makeMove(parseSquare(m[1]!.toLowerCase()), parseSquare(m[2]!.toLowerCase())), text);
}

/** Fairy-Stockfish's xiangqi coordinates: ICCS with ranks counted 1-10. */
export function moveToUci(m: Move): string {
  const sq = (s: number) => String.fromCharCode(97 + fileOf(s)) + (10 - rowOf(s));
  return sq(moveFrom(m)) + sq(moveTo(m));
}

export function parseUci(pos: Position, text: string): Move {
  checkLength(text, 'UCI');
  const m = /^\s*([a-i])(10|[1-9])([a-i])(10|[1-9])\s*$/.exec(text);
  if (!m) throw new NotationError(`"${text}" is not a UCI xiangqi move: expected squares like h3e3 (files a-i, ranks 1-10)`);
  const sq = (f: string, r: string) => squareAt(f.charCodeAt(0) - 97, 10 - Number(r));
  return checkedMove(pos, makeMove(sq(m[1]!, m[2]!), sq(m[3]!, m[4]!)), text);
}

function checkedMove(pos: Position, m: Move, text: string): Move {
  const why = pos.whyIllegal(m);
  if (why) throw new IllegalMoveError(`illegal move "${text}": ${why}`);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Relative descriptions shared by WXF and Chinese

type Direction = '+' | '-' | '.';

/** What WXF and Chinese say about a move, and which piece among tandem ones it names. */
interface Description {
  /** Undefined in the pawn-only forms that name a file instead (`3+.4`, `前七進一`). */
  type?: PieceType;
  /** File 1-9 counted from the mover's right. */
  file?: number;
  /** Picks the piece by its place in its file: index 0 = front-most of `count` pieces. */
  place?: (index: number, count: number) => boolean;
  direction: Direction;
  number: number;
}

const relFile = (sq: number, side: Side): number => (side ? fileOf(sq) + 1 : 9 - fileOf(sq));
/** Pieces that move diagonally or in an L: their number is the destination file, not a distance. */
const MOVES_DIAGONALLY = new Set<number>([ADVISOR, ELEPHANT, HORSE]);

interface MoveFacts {
  move: Move;
  type: PieceType;
  file: number;
  /** Place of the moving piece among same-type own pieces on its file, front first. */
  index: number;
  count: number;
  direction: Direction;
  number: number;
}

function facts(pos: Position, m: Move): MoveFacts {
  const from = moveFrom(m), to = moveTo(m);
  const side = pos.side;
  const piece = pos.pieceAt(from);
  const type = (piece & 7) as PieceType;
  const ahead = side ? 1 : -1; // row step towards the opponent
  const fromRow = rowOf(from), toRow = rowOf(to);
  let index = 0, count = 0;
  for (let row = 0; row < 10; row++) {
    if (pos.pieceAt(squareAt(fileOf(from), row)) !== piece) continue;
    count++;
    if ((row - fromRow) * ahead > 0) index++;
  }
  const direction: Direction = toRow === fromRow ? '.' : (toRow - fromRow) * ahead > 0 ? '+' : '-';
  const number = direction === '.' || MOVES_DIAGONALLY.has(type) ? relFile(to, side) : Math.abs(toRow - fromRow);
  return { move: m, type, file: relFile(from, side), index, count, direction, number };
}

function fits(f: MoveFacts, d: Description): boolean {
  if (d.type !== undefined ? f.type !== d.type : f.type !== PAWN) return false;
  if (f.direction !== d.direction || f.number !== d.number) return false;
  if (d.file !== undefined && f.file !== d.file) return false;
  if (d.place && !d.place(f.index, f.count)) return false;
  return true;
}

/** Files (relative) holding two or more pawns of the side to move. */
function tandemPawnFiles(pos: Position): number[] {
  const files: number[] = [];
  const pawn = (pos.side ? 16 : 8) | PAWN;
  for (let file = 0; file < 9; file++) {
    let n = 0;
    for (let row = 0; row < 10; row++) if (pos.pieceAt(squareAt(file, row)) === pawn) n++;
    if (n >= 2) files.push(relFile(squareAt(file, 0), pos.side));
  }
  return files;
}

function resolve(pos: Position, d: Description, text: string, notation: string, middleTieBreak: boolean): Move {
  const side = pos.side ? 'black' : 'red';
  const legal = pos.legalMoves().map((m) => facts(pos, m));
  let hits = legal.filter((f) => fits(f, d));
  // WXF and Chinese name the middle of 3 or 5 tandem pawns by its file alone.
  if (hits.length > 1 && middleTieBreak && d.file !== undefined && !d.place) {
    const middle = hits.filter((f) => f.count % 2 === 1 && f.count >= 3 && f.index === (f.count - 1) / 2);
    if (middle.length === 1) hits = middle;
  }
  if (hits.length === 1) return hits[0]!.move;
  if (hits.length > 1) {
    throw new NotationError(`ambiguous ${notation} move "${text}" for ${side}: it fits ${hits.map((f) => moveToIccs(f.move)).join(', ')}; name the piece by its place (front/rear) or file`);
  }
  const pseudo = pos.pseudoLegalMoves().map((m) => facts(pos, m)).filter((f) => fits(f, d));
  if (pseudo.length) {
    throw new IllegalMoveError(`illegal move "${text}" (${moveToIccs(pseudo[0]!.move)}): it leaves ${side}'s general in check or facing the other general`);
  }
  const pieceName = d.type ? ENGLISH[d.type] : 'soldier';
  throw new IllegalMoveError(`illegal move "${text}": no ${side} ${pieceName}${d.file ? ` on file ${d.file}` : ''} can make that move (${side} to move)`);
}

const ENGLISH = ['', 'general', 'advisor', 'elephant', 'horse', 'chariot', 'cannon', 'soldier'];

// ---------------------------------------------------------------------------------------------
// WXF

const WXF_LETTERS = ' KAEHRCP';
const WXF_PIECES: Record<string, PieceType> = { K: KING, G: KING, A: ADVISOR, E: ELEPHANT, B: ELEPHANT, M: ELEPHANT, H: HORSE, N: HORSE, R: ROOK, C: CANNON, P: PAWN };

/** WXF places among tandem pawns (`+`, `-`, `++`, `--`) depend on how many share the file. */
const wxfFront = (i: number, n: number) => n >= 2 && i === (n >= 4 ? 1 : 0);
const wxfRear = (i: number, n: number) => n >= 2 && i === (n >= 4 ? n - 2 : n - 1);
const wxfFirst = (i: number, n: number) => n >= 4 && i === 0;
const wxfLast = (i: number, n: number) => n >= 4 && i === n - 1;
const middleOf = (i: number, n: number) => n >= 3 && n % 2 === 1 && i === (n - 1) / 2;

export function parseWxf(pos: Position, text: string): Move {
  checkLength(text, 'WXF');
  const t = text.trim().replace(/[!?#]+$/, '').toUpperCase().replace('=', '.');
  const m = /^([KGAEBMHNRCP+\-1-9])([1-9+\-])([+\-.])([1-9])$/.exec(t);
  if (!m) throw new NotationError(`"${text}" is not a WXF move: expected e.g. C2.5, H8+7, R+.3 or P3.4`);
  const [, a, b, dir, num] = m as unknown as [string, string, string, Direction, string];
  const d: Description = { direction: dir, number: Number(num) };
  if (WXF_PIECES[a] !== undefined) {
    d.type = WXF_PIECES[a];
    if (b === '+') d.place = wxfFront;
    else if (b === '-') d.place = wxfRear;
    else d.file = Number(b);
  } else if (a === '+' || a === '-') {
    if (b !== a) throw new NotationError(`"${text}" is not a WXF move: '${a}${b}' should be '++' (front-most pawn) or '--' (rear-most)`);
    d.type = PAWN;
    d.place = a === '+' ? wxfFirst : wxfLast;
  } else {
    // Tandem pawns on two files: the file, then +, - or the file again for the middle pawn.
    d.type = PAWN;
    d.file = Number(a);
    d.place = b === '+' ? (i, n) => n >= 2 && i === 0 : b === '-' ? (i, n) => n >= 2 && i === n - 1 : b === a ? middleOf : undefined;
    if (!d.place) throw new NotationError(`"${text}" is not a WXF move: after pawn file ${a} expected +, - or ${a}`);
  }
  return resolve(pos, d, text, 'WXF', true);
}

export function moveToWxf(pos: Position, m: Move): string {
  const f = facts(pos, m);
  const letter = WXF_LETTERS[f.type]!;
  const tail = `${f.direction === '.' ? '.' : f.direction}${f.number}`;
  if (f.count < 2) return `${letter}${f.file}${tail}`;
  if (f.type !== PAWN) return `${letter}${f.index === 0 ? '+' : '-'}${tail}`;
  if (tandemPawnFiles(pos).length >= 2) {
    const place = f.index === 0 ? '+' : f.index === f.count - 1 ? '-' : String(f.file);
    return `${f.file}${place}${tail}`;
  }
  const n = f.count, i = f.index;
  if (middleOf(i, n)) return `P${f.file}${tail}`;
  if (wxfFirst(i, n)) return `++${tail}`;
  if (wxfLast(i, n)) return `--${tail}`;
  return `P${i <= (n - 1) / 2 ? '+' : '-'}${tail}`;
}

// ---------------------------------------------------------------------------------------------
// Chinese

export interface ChineseStyle {
  /** Glyphs: traditional 車馬帥將進後 (default) or simplified 车马帅将进后. */
  script?: 'traditional' | 'simplified';
  /** Black's file numbers: full-width １-９ (default, as in printed records) or ASCII 1-9. */
  blackDigits?: 'fullwidth' | 'arabic';
}

const CHINESE_NUMERALS = '零一二三四五六七八九';
const FULLWIDTH_DIGITS = '０１２３４５６７８９';
const NAMES = {
  traditional: { red: ' 帥仕相馬車炮兵', black: ' 將士象馬車炮卒', advance: '進', rear: '後' },
  simplified: { red: ' 帅仕相马车炮兵', black: ' 将士象马车炮卒', advance: '进', rear: '后' },
};

const CHINESE_PIECES: Record<string, PieceType> = {
  帥: KING, 帅: KING, 將: KING, 将: KING,
  仕: ADVISOR, 士: ADVISOR,
  相: ELEPHANT, 象: ELEPHANT,
  馬: HORSE, 马: HORSE, 傌: HORSE, 㐷: HORSE,
  車: ROOK, 车: ROOK, 俥: ROOK, 伡: ROOK,
  炮: CANNON, 砲: CANNON, 包: CANNON,
  兵: PAWN, 卒: PAWN,
};
const CHINESE_DIRECTIONS: Record<string, Direction> = { 進: '+', 进: '+', 退: '-', 平: '.' };

function chineseDigit(ch: string): number | undefined {
  for (const digits of [CHINESE_NUMERALS, FULLWIDTH_DIGITS, '0123456789']) {
    const i = digits.indexOf(ch);
    if (i >= 1) return i;
  }
  return undefined;
}

/** 前/中/後 and 一..五 as places in a file; 前 and 後 also mean front-most and rear-most of 4-5 pawns. */
function chinesePlace(ch: string): Description['place'] | undefined {
  if (ch === '前') return (i, n) => n >= 2 && i === 0;
  if (ch === '後' || ch === '后') return (i, n) => n >= 2 && i === n - 1;
  if (ch === '中') return middleOf;
  const k = '一二三四五'.indexOf(ch);
  if (k >= 0) return (i, n) => n >= 2 && i === k;
  return undefined;
}

export function parseChinese(pos: Position, text: string): Move {
  checkLength(text, 'Chinese');
  const chars = [...text.replace(/[\s!?#＋+]+$/g, '').replace(/\s+/g, '')];
  const bad = (why: string) => new NotationError(`"${text}" is not a Chinese move (${why}): expected e.g. 炮二平五, 馬８進７ or 前炮退一`);
  if (chars.length !== 4) throw bad(`${chars.length} characters, expected 4`);
  const [a, b, act, num] = chars as [string, string, string, string];
  const direction = CHINESE_DIRECTIONS[act];
  if (!direction) throw bad(`'${act}' is not 進/进, 退 or 平`);
  const number = chineseDigit(num);
  if (number === undefined) throw bad(`'${num}' is not a number 1-9`);
  const d: Description = { direction, number };
  if (CHINESE_PIECES[a] !== undefined && chineseDigit(b) !== undefined) {
    d.type = CHINESE_PIECES[a]; // 炮二平五
    d.file = chineseDigit(b);
  } else if (chinesePlace(a) && CHINESE_PIECES[b] !== undefined) {
    d.type = CHINESE_PIECES[b]; // 前炮退一, 二兵平四
    d.place = chinesePlace(a);
  } else if (CHINESE_PIECES[a] !== undefined && chinesePlace(b)) {
    d.type = CHINESE_PIECES[a]; // 車前平三 (Hong Kong order)
    d.place = chinesePlace(b);
  } else if (chinesePlace(a) && chineseDigit(b) !== undefined) {
    d.type = PAWN; // 前七進一: tandem pawns on more than one file
    d.file = chineseDigit(b);
    d.place = chinesePlace(a);
  } else {
    throw bad(`cannot read the piece from '${a}${b}'`);
  }
  return resolve(pos, d, text, 'Chinese', true);
}

export function moveToChinese(pos: Position, m: Move, style: ChineseStyle = {}): string {
  const names = NAMES[style.script ?? 'traditional'];
  const black = pos.side === 1;
  const digit = (n: number) => (black ? (style.blackDigits === 'arabic' ? String(n) : FULLWIDTH_DIGITS[n]!) : CHINESE_NUMERALS[n]!);
  const f = facts(pos, m);
  const piece = (black ? names.black : names.red)[f.type]!;
  const action = f.direction === '+' ? names.advance : f.direction === '-' ? '退' : '平';
  const tail = action + digit(f.number);
  if (f.count < 2) return piece + digit(f.file) + tail;
  const twoPlaces = (i: number, n: number) => (i === 0 ? '前' : i === n - 1 ? names.rear : '中');
  if (f.type !== PAWN) return twoPlaces(f.index, f.count) + piece + tail;
  if (tandemPawnFiles(pos).length >= 2) return twoPlaces(f.index, f.count) + digit(f.file) + tail;
  const place = f.count <= 3 ? twoPlaces(f.index, f.count) : '一二三四五'[f.index]!;
  return place + piece + tail;
}

// ---------------------------------------------------------------------------------------------
// Any notation

/** Guesses the notation of `text`: coordinates, WXF letters, or Chinese characters. */
export function detectNotation(text: string): Notation {
  const t = text.trim();
  if (/^[a-i][0-9]-?[a-i][0-9]$/i.test(t)) return 'iccs';
  if (/^[a-i](10|[1-9])[a-i](10|[1-9])$/.test(t)) return 'uci';
  if (/[\u3400-\u9fff]/.test(t)) return 'chinese';
  return 'wxf';
}

/** Reads a move in ICCS, WXF or Chinese (detected, or as given) for the side to move in `pos`. */
export function parseMove(pos: Position, text: string, notation: Notation = detectNotation(text)): Move {
  switch (notation) {
    case 'iccs': return parseIccs(pos, text);
    case 'uci': return parseUci(pos, text);
    case 'wxf': return parseWxf(pos, text);
    case 'chinese': return parseChinese(pos, text);
  }
}

/** Writes a legal move of the side to move in `pos` in the given notation. */
export function formatMove(pos: Position, m: Move, notation: Notation, style?: ChineseStyle): string {
  const why = pos.whyIllegal(m);
  if (why) throw new IllegalMoveError(`cannot write an illegal move: ${why}`);
  switch (notation) {
    case 'iccs': return moveToIccs(m);
    case 'uci': return moveToUci(m);
    case 'wxf': return moveToWxf(pos, m);
    case 'chinese': return moveToChinese(pos, m, style);
  }
}

/** A move list from `pos` in one notation (e.g. Chinese for display); `pos` is left unchanged. */
export function formatLine(pos: Position, moves: Move[], notation: Notation, style?: ChineseStyle): string[] {
  const out: string[] = [];
  try {
    for (const m of moves) {
      out.push(formatMove(pos, m, notation, style));
      pos.make(m);
    }
  } finally {
    for (let i = 0; i < out.length; i++) pos.unmake();
  }
  return out;
}
