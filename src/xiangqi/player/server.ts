/**
 * The web server behind `npm start` / `bert4ts serve`: static files from web/ and a small JSON API.
 * The API is stateless (the page sends the game's moves each time), so a reload, two tabs or a
 * restarted server never lose or mix up a game.
 *
 *   GET  /api/info              model facts, or the reason there is no model
 *   POST /api/state {moves}     the position after `moves` (ICCS): pieces, legal moves, move list, outcome
 *   POST /api/reply {moves, temperature?, mode?}  the model's move for the side to move + its top candidates
 *                               (mode: policy, value, search or alphabeta, the player's strength levels)
 *   GET  /api/model.safetensors the player's weights (float32, config in the metadata), for the page's
 *                               in-browser mode: the library's Player runs in the page (/lib/bert4ts.js)
 *   GET  /api/model.onnx        the scoring network as ONNX, for plain onnxruntime-web users
 *   GET  /vendor/ort/...        onnxruntime-web's files (module and WebAssembly)
 *
 * In-browser mode the page runs the network itself with onnxruntime-web: /api/state then also gives
 * the model's token context and the moves it may play, and the server only keeps the rules.
 *
 * Every request is answered; bad input gets 400 with a message, never a crash.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HttpError, readJsonBody, requestPath, sendJson, serveStatic } from '../../serving/http.ts';
import { servePlayground } from '../../serving/playground.ts';
import { FEN_LETTERS, Position, RED, squareAt, squareName, moveFrom, moveTo, moveToIccs, type Move } from '../board.ts';
import { formatMove } from '../notation.ts';
import { isPlayMode, PLAY_MODES, type Player } from './player.ts';
import { scorerOnnx } from './scorer.ts';
import { savePlayerModel } from './model.ts';
import { moveFromIccs } from './vocab.ts';

export const WEB_ROOT = fileURLToPath(new URL('../../../web/', import.meta.url));
const MAX_BODY = 64 * 1024;
const MAX_PLIES = 1000;
/** onnxruntime-web's files the page loads: the WebAssembly-only build and its runtime. */
const ORT_FILES = new Set(['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']);

