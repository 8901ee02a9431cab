/**
 * What of xiangqi runs in a browser (src/browser.ts exports it as `xiangqi`): the rules, the notations
 * and the language-model player in its policy mode, its weights given as bytes
 * (`loadPlayerModel({ name, bytes })`). The xiangqi page (web/app.js) plays with these. Training, the
 * corpus builder, the value models' training, matches and the servers stay Node-only.
 */
export {
  Position, START_FEN, FenError, IllegalMoveError, squareName, parseSquare, moveToIccs, moveFrom, moveTo,
  type Move, type Side, type Outcome,
} from './board.ts';
export { parseIccs, formatMove, moveToChinese, moveToWxf, NotationError, type Notation } from './notation.ts';
export { Player, playableMoves, type Choice, type ChooseOptions } from './player/player.ts';
export { loadPlayerModel, ModelFileError, type PlayerModel } from './player/model.ts';
export { MoveScorer, withProbabilities, type ScoredMove } from './player/scorer.ts';
