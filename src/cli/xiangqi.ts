/**
 * `bert4ts xiangqi <sub>`: the xiangqi tools. Each subcommand is one entry of SUBCOMMANDS, loaded
 * on demand like the top-level commands; add new ones (train, play, uci) there.
 */
import type { ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';

type Options = NonNullable<ParseArgsConfig['options']>;
import { parseCommandArgs, UsageError, type Command } from './main.ts';

interface Subcommand {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  perft: {
    summary: 'count the leaf nodes of the legal move tree (move generator check)',
    usage: 'bert4ts xiangqi perft ["<FEN>"|startpos] <depth> [--divide]',
    async run(argv) {
      const { values, positionals } = parse(argv, { divide: { type: 'boolean' } }, this.usage);
      if (positionals.length < 1) throw new UsageError(`expected a FEN and a depth\nusage: ${this.usage}`);
      const depthText = positionals[positionals.length - 1]!;
      const depth = Number(depthText);
      if (!Number.isInteger(depth) || depth < 1 || depth > 32) throw new UsageError(`depth must be an integer from 1 to 32, got "${depthText}"`);
      // An unquoted FEN arrives as several arguments: everything before the depth is the FEN.
      const fenArg = positionals.length >= 2 ? positionals.slice(0, -1).join(' ') : 'startpos';
      const { Position } = await import('../xiangqi/board.ts');
      const pos = fenArg === 'startpos' ? Position.start() : Position.fromFen(fenArg);
      const started = performance.now();
      if (values.divide) {
        let total = 0;
        for (const [move, n] of pos.divide(depth)) {
          process.stdout.write(`${move}: ${n}\n`);
          total += n;
        }
        process.stdout.write(`total: ${total}\n`);
      } else {
        process.stdout.write(`${pos.perft(depth)}\n`);
      }
      process.stderr.write(`perft ${depth}: ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
      return 0;
    },
  },
  corpus: {
    summary: 'parse and validate PGN game records into a JSONL corpus',
    usage: 'bert4ts xiangqi corpus <archive.tar.gz|dir> --out games.jsonl [--report report.json] [--examples N] [--quiet]',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        out: { type: 'string', short: 'o' },
        report: { type: 'string' },
        examples: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
      }, this.usage);
      if (positionals.length !== 1) throw new UsageError(`expected one archive or directory\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <file.jsonl> is required\nusage: ${this.usage}`);
      const maxExamples = values.examples === undefined ? 3 : Number(values.examples);
      if (!Number.isInteger(maxExamples) || maxExamples < 0) throw new UsageError(`--examples must be a non-negative integer, got "${values.examples}"`);
      const { existsSync } = await import('node:fs');
      if (!existsSync(positionals[0]!)) throw new Error(`no such file or directory: ${positionals[0]}`);
      await refuseOverwritingInputs(positionals, [values.out, ...(values.report ? [values.report] : [])]);
      const { buildCorpus, formatReport } = await import('../xiangqi/corpus.ts');
      const report = await buildCorpus(positionals[0]!, values.out, { silent: values.quiet, maxExamples, report: values.report });
      process.stdout.write(formatReport(report) + '\n');
      process.stdout.write(`wrote ${report.written} games to ${values.out}\n`);
      return 0;
    },
  },
  train: {
    summary: 'train the language-model player on a corpus (resumable)',
    usage: 'bert4ts xiangqi train --corpus games.jsonl --out <dir> [--steps N] [--tokens-per-batch N] [--lr X] [--warmup N] [--eval-every N] [--checkpoint-every N] [--eval-games N] [--time-limit MINUTES] [--stop-at STEP] [--layers N] [--hidden N] [--heads N] [--max-position N] [--format position|board|moves] [--init model.safetensors] [--mix records.jsonl [--mix-share X]] [--winner-only] [--history PLIES] [--seed N] [--resume] [--quiet]',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        corpus: { type: 'string' }, out: { type: 'string', short: 'o' }, steps: { type: 'string' },
        'tokens-per-batch': { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' },
        'eval-every': { type: 'string' }, 'checkpoint-every': { type: 'string' }, 'eval-games': { type: 'string' },
        'time-limit': { type: 'string' }, 'stop-at': { type: 'string' }, layers: { type: 'string' }, hidden: { type: 'string' }, heads: { type: 'string' }, 'max-position': { type: 'string' }, format: { type: 'string' },
        seed: { type: 'string' }, resume: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' },
        init: { type: 'string' }, mix: { type: 'string' }, 'mix-share': { type: 'string' }, 'winner-only': { type: 'boolean' }, history: { type: 'string' },
      }, this.usage);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      if (values.init && values.resume) throw new UsageError('--init starts a new schedule from a model, --resume continues a checkpoint: pass one of them');
      const network = (['format', 'layers', 'hidden', 'heads', 'max-position'] as const).filter((f) => values[f] !== undefined);
      if (values.init && network.length) throw new UsageError(`--init takes the network and format from the model: drop --${network.join(', --')}`);
      if (values['mix-share'] !== undefined && !values.mix) throw new UsageError('--mix-share needs --mix <records.jsonl>');
      const mixShare = values['mix-share'] === undefined ? 0.5 : positiveNumber('--mix-share', values['mix-share']);
      if (mixShare >= 1) throw new UsageError(`--mix-share must be below 1 (the rest of each batch is the corpus), got ${mixShare}`);
      if (!values.corpus) throw new UsageError(`--corpus <games.jsonl> is required\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <dir> is required\nusage: ${this.usage}`);
      const { DEFAULT_TRAIN_OPTIONS, trainPlayer } = await import('../xiangqi/player/train.ts');
      const { defaultConfig } = await import('../xiangqi/player/model.ts');
      const { FORMATS, isContextFormat } = await import('../xiangqi/player/vocab.ts');
      const { positionWindowMoves } = await import('../xiangqi/player/dataset.ts');
      const d = DEFAULT_TRAIN_OPTIONS;
      const format = values.format ?? d.format;
      if (!isContextFormat(format)) throw new UsageError(`--format must be position, board or moves, got ${format}`);
      const config = defaultConfig(format);
      if (values.layers !== undefined) config.numLayers = positiveInt('--layers', values.layers);
      if (values.hidden !== undefined) config.hiddenSize = positiveInt('--hidden', values.hidden);
      if (values.heads !== undefined) config.numHeads = positiveInt('--heads', values.heads);
      if (values['max-position'] !== undefined) config.maxPosition = positiveInt('--max-position', values['max-position']);
      if (config.maxPosition < 16 || (format !== 'moves' && positionWindowMoves(format, config.maxPosition) < 1)) {
        throw new UsageError(`--max-position ${config.maxPosition} leaves no room for a move in the ${format} format (at least ${format === 'moves' ? 16 : FORMATS[format].prefixTokens + 4})`);
      }
      if (config.hiddenSize % config.numHeads !== 0) throw new UsageError(`--hidden ${config.hiddenSize} must be a multiple of --heads ${config.numHeads}`);
      config.intermediateSize = 4 * config.hiddenSize;
      await trainPlayer({
        corpus: values.corpus, out: values.out, config, format,
        steps: values.steps === undefined ? d.steps : positiveInt('--steps', values.steps),
        tokensPerBatch: values['tokens-per-batch'] === undefined ? d.tokensPerBatch : positiveInt('--tokens-per-batch', values['tokens-per-batch']),
        learningRate: values.lr === undefined ? d.learningRate : positiveNumber('--lr', values.lr),
        warmup: values.warmup === undefined ? d.warmup : positiveInt('--warmup', values.warmup),
        evalEvery: values['eval-every'] === undefined ? d.evalEvery : positiveInt('--eval-every', values['eval-every']),
        checkpointEvery: values['checkpoint-every'] === undefined ? d.checkpointEvery : positiveInt('--checkpoint-every', values['checkpoint-every']),
        evalGames: values['eval-games'] === undefined ? d.evalGames : positiveInt('--eval-games', values['eval-games']),
        timeLimitMinutes: values['time-limit'] === undefined ? undefined : positiveNumber('--time-limit', values['time-limit']),
        stopAt: values['stop-at'] === undefined ? undefined : positiveInt('--stop-at', values['stop-at']),
        seed: values.seed === undefined ? d.seed : positiveInt('--seed', values.seed),
        resume: Boolean(values.resume), quiet: Boolean(values.quiet),
        init: values.init, mix: values.mix ? { corpus: values.mix, share: mixShare } : undefined, winnerOnly: Boolean(values['winner-only']),
        history: values.history === undefined ? undefined : nonNegativeInt('--history', values.history),
      });
      return 0;
    },
  },
  synth: {
    summary: 'write synthetic game records: a 2-ply material search against the random mover',
    usage: 'bert4ts xiangqi synth --games N --out records.jsonl [--seed N] [--quiet]',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        games: { type: 'string' }, out: { type: 'string', short: 'o' }, seed: { type: 'string' }, quiet: { type: 'boolean', short: 'q' },
      }, this.usage);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <records.jsonl> is required\nusage: ${this.usage}`);
      if (!values.games) throw new UsageError(`--games N is required\nusage: ${this.usage}`);
      const { writeSyntheticCorpus } = await import('../xiangqi/player/synthetic.ts');
      const f = await writeSyntheticCorpus(values.out, { games: positiveInt('--games', values.games), seed: values.seed === undefined ? 1 : positiveInt('--seed', values.seed), quiet: values.quiet });
      process.stdout.write(`wrote ${f.games} games to ${values.out}: the expert won ${f.expertWins}; ${f.targets} of ${f.moves} moves are training targets\n`);
      return 0;
    },
  },
  selfplay: {
    summary: 'write self-play records: the alphabeta search over a value network plays both sides (for the value), or the random mover (for the policy; with --learner, the policy plays and the search labels its moves)',
    usage: 'bert4ts xiangqi selfplay --games N --out records.jsonl [--opponent self|random] [--learner model.safetensors [--expert-share 0.5]] [--value value.safetensors] [--depth 2] [--random-plies N (8; 0 against the random mover)] [--max-plies 300] [--seed N] [--resume] [--quiet]\n' +
      '  Ctrl-C (or SIGTERM) keeps the games finished; --resume plays the rest (same options)',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        games: { type: 'string' }, out: { type: 'string', short: 'o' }, value: { type: 'string' }, depth: { type: 'string' },
        'random-plies': { type: 'string' }, 'max-plies': { type: 'string' }, seed: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, opponent: { type: 'string' },
        learner: { type: 'string' }, 'expert-share': { type: 'string' }, resume: { type: 'boolean' },
      }, this.usage);
      const { writeSelfPlayRecords, SELF_PLAY_OPPONENTS } = await import('../xiangqi/player/selfplay.ts');
      const opponent = SELF_PLAY_OPPONENTS.find((o) => o === values.opponent);
      if (values.opponent !== undefined && !opponent) throw new UsageError(`--opponent must be one of ${SELF_PLAY_OPPONENTS.join(', ')}, got "${values.opponent}"`);
      if (values.learner !== undefined && opponent !== 'random') throw new UsageError('--learner plays the random mover: add --opponent random');
      if (values['expert-share'] !== undefined && values.learner === undefined) throw new UsageError('--expert-share needs --learner');
      const expertShare = values['expert-share'] === undefined ? undefined : nonNegativeNumber('--expert-share', values['expert-share']);
      if (expertShare !== undefined && expertShare > 1) throw new UsageError(`--expert-share must be a number from 0 to 1, got "${values['expert-share']}"`);
      if (values.learner !== undefined && !existsSync(values.learner)) throw new UsageError(`--learner ${values.learner}: no such model file`);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <records.jsonl> is required\nusage: ${this.usage}`);
      if (!values.games) throw new UsageError(`--games N is required\nusage: ${this.usage}`);
      // Unset options stay undefined: selfplay.ts owns the defaults.
      const depth = values.depth === undefined ? undefined : positiveInt('--depth', values.depth);
      if (depth !== undefined && depth > 8) throw new UsageError(`--depth must be at most 8 (each ply multiplies the work), got ${depth}`);
      const randomPlies = values['random-plies'] === undefined ? undefined : Number(values['random-plies']);
      if (randomPlies !== undefined && (!Number.isInteger(randomPlies) || randomPlies < 0)) throw new UsageError(`--random-plies must be a whole number, got "${values['random-plies']}"`);
      const games = positiveInt('--games', values.games), seed = values.seed === undefined ? 1 : positiveInt('--seed', values.seed);
      const maxPlies = values['max-plies'] === undefined ? undefined : positiveInt('--max-plies', values['max-plies']);
      const { loadValueHead, valueHeadPathFor } = await import('../xiangqi/player/value.ts');
      const { SHIPPED_MODEL } = await import('../xiangqi/player/model.ts');
      const valueFile = values.value ?? valueHeadPathFor(SHIPPED_MODEL);
      const value = loadValueHead(valueFile);
      if (value.metadata.input !== 'board') throw new UsageError(`--value ${valueFile}: a head on the language model; self-play needs a board value network (\`bert4ts xiangqi value --input board\`)`);
      let learner;
      if (values.learner !== undefined) {
        const { Player } = await import('../xiangqi/player/player.ts');
        learner = await Player.load(values.learner);
        learner.ruleChecks = false;
      }
      // An interrupt ends the run between games and keeps the finished ones (a game is seconds; the run can be hours).
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
      let t;
      try {
        t = await writeSelfPlayRecords(values.out, value, { games, seed, depth, randomPlies, opponent, learner, expertShare, maxPlies, quiet: values.quiet, resume: values.resume, signal: stop.signal });
      } finally {
        process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
        await learner?.release();
      }
      const resumed = t.resumed ? ` (${t.resumed} of them already there)` : '';
      process.stdout.write(`wrote ${t.games} games to ${values.out}${resumed}: red won ${t.redWins}, black ${t.blackWins}, ${t.draws} drawn; ${t.games ? (t.plies / t.games).toFixed(0) : 0} plies a game${learner ? `; ${t.corrections} correction records` : ''}\n`);
      if (!t.interrupted) return 0;
      process.stderr.write(`interrupted after ${t.games} of ${games} games: rerun the same command with --resume to play the rest\n`);
      return 130;
    },
  },
  value: {
    summary: 'train the value model (P(side to move wins)) from the corpus results: a board network, or a head on a player model',
    usage: 'bert4ts xiangqi value --corpus games.jsonl --out <dir> [--input board|trunk] [--model model.safetensors] [--train-games N] [--validation-games 150] [--test-games 300] [--hidden 32] [--epochs N] [--mix records.jsonl [--mix-games N]] [--quiet]',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        corpus: { type: 'string' }, out: { type: 'string', short: 'o' }, model: { type: 'string', short: 'm' }, mix: { type: 'string' }, 'mix-games': { type: 'string' },
        'train-games': { type: 'string' }, 'validation-games': { type: 'string' }, 'test-games': { type: 'string' },
        hidden: { type: 'string' }, epochs: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, input: { type: 'string', default: 'board' },
      }, this.usage);
      if (values.input !== 'board' && values.input !== 'trunk') throw new UsageError(`--input must be board or trunk, got "${values.input}"`);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      if (!values.corpus) throw new UsageError(`--corpus <games.jsonl> is required\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <dir> is required\nusage: ${this.usage}`);
      const hidden = (values.hidden ?? (values.input === 'board' ? '32' : '0')).split(',').map((w) => {
        const n = Number(w);
        if (!Number.isInteger(n) || n < (values.input === 'board' ? 1 : 0) || n > 4096) throw new UsageError(`--hidden must be comma-separated widths from ${values.input === 'board' ? 1 : '0 (linear)'} to 4096, got "${values.hidden}"`);
        return n;
      });
      const count = (flag: string, v: string | undefined) => (v === undefined ? undefined : positiveInt(flag, v));
      if (values.input === 'board') {
        if (values.model) throw new UsageError('--model is for --input trunk: the board value reads only the board');
        if (values['mix-games'] !== undefined && !values.mix) throw new UsageError('--mix-games needs --mix <records.jsonl>');
        const { trainBoardValue } = await import('../xiangqi/player/boardValue.ts');
        const r = await trainBoardValue({
          corpus: values.corpus, out: values.out, hidden, epochs: count('--epochs', values.epochs), trainGames: count('--train-games', values['train-games']),
          validationGames: count('--validation-games', values['validation-games']), testGames: count('--test-games', values['test-games']),
          mix: values.mix, mixGames: count('--mix-games', values['mix-games']),
        });
        process.stdout.write(`wrote ${values.out}/value.safetensors (board, tanh ${r.chosenHidden}) and ${values.out}/calibration.json\n`);
        return 0;
      }
      if (values.mix) throw new UsageError('--mix is for the board value (--input board)');
      const { trainValueHead } = await import('../xiangqi/player/value.ts');
      const r = await trainValueHead({
        corpus: values.corpus, out: values.out, model: values.model, hidden, quiet: values.quiet,
        trainGames: count('--train-games', values['train-games']), validationGames: count('--validation-games', values['validation-games']),
        testGames: count('--test-games', values['test-games']), epochs: count('--epochs', values.epochs),
      });
      process.stdout.write(`wrote ${values.out}/value.safetensors (${r.chosenHidden ? `tanh ${r.chosenHidden}` : 'linear'} head) and ${values.out}/calibration.json\n`);
      return 0;
    },
  },
  play: {
    summary: 'play against the language-model player in the terminal',
    usage: 'bert4ts xiangqi play [--side red|black] [--model model.safetensors] [--mode policy|value|search|alphabeta] [--temperature T] [--history PLIES] [--plain] [--no-colour]',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        side: { type: 'string', default: 'red' }, model: { type: 'string', short: 'm' }, mode: { type: 'string', default: 'policy' },
        temperature: { type: 'string', short: 't' }, plain: { type: 'boolean' }, 'no-colour': { type: 'boolean' }, history: { type: 'string' },
      }, this.usage);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      if (values.side !== 'red' && values.side !== 'black') throw new UsageError(`--side must be red or black, got "${values.side}"`);
      const temperature = values.temperature === undefined ? 0 : nonNegativeNumber('--temperature', values.temperature);
      const { Player, isPlayMode, PLAY_MODES } = await import('../xiangqi/player/player.ts');
      if (!isPlayMode(values.mode)) throw new UsageError(`--mode must be one of ${PLAY_MODES.join(', ')}, got "${values.mode}"`);
      const { playInTerminal } = await import('../xiangqi/player/terminal.ts');
      const player = await Player.load(values.model);
      player.ruleChecks = !values.plain;
      try {
        setHistory(player, values.history);
        player.mode = values.mode;
        await playInTerminal(player, {
          side: values.side === 'red' ? 0 : 1, temperature, colour: !values['no-colour'] && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
          input: process.stdin, output: process.stdout,
        });
      } finally {
        await player.release();
      }
      return 0;
    },
  },
  export: {
    summary: 'write a trained player model for shipping (float16 halves the size)',
    usage: 'bert4ts xiangqi export <run dir|model.safetensors> --out <file.safetensors> [--dtype float16|float32]',
    async run(argv) {
      const { values, positionals } = parse(argv, { out: { type: 'string', short: 'o' }, dtype: { type: 'string', default: 'float16' } }, this.usage);
      if (positionals.length !== 1) throw new UsageError(`expected one run directory or model file\nusage: ${this.usage}`);
      if (!values.out) throw new UsageError(`--out <file.safetensors> is required\nusage: ${this.usage}`);
      if (values.dtype !== 'float16' && values.dtype !== 'float32') throw new UsageError(`--dtype must be float16 or float32, got "${values.dtype}"`);
      const { existsSync, statSync } = await import('node:fs');
      const { join } = await import('node:path');
      const input = existsSync(positionals[0]!) && statSync(positionals[0]!).isDirectory() ? join(positionals[0]!, 'model.safetensors') : positionals[0]!;
      await refuseOverwritingInputs([input], [values.out]);
      const { loadPlayerModel, savePlayerModel } = await import('../xiangqi/player/model.ts');
      const model = loadPlayerModel(positionals[0]!);
      savePlayerModel(values.out, model, { dtype: values.dtype, metadata: model.metadata });
      process.stdout.write(`wrote ${values.out} (${values.dtype}, ${(statSync(values.out).size / 1e6).toFixed(1)} MB, step ${model.metadata.step ?? '?'})\n`);
      return 0;
    },
  },
  uci: {
    summary: 'run the player as a UCI/UCCI engine on stdin/stdout (xiangqi GUIs, engine matches)',
    usage: 'bert4ts xiangqi uci [--model model.safetensors] [--value value.safetensors] [--mode policy|value|search|alphabeta] [--temperature T] [--history PLIES] [--plain]\n' +
      '  --mode   default: the strongest the model supports (search with a board value network beside it, else policy); UCI option Mode',
    async run(argv) {
      const { values, positionals } = parse(argv, {
        model: { type: 'string', short: 'm' }, value: { type: 'string' }, mode: { type: 'string' },
        temperature: { type: 'string', short: 't' }, plain: { type: 'boolean' }, history: { type: 'string' },
      }, this.usage);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${this.usage}`);
      const temperature = values.temperature === undefined ? 0 : nonNegativeNumber('--temperature', values.temperature);
      const { Player, isPlayMode, PLAY_MODES } = await import('../xiangqi/player/player.ts');
      if (values.mode !== undefined && !isPlayMode(values.mode)) throw new UsageError(`--mode must be one of ${PLAY_MODES.join(', ')}, got "${values.mode}"`);
      const { runUci } = await import('../xiangqi/player/uci.ts');
      const player = await Player.load(values.model, undefined, { value: values.value });
      player.ruleChecks = !values.plain;
      try {
        setHistory(player, values.history);
        // An engine is judged by its strength: without --mode it plays its strongest (the page and `play` start at the policy).
        player.mode = values.mode ?? player.strongestMode;
        await runUci(player, process.stdin, (line) => process.stdout.write(line + '\n'), temperature);
      } finally {
        await player.release();
      }
      return 0;
    },
  },
};

/** --history PLIES: the moves a `position`- or `board`-format model sees after its board (Player.historyPlies). */
function setHistory(player: import('../xiangqi/player/player.ts').Player, text: string | undefined): void {
  if (text === undefined) return;
  if (player.model.format === 'moves') throw new UsageError('--history needs a position- or board-format model (a moves-format model reads the game from its start)');
  try {
    player.historyPlies = nonNegativeInt('--history', text);
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError(`--history: ${(e as Error).message}`);
  }
}

/** Output paths that are inputs, or the same file twice, are bad usage (exit 2), found before any work. */
async function refuseOverwritingInputs(inputs: string[], outputs: string[]): Promise<void> {
  const { assertNotInput, resolvedPath, FileError } = await import('../util/files.ts');
  if (new Set(outputs.map(resolvedPath)).size < outputs.length) throw new UsageError(`the output paths ${outputs.join(', ')} name the same file twice`);
  try {
    assertNotInput(inputs, outputs);
  } catch (e) {
    throw e instanceof FileError ? new UsageError(e.message) : e;
  }
}

/** Number(text), but a blank string (which Number reads as 0) is no number. */
const numberOf = (text: string): number => (text.trim() === '' ? NaN : Number(text));

function nonNegativeNumber(flag: string, text: string): number {
  const n = numberOf(text);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number >= 0, got "${text}"`);
  return n;
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${text}"`);
  return n;
}

