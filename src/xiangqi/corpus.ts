/**
 * Builds the game corpus: every PGN file of an archive or directory is decoded, parsed and replayed
 * move by move on the board; each distinct game becomes one JSON line.
 *
 * Determinism: records are sorted by source path before deduplication and writing, so the same
 * input always gives the same file, whatever order the archive lists its entries in. Each game's
 * `id` is a hash of its start FEN and moves, so a split by id stays stable even if the corpus grows.
 * Among games with identical start position and moves, the one whose source path sorts first is kept.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { START_FEN } from './board.ts';
import { PgnError, decodeRecord, movesToIccs, parsePgn, replay, type PgnResult } from './pgn.ts';
import { readFiles } from './tar.ts';
import { Progress } from '../util/progress.ts';
import { FileError, assertNotInput, resolvedPath, writeAtomically } from '../util/files.ts';

export interface CorpusGame {
  /** First 16 hex digits of sha1(start FEN + moves): stable across runs and corpus versions. */
  id: string;
  /** Moves in ICCS, space-separated. */
  iccs: string;
  result: PgnResult;
  /** Start position, only when it is not the standard one. */
  fen?: string;
  plies: number;
  /** How the final position ends the game on the board, when it does (checkmate, stalemate...). */
  end?: string;
  event: string;
  date: string;
  red: string;
  black: string;
  ecco: string;
  /** Path of the kept record inside the archive. */
  source: string;
}

export interface Rejection {
  count: number;
  /** A few `path: message` lines. */
  examples: string[];
}

export interface CorpusReport {
  files: number;
  /** Files that did not end in .pgn, skipped. */
  skippedFiles: number;
  /** Game records found (a file may hold several). */
  records: number;
  /** Records whose every move replayed legally. */
  valid: number;
  duplicates: number;
  written: number;
  rejected: Record<string, Rejection>;
  /** The same figures for games from the standard start position ("full games"). */
  fullGames: Counts;
  /** The same figures per top two folder levels of the source path (e.g. `Dataset/對局`). */
  byFolder: Record<string, Counts>;
  /** Valid records whose Result tag disagrees with a checkmate or stalemate on the board. */
  resultMismatches: Rejection;
  /** Valid records that went on after a mate; the moves after it were dropped. */
  movesAfterMate: Rejection;
}

export interface Counts { records: number; valid: number; duplicates: number; written: number }
const zeroCounts = (): Counts => ({ records: 0, valid: 0, duplicates: 0, written: 0 });
const folderOf = (path: string): string => path.split('/').slice(0, -1).slice(0, 2).join('/') || '.';

export interface CorpusOptions {
  /** Print no progress (tests). */
  silent?: boolean;
  /** Examples kept per rejection reason. */
  maxExamples?: number;
  /** Also write the report as JSON here (renamed into place together with the corpus). */
  report?: string;
}

const STANDARD_BOARD = START_FEN.split(' ').slice(0, 2).join(' ');

interface Candidate extends CorpusGame {
  standardStart: boolean;
  /** Order of reading: breaks ties between records with the same source path. */
  seq: number;
}

/**
 * Parses every PGN under `source` (dir, .tar, .tar.gz) and writes distinct valid games to `out` as
 * JSONL. `out` (and the report) are written to temp files and renamed only when complete, and are
 * refused when they are one of the inputs.
 */
