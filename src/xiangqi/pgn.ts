/**
 * Xiangqi PGN records: decoding (UTF-8, or Big5 / Big5-HKSCS as the CCPD files use), tags, and the
 * move text, replayed on the board so every move is checked.
 *
 * Move text may hold move numbers (`1.`, `1...`), moves in Chinese, WXF or ICCS, `{comments}`,
 * `;` line comments, `(variations)` (skipped: only the main line is kept) and a result token.
 */
import { MAX_GAME_PLIES, Position, START_FEN, moveToIccs, type Move } from './board.ts';
import { parseMove } from './notation.ts';
import { HKSCS_RUNS, HKSCS_SEQUENCES } from './big5hkscs.ts';

export type PgnResult = '1-0' | '0-1' | '1/2-1/2' | '*';

export interface PgnGame {
  tags: Record<string, string>;
  /** Move tokens of the main line as written. */
  moveTexts: string[];
  /** Result from the Result tag, else from the move text, else `*`. */
  result: PgnResult;
}

export class PgnError extends Error {
  /** A short, stable category for counting rejections (e.g. "illegal move"). */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.name = 'PgnError';
    this.reason = reason;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a record: UTF-8 (with or without BOM) when it is valid UTF-8, else Big5-HKSCS. */
export function decodeRecord(data: Uint8Array): string {
  try {
    return utf8.decode(data).replace(/^\uFEFF/, '');
  } catch {
    return decodeBig5Hkscs(data);
  }
}

let big5Table: Array<string | undefined> | undefined;

/**
 * Node's big5 decoder (ICU) is not the WHATWG one: HKSCS characters come out as Private Use Area
 * code points and, even with `fatal`, bad bytes are dropped or replaced silently. So the table is
 * built once from Node's decoder for the ordinary Big5 pairs, plus the HKSCS table for the rest,
 * and any pair with no mapping is an error rather than silent corruption.
 */
function big5Pairs(): Array<string | undefined> {
  if (big5Table) return big5Table;
  const node = new TextDecoder('big5');
  const table: Array<string | undefined> = new Array(126 * 157);
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail > 0x7e && trail < 0xa1) continue;
      const chars = [...node.decode(Uint8Array.of(lead, trail))];
      const cp = chars.length === 1 ? chars[0]!.codePointAt(0)! : -1;
      if (cp >= 0x80 && cp !== 0xfffd && !(cp >= 0xe000 && cp <= 0xf8ff)) table[big5Pointer(lead, trail)] = chars[0];
    }
  }
  for (const [start, run] of HKSCS_RUNS) [...run].forEach((ch, i) => (table[start + i] = ch));
  for (const [pointer, seq] of Object.entries(HKSCS_SEQUENCES)) table[Number(pointer)] = seq;
  return (big5Table = table);
}

const big5Pointer = (lead: number, trail: number) => (lead - 0x81) * 157 + trail - (trail < 0x7f ? 0x40 : 0x62);

export function decodeBig5Hkscs(data: Uint8Array): string {
  const table = big5Pairs();
  const parts: string[] = [];
  let out: string[] = []; // joined every 8k characters: one array slot per character of a large file is 8x its size
  let bad = 0, firstBad = -1;
  for (let i = 0; i < data.length; i++) {
    if (out.length >= 8192) { parts.push(out.join('')); out = []; }
    const lead = data[i]!;
    if (lead < 0x80) { out.push(String.fromCharCode(lead)); continue; }
    const trail = data[i + 1] ?? 0;
    const validPair = lead >= 0x81 && lead <= 0xfe && ((trail >= 0x40 && trail <= 0x7e) || (trail >= 0xa1 && trail <= 0xfe));
    const ch = validPair ? table[big5Pointer(lead, trail)] : undefined;
    if (ch === undefined) {
      bad++;
      if (firstBad < 0) firstBad = i;
      if (!validPair) continue; // resynchronise on the next byte
    } else {
      out.push(ch);
    }
    i++;
  }
  if (bad) throw new PgnError('unknown encoding', `the file is neither UTF-8 nor Big5-HKSCS: ${bad} undecodable byte sequence(s), the first at byte ${firstBad}`);
  parts.push(out.join(''));
  return parts.join('');
}

const RESULTS = new Set(['1-0', '0-1', '1/2-1/2', '*']);