function nonNegativeInt(flag: string, text: string): number {
  const n = numberOf(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be an integer >= 0, got "${text}"`);
  return n;
}

function positiveNumber(flag: string, text: string): number {
  const n = numberOf(text);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number, got "${text}"`);
  return n;
}

function parse<O extends Options>(argv: string[], options: O, usage: string) {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequest(usage);
  return parseCommandArgs(argv, options, `usage: ${usage}`);
}

class HelpRequest extends Error {}

function usage(): string {
  const rows = Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(8)} ${s.summary}\n           ${s.usage}`);
  return ['Usage: bert4ts xiangqi <subcommand> [options]', '', 'Subcommands:', ...rows].join('\n');
}

const command: Command = {
  summary: 'xiangqi tools: perft, corpus, synth, selfplay, train, value, play, uci',
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(usage() + '\n');
      return name === undefined ? 2 : 0;
    }
    const sub = SUBCOMMANDS[name];
    if (!sub) throw new UsageError(`unknown subcommand '${name}'\n${usage()}`);
    try {
      return await sub.run(rest);
    } catch (e) {
      if (e instanceof HelpRequest) {
        process.stdout.write(`usage: ${e.message}\n${sub.summary}\n`);
        return 0;
      }
      throw e;
    }
  },
};
export default command;