export async function buildCorpus(source: string, out: string, options: CorpusOptions = {}): Promise<CorpusReport> {
  const maxExamples = options.maxExamples ?? 3;
  const outputs = options.report ? [out, options.report] : [out];
  if (outputs.length === 2 && resolvedPath(out) === resolvedPath(options.report!)) throw new FileError(out, 'the corpus and the report would be the same file');
  assertNotInput([source], outputs);
  // Keyed by paths and reasons from the input: null prototypes, so "__proto__" is just a folder name.
  const report: CorpusReport = {
    files: 0, skippedFiles: 0, records: 0, valid: 0, duplicates: 0, written: 0, rejected: Object.create(null),
    fullGames: zeroCounts(), byFolder: Object.create(null),
    resultMismatches: { count: 0, examples: [] },
    movesAfterMate: { count: 0, examples: [] },
  };
  const note = (bucket: Rejection, example: string) => {
    bucket.count++;
    if (bucket.examples.length < maxExamples) bucket.examples.push(example);
  };
  const reject = (reason: string, example: string) => note((report.rejected[reason] ??= { count: 0, examples: [] }), example);

  // The bar measures input read (kB of the archive, or of the directory's files); files and games are figures.
  const progress = new Progress({ label: 'corpus', unit: 'kB', silent: options.silent });
  // Deduplicated as we go (the record whose path sorts first wins), so memory grows with distinct games only.
  const kept = new Map<string, Candidate>();
  let seq = 0;
  const countDuplicate = (c: Candidate) => {
    report.duplicates++;
    report.byFolder[folderOf(c.source)]!.duplicates++;
    if (c.standardStart) report.fullGames.duplicates++;
  };
  const onProgress = (read: number, total: number) => {
    progress.total = Math.ceil(total / 1024);
    progress.tick(Math.floor(read / 1024) - progress.done, { files: report.files, games: kept.size });
  };
  let isDir = false;
  try { isDir = statSync(source).isDirectory(); } catch { /* readFiles says why it cannot be read */ }
  const inputFiles: string[] = [];
  const onSkip = (path: string, reason: string) => {
    report.files++;
    report.records++;
    reject(/limit/.test(reason) ? 'file too large' : 'not a regular file', `${path}: ${reason}`);
  };
  for await (const file of readFiles(source, { onProgress, onSkip })) {
    report.files++;
    if (isDir) inputFiles.push(join(source, file.path));
    if (!/\.pgn$/i.test(file.path)) { report.skippedFiles++; continue; }
    let games;
    try {
      games = parsePgn(decodeRecord(file.data));
    } catch (e) {
      report.records++;
      reject(e instanceof PgnError ? e.reason : 'unreadable file', `${file.path}: ${(e as Error).message}`);
      continue;
    }
    if (!games.length) { report.records++; reject('empty file', `${file.path}: no tags and no moves`); continue; }
    for (const [i, game] of games.entries()) {
      report.records++;
      const where = games.length > 1 ? `${file.path}#${i + 1}` : file.path;
      const fenTag = game.tags.FEN?.trim();
      const standardStart = !fenTag || fenTag.split(/\s+/).slice(0, 2).join(' ') === STANDARD_BOARD;
      const folder = (report.byFolder[folderOf(file.path)] ??= zeroCounts());
      folder.records++;
      if (standardStart) report.fullGames.records++;
      try {
        const { fen, moves, final, droppedAfterEnd } = replay(game);
        if (!moves.length) throw new PgnError('no moves', 'the record has no moves');
        if (droppedAfterEnd) note(report.movesAfterMate, `${where}: ${droppedAfterEnd} move(s) after the mate at ply ${moves.length} dropped`);
        const outcome = final.outcome(Infinity);
        const end = outcome && (outcome.reason === 'checkmate' || outcome.reason === 'stalemate') ? outcome : undefined;
        if (end && game.result !== end.result) note(report.resultMismatches, `${where}: Result ${game.result} but the last position is ${end.reason} (${end.result})`);
        const iccs = movesToIccs(moves);
        const startFen = standardStart ? undefined : fen;
        const c: Candidate = {
          id: createHash('sha1').update(`${startFen ?? START_FEN}\n${iccs}`).digest('hex').slice(0, 16),
          iccs, result: game.result, ...(startFen ? { fen: startFen } : {}), plies: moves.length,
          ...(end ? { end: end.reason } : {}),
          event: game.tags.Event ?? '', date: game.tags.Date ?? '', red: game.tags.Red ?? '', black: game.tags.Black ?? '',
          ecco: game.tags.ECCO ?? '', source: where, standardStart, seq: seq++,
        };
        report.valid++;
        folder.valid++;
        if (standardStart) report.fullGames.valid++;
        const other = kept.get(c.id);
        if (!other) kept.set(c.id, c);
        else if (c.source < other.source) { kept.set(c.id, c); countDuplicate(other); }
        else countDuplicate(c);
      } catch (e) {
        reject(e instanceof PgnError ? e.reason : 'error', `${where}: ${(e as Error).message}`);
      }
    }
  }
  progress.finish({ files: report.files, games: kept.size });

  const games = [...kept.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : a.seq - b.seq));
  for (const g of games) {
    report.written++;
    report.byFolder[folderOf(g.source)]!.written++;
    if (g.standardStart) report.fullGames.written++;
  }
  // A file of the directory may be the output under another name (a hard link, or a path with `..`).
  if (isDir) assertNotInput(inputFiles, outputs);
  writeAtomically(outputs, ([corpus, json]) => {
    const lines: string[] = [];
    const flush = () => { corpus!.write(Buffer.from(lines.join(''))); lines.length = 0; };
    for (const { standardStart, seq, ...game } of games) {
      lines.push(JSON.stringify(game) + '\n');
      if (lines.length >= 4096) flush();
    }
    flush();
    json?.write(Buffer.from(JSON.stringify(report, null, 2) + '\n'));
  });
  return report;
}
/** Human-readable summary of a corpus report. */
export function formatReport(r: CorpusReport): string {
  const pct = (a: number, b: number) => (b ? ((100 * a) / b).toFixed(2) : '0.00');
  const counts = (c: Counts) => `${c.records} records, ${c.valid} valid (${pct(c.valid, c.records)}%), ${c.duplicates} duplicates, ${c.written} written`;
  const lines = [
    `files read:        ${r.files}${r.skippedFiles ? ` (${r.skippedFiles} not .pgn, skipped)` : ''}`,
    `game records:      ${r.records}`,
    `parsed and valid:  ${r.valid} (${pct(r.valid, r.records)}%)`,
    `duplicates:        ${r.duplicates} (same start and moves; the record whose path sorts first is kept)`,
    `written:           ${r.written}`,
    `from the standard start: ${counts(r.fullGames)}`,
    'by folder:',
  ];
  for (const [folder, c] of Object.entries(r.byFolder).sort()) {
    lines.push(`  ${folder}: ${counts(c)}`);
  }
  const reasons = Object.entries(r.rejected).sort((a, b) => b[1].count - a[1].count);
  lines.push(`rejected:          ${reasons.reduce((n, [, v]) => n + v.count, 0)}`);
  for (const [reason, { count, examples }] of reasons) {
    lines.push(`  ${reason}: ${count}`);
    for (const ex of examples) lines.push(`    e.g. ${ex}`);
  }
  if (r.movesAfterMate.count) {
    lines.push(`kept, moves written after a mate dropped: ${r.movesAfterMate.count}`);
    for (const ex of r.movesAfterMate.examples) lines.push(`    e.g. ${ex}`);
  }
  if (r.resultMismatches.count) {
    lines.push(`kept, but Result disagrees with the final position: ${r.resultMismatches.count}`);
    for (const ex of r.resultMismatches.examples) lines.push(`    e.g. ${ex}`);
  }
  return lines.join('\n');
}