/** Splits PGN text into games (a tag section starts a new game once moves have been seen). */
export function parsePgn(text: string): PgnGame[] {
  const games: PgnGame[] = [];
  // Null prototype: tag names come from the file (`__proto__`, `constructor` are just names here).
  let tags: Record<string, string> = Object.create(null);
  let body: string[] = [];
  let bodyHasText = false; // kept as a flag: rescanning the body at every tag line is quadratic
  const flush = () => {
    if (Object.keys(tags).length || bodyHasText) games.push(readGame(tags, body.join('\n')));
    tags = Object.create(null);
    body = [];
    bodyHasText = false;
  };
  for (const line of text.split(/\r?\n/)) {
    const tag = /^\s*\[(\w+)\s+"(.*)"\s*\]\s*$/.exec(line); // greedy: some values hold unescaped quotes
    if (tag) {
      if (bodyHasText) flush();
      tags[tag[1]!] = tag[2]!.replace(/\\(.)/g, '$1');
    } else {
      body.push(line);
      if (!bodyHasText && line.trim()) bodyHasText = true;
    }
  }
  flush();
  return games;
}

/**
 * The main line's text: `{comments}`, `;` line comments and (possibly nested) variations dropped in
 * one pass with a depth counter (no recursion, no backtracking regex on untrusted nesting).
 */
function mainLine(body: string): string {
  let out = '', depth = 0, from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '{' && c !== ';' && c !== '(' && c !== ')') continue;
    if (depth === 0) out += body.slice(from, i);
    if (c === '{' || c === ';') {
      const end = body.indexOf(c === '{' ? '}' : '\n', i + 1);
      if (end < 0 && c === '{') throw new PgnError('unterminated comment', `a "{" comment at character ${i} is never closed`);
      i = end < 0 ? body.length : end;
    } else if (c === '(') depth++;
    else depth = Math.max(0, depth - 1);
    out += ' ';
    from = i + 1;
  }
  return depth === 0 ? out + body.slice(from) : out;
}

function readGame(tags: Record<string, string>, body: string): PgnGame {
  const moveTexts: string[] = [];
  let textResult: string | undefined;
  for (let token of mainLine(body).split(/\s+/)) {
    token = token.replace(/^\d+\.+/, ''); // move number, possibly glued to the move: "1.炮二平五"
    if (!token) continue;
    if (RESULTS.has(token)) { textResult = token; continue; }
    moveTexts.push(token);
  }
  const tagResult = tags.Result?.trim();
  const result = (tagResult && RESULTS.has(tagResult) ? tagResult : textResult ?? '*') as PgnResult;
  return { tags, moveTexts, result };
}

export interface ReplayedGame {
  /** Start position FEN as given (normalised through the board), or the standard start. */
  fen: string;
  moves: Move[];
  /** Position after the last move. */
  final: Position;
  /** Moves written after the game was already over (no legal move left), dropped. */
  droppedAfterEnd: number;
}

/**
 * Replays a game's moves from its FEN tag (or the start position); any unreadable or illegal move
 * throws a PgnError that names the ply and the move text. Moves after a mate are dropped.
 */
export function replay(game: PgnGame): ReplayedGame {
  const fenTag = game.tags.FEN?.trim();
  let pos: Position;
  try {
    pos = Position.fromFen(fenTag || START_FEN);
  } catch (e) {
    throw new PgnError('bad FEN', (e as Error).message);
  }
  const fen = pos.fen();
  const moves: Move[] = [];
  for (const [i, text] of game.moveTexts.entries()) {
    let m: Move;
    try {
      m = parseMove(pos, text);
    } catch (e) {
      // Some records add a move after mate (e.g. the mated general stepping into check): the game
      // was already decided, so keep it up to the mate.
      if (!pos.hasLegalMove()) return { fen, moves, final: pos, droppedAfterEnd: game.moveTexts.length - i };
      const err = e as Error;
      const reason = err.name === 'IllegalMoveError' ? 'illegal move' : /ambiguous/.test(err.message) ? 'ambiguous move' : 'unreadable move';
      throw new PgnError(reason, `ply ${i + 1} "${text}": ${err.message}`);
    }
    if (pos.ply >= MAX_GAME_PLIES) throw new PgnError('too long', `more than ${MAX_GAME_PLIES} plies`);
    pos.make(m);
    moves.push(m);
  }
  return { fen, moves, final: pos, droppedAfterEnd: 0 };
}

export const movesToIccs = (moves: Move[]): string => moves.map(moveToIccs).join(' ');
