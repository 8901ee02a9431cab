/** Xiangqi: rules engine, notations, game records and the corpus builder. See docs/XIANGQI.md. */
export {
  Position, START_FEN, MAX_GAME_PLIES, FenError, IllegalMoveError,
  KING, ADVISOR, ELEPHANT, HORSE, ROOK, CANNON, PAWN, RED, BLACK,
  squareAt, fileOf, rowOf, rankOf, moveFrom, moveTo, makeMove, squareName, parseSquare, moveToIccs,
  type Move, type Side, type PieceType, type GameResult, type Outcome,
} from './board.ts';
export {
  parseMove, formatMove, formatLine, detectNotation, parseIccs, parseUci, moveToUci, parseWxf, moveToWxf,
  parseChinese, moveToChinese, NotationError, type Notation, type ChineseStyle,
} from './notation.ts';
export { decodeRecord, parsePgn, replay, movesToIccs, PgnError, type PgnGame, type PgnResult, type ReplayedGame } from './pgn.ts';
export { buildCorpus, formatReport, type CorpusGame, type CorpusReport } from './corpus.ts';
export { readFiles, type ArchiveFile } from './tar.ts';
export { parsePerftFile, type PerftCase } from './perft.ts';
