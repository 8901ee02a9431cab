/**
 * `bert4ts serve` (and `npm start`): with no --model or a player's weights file, the xiangqi web page,
 * playing against the language-model player; with `--model DIR` (repeatable), the model server (src/serving): tokenize,
 * embeddings, fill-mask, classify and completions over HTTP. Both bind 127.0.0.1 unless told
 * otherwise and shut down gracefully on SIGTERM / SIGINT (requests in flight finish, new ones get 503).
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts serve [--port 8080] [--host 127.0.0.1] [--model models/xiangqi/model.safetensors] [--plain]
       bert4ts serve --model [NAME=]DIR [--model ...] [--port 8080] [--host 127.0.0.1] [--token T]
                     [--max-batch 16] [--max-wait-ms 5] [--max-queue 256] [--timeout-ms 60000]
                     [--max-body-bytes 1048576] [--max-inputs 256] [--max-input-tokens 512] [--max-new-tokens 512]

With no --model, or --model FILE (a xiangqi player's weights): the xiangqi page (--plain: no rule checks).
With --model DIR: the model server. Each DIR holds a config, a checkpoint and a tokenizer; NAME (default:
the directory's name) is the "model" field of requests. Routes: POST /v1/tokenize, /v1/embeddings,
/v1/fill-mask, /v1/classify, /v1/completions (stream: true for server-sent events); GET /v1/models,
/healthz, /metrics. --token (or BERT4TS_TOKEN) requires "Authorization: Bearer T" on all but /healthz.`;

const command: Command = {
  summary: 'serve models over HTTP (embeddings, fill-mask, classify, completions), or the xiangqi web page',
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, {
      port: { type: 'string', short: 'p' }, host: { type: 'string' }, model: { type: 'string', short: 'm', multiple: true }, plain: { type: 'boolean' }, token: { type: 'string' }, 'max-batch': { type: 'string' }, 'max-wait-ms': { type: 'string' },
      'max-queue': { type: 'string' }, 'timeout-ms': { type: 'string' }, 'max-body-bytes': { type: 'string' }, 'max-inputs': { type: 'string' },
      'max-input-tokens': { type: 'string' }, 'max-new-tokens': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\n${USAGE}`);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const port = numberOption('port', values.port ?? process.env.PORT ?? '8080', { integer: true, min: 0, max: 65535 })!;
    const host = values.host ?? '127.0.0.1';
    const log = (l: string) => process.stderr.write(l + '\n');
    const { runUntilSignal } = await import('../serving/http.ts');
    let server: import('node:http').Server & { stopping?: boolean };
    let cleanup = async () => {};
    let banner: string;
    const { statSync } = await import('node:fs');
    const specs = values.model ?? [];
    const dirOf = (spec: string) => (/^[\w.-]+=/.test(spec) ? spec.slice(spec.indexOf('=') + 1) : spec);
    const isDir = (spec: string) => { try { return statSync(dirOf(spec)).isDirectory(); } catch { return false; } };
    const serveModels = specs.length > 0 && specs.some(isDir);
    if (serveModels) {
      const notDir = specs.find((s) => !isDir(s));
      if (notDir !== undefined) throw new UsageError(`--model ${notDir}: not a model directory (the model server takes directories; a player's weights file serves the xiangqi page alone)`);
      if (values.plain) throw new UsageError('--plain is for the xiangqi page');
      const int = (name: string, min: number, max: number) => numberOption(name, values[name as keyof typeof values] as string | undefined, { integer: true, min, max });
      const limits = {
        maxBatch: int('max-batch', 1, 1024), maxWaitMs: int('max-wait-ms', 0, 10_000), maxQueue: int('max-queue', 1, 1_000_000), timeoutMs: int('timeout-ms', 1, 86_400_000),
        maxBodyBytes: int('max-body-bytes', 1, 1 << 30), maxInputs: int('max-inputs', 1, 100_000), maxInputTokens: int('max-input-tokens', 1, 1 << 20), maxNewTokens: int('max-new-tokens', 1, 1 << 20),
      };
      const { ServedModel } = await import('../serving/models.ts');
      const { createModelServer } = await import('../serving/server.ts');
      const models = [];
      for (const spec of specs) {
        const dir = dirOf(spec);
        const name = dir === spec ? undefined : spec.slice(0, spec.indexOf('='));
        log(`loading ${dir} ...`);
        const m = await ServedModel.load(dir, name);
        log(`  ${m.id}: ${m.model.family} ${m.model.application}; ${[...m.capabilities].join(', ')}`);
        models.push(m);
      }
      server = createModelServer({ models, token: values.token ?? process.env.BERT4TS_TOKEN, log, ...limits });
      banner = 'models';
    } else {
      if (specs.length > 1) throw new UsageError('the xiangqi page takes one --model FILE');
      const { Player } = await import('../xiangqi/player/player.ts');
      const { createPlayerServer } = await import('../xiangqi/player/server.ts');
      let player: Awaited<ReturnType<typeof Player.load>> | { error: string };
      try {
        player = await Player.load(specs[0]);
        player.ruleChecks = !values.plain;
      } catch (e) {
        player = { error: (e as Error).message };
        log(`serve: no model, the page will say so: ${player.error}`);
      }
      server = createPlayerServer({ player, log });
      const loaded = player;
      cleanup = async () => { if ('release' in loaded) await loaded.release(); };
      banner = 'xiangqi';
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`port ${port} is in use; pick another with --port`) : e));
      server.listen(port, host, resolve);
    });
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    process.stdout.write(`${banner}: http://${host === '0.0.0.0' ? 'localhost' : host}:${actualPort}/\n`);
    await runUntilSignal(server, { log, onStop: () => { server.stopping = true; } });
    await cleanup();
    log('stopped');
    return 0;
  },
};
export default command;
