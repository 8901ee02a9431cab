/** Xiangqi: rules engine, notations, game records, the corpus builder and the language-model player. See docs/XIANGQI.md. */
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
export { readFiles, TarError, type ArchiveFile, type ReadOptions } from './tar.ts';
export { parsePerftFile, type PerftCase } from './perft.ts';

// The language-model player (player/): load, choose moves, play matches, train, serve.
export { Player, playableMoves, type Choice, type ChooseOptions, type Condition } from './player/player.ts';
export { loadPlayerModel, savePlayerModel, defaultConfig, SHIPPED_MODEL, ModelFileError, type PlayerModel } from './player/model.ts';
export { FORMATS, type ContextFormat } from './player/vocab.ts';
export { trainPlayer, DEFAULT_TRAIN_OPTIONS, type TrainOptions } from './player/train.ts';
export { playGame, playMatch, randomMover, greedyMover, searchMover, materialValue, materialLead, modelMover, freeCaptures, capturedMaterial, resultFor, type Mover, type GameRecord, type MatchFigures } from './player/match.ts';
export { syntheticGame, writeSyntheticCorpus, type SyntheticOptions, type SyntheticRecord } from './player/synthetic.ts';
export { createPlayerServer, type ServerOptions } from './player/server.ts';
export { runUci } from './player/uci.ts';