function ortWebDir(): string | undefined {
  try {
    return join(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'), '..');
  } catch {
    return undefined;
  }
}

/** A client error of this API (400 unless told otherwise). */
class BadRequest extends HttpError {
  constructor(message: string, status = 400) {
    super(status, message);
  }
}

export interface ServerOptions {
  /** The loaded player, or the message explaining why there is none (e.g. a missing model file). */
  player: Player | { error: string };
  webRoot?: string;
  log?: (line: string) => void;
}

/** Replay ICCS moves from the start, naming the first one that is malformed or illegal. */
export function replayMoves(moves: unknown): Position {
  if (!Array.isArray(moves)) throw new BadRequest('"moves" must be an array of ICCS moves like ["h2e2", "h9g7"]');
  if (moves.length > MAX_PLIES) throw new BadRequest(`too many moves (${moves.length}); at most ${MAX_PLIES}`);
  const pos = Position.start();
  moves.forEach((text, i) => {
    if (typeof text !== 'string' || !/^[a-i][0-9][a-i][0-9]$/.test(text)) throw new BadRequest(`move ${i + 1}: ${JSON.stringify(text)} is not an ICCS move like h2e2`);
    const m = moveFromIccs(text);
    const why = pos.whyIllegal(m);
    if (why) throw new BadRequest(`move ${i + 1} (${text}) is illegal: ${why}`);
    if (pos.outcome()) throw new BadRequest(`move ${i + 1} (${text}) comes after the end of the game`);
    pos.play(m);
  });
  return pos;
}

/**
 * What the page needs to draw a position; with a player, also what the page needs to choose the
 * model's move itself: the token context and the moves it may play (with their Chinese names).
 */
export function describePosition(pos: Position, player?: Player) {
  const pieces: { square: string; piece: string; side: 'red' | 'black' }[] = [];
  for (let row = 0; row < 10; row++) for (let file = 0; file < 9; file++) {
    const p = pos.pieceAt(squareAt(file, row));
    if (p) pieces.push({ square: squareName(squareAt(file, row)), piece: FEN_LETTERS[p & 7]!.toUpperCase(), side: p & RED ? 'red' : 'black' });
  }
  const legal: Record<string, string[]> = {};
  for (const m of pos.legalMoves()) (legal[squareName(moveFrom(m))] ??= []).push(squareName(moveTo(m)));
  const history = pos.history();
  const replay = Position.start();
  const moveList = history.map((m) => {
    const entry = { iccs: moveToIccs(m), chinese: formatMove(replay, m, 'chinese'), wxf: formatMove(replay, m, 'wxf') };
    replay.make(m);
    return entry;
  });
  const outcome = pos.outcome() ?? null;
  const model = player && !outcome
    ? { context: player.context(pos), candidates: player.candidateMoves(pos).map((m) => ({ iccs: moveToIccs(m), chinese: formatMove(pos, m, 'chinese') })) }
    : null;
  return { fen: pos.fen(), side: pos.side === 0 ? 'red' : 'black', inCheck: pos.inCheck(), pieces, legal, moves: moveList, outcome, model };
}

export function createPlayerServer(o: ServerOptions): Server {
  const webRoot = o.webRoot ?? WEB_ROOT;
  const log = o.log ?? (() => {});
  // One model evaluation at a time: requests queue instead of competing for the 2 ORT threads.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const next = queue.then(f, f);
    queue = next.catch(() => {});
    return next;
  };

  const player = 'error' in o.player ? undefined : o.player;
  let onnx: Uint8Array | undefined;
  let weights: Uint8Array | undefined;

  async function api(req: IncomingMessage, path: string): Promise<unknown> {
    if (path === '/api/model.onnx') {
      if (!player) throw new BadRequest(`no model: ${(o.player as { error: string }).error}`, 503);
      onnx ??= scorerOnnx(player.model);
      return onnx;
    }
    if (path === '/api/model.safetensors') {
      if (!player) throw new BadRequest(`no model: ${(o.player as { error: string }).error}`, 503);
      // float32, as the server's player holds them, so the page's player scores exactly as this one.
      weights ??= (() => {
        const dir = mkdtempSync(join(tmpdir(), 'bert4ts-player-'));
        try {
          savePlayerModel(join(dir, 'model.safetensors'), player.model, { metadata: player.model.metadata });
          return new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return weights;
    }
    if (path === '/api/info') {
      if ('error' in o.player) return { ready: false, error: o.player.error };
      const { config, metadata } = o.player.model;
      return { ready: true, layers: config.numLayers, hidden: config.hiddenSize, step: metadata.step ?? null, validation: metadata.validation ? JSON.parse(metadata.validation) : null, modes: o.player.availableModes };
    }
    if (path !== '/api/state' && path !== '/api/reply') throw new BadRequest(`no API route ${path}`, 404);
    if (req.method !== 'POST') throw new BadRequest(`${path} takes POST with a JSON body`, 405);
    const body = await readJson(req);
    const pos = replayMoves(body.moves);
    if (path === '/api/state') return describePosition(pos, player);
    if (path === '/api/reply') {
      if ('error' in o.player) throw new BadRequest(o.player.error, 503);
      const outcome = pos.outcome();
      if (outcome) throw new BadRequest(`the game is over (${outcome.result} by ${outcome.reason}); start a new game`, 409);
      const temperature = body.temperature ?? 0;
      if (typeof temperature !== 'number' || !(temperature >= 0) || temperature > 10) throw new BadRequest('"temperature" must be a number from 0 to 10');
      const mode = body.mode ?? 'policy';
      if (typeof mode !== 'string' || !isPlayMode(mode)) throw new BadRequest(`"mode" must be one of ${PLAY_MODES.join(', ')}`);
      if (mode !== 'policy' && !o.player.valueHead) throw new BadRequest(`the ${mode} mode needs a value model (value.safetensors beside the model); this server has none`, 409);
      if (!o.player.availableModes.includes(mode)) throw new BadRequest(`the ${mode} mode needs a board value network (bert4ts xiangqi value --input board); this server's value model is a head on the language model`, 409);
      const player = o.player;
      // One player serves every request, one at a time: the mode is set for this request only.
      const choice = await serial(async () => {
        player.mode = mode;
        try {
          return await player.choose(pos, { temperature });
        } finally {
          player.mode = 'policy';
        }
      });
      const candidates = choice.candidates.slice(0, 8).map((c) => ({ iccs: c.iccs, chinese: formatMove(pos, c.move, 'chinese'), probability: c.probability }));
      const move: Move = choice.move;
      const chinese = formatMove(pos, move, 'chinese');
      pos.play(move);
      return { move: moveToIccs(move), chinese, thinkMs: Math.round(choice.thinkMs), candidates, state: describePosition(pos, player) };
    }
    throw new BadRequest(`no API route ${path}`, 404); // unreachable: routes are checked above
  }

  async function serveFile(path: string, res: ServerResponse, head: boolean): Promise<void> {
    if (await servePlayground(path, res, head)) return; // web/playground/'s library bundle and models
    if (!path.startsWith('/vendor/ort/')) return serveStatic(webRoot, path, res, head);
    const name = path.slice('/vendor/ort/'.length), dir = ortWebDir();
    if (!ORT_FILES.has(name) || !dir) throw new BadRequest(`not found: ${path}${dir ? '' : ' (onnxruntime-web is not installed)'}`, 404);
    return serveStatic(dir, '/' + name, res, head);
  }

  return createServer((req, res) => {
    const handle = async () => {
      const path = requestPath(req);
      if (path.startsWith('/api/')) {
        const value = await api(req, path);
        if (value instanceof Uint8Array) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length });
          res.end(value);
        } else sendJson(res, 200, value);
      } else if (req.method === 'GET' || req.method === 'HEAD') await serveFile(path, res, req.method === 'HEAD');
      else throw new BadRequest('only GET for pages', 405);
    };
    handle().catch((e) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) log(`error on ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      sendJson(res, status, { error: e instanceof Error ? e.message : String(e) }); // the page reads `error` as a string
    });
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, any>> {
  return readJsonBody(req, { maxBytes: MAX_BODY, maxDepth: 8 });
}
