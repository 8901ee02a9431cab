/**
 * `bert4ts serve` (and `npm start`): the xiangqi web page, playing against the language-model
 * player running in this process. A missing or broken model file does not stop the server: the
 * page says what is wrong and how to fix it.
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = 'bert4ts serve [--port 8080] [--host 127.0.0.1] [--model models/xiangqi/model.safetensors] [--plain]';

const command: Command = {
  summary: 'serve the xiangqi web page: play Chinese chess against the language-model player',
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { port: { type: 'string', short: 'p' }, host: { type: 'string' }, model: { type: 'string', short: 'm' }, plain: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, `usage: ${USAGE}`);
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\nusage: ${USAGE}`);
    if (values.help) {
      process.stdout.write(`usage: ${USAGE}\n${command.summary}\n`);
      return 0;
    }
    const port = numberOption('port', values.port ?? process.env.PORT ?? '8080', { integer: true, min: 0, max: 65535 })!;
    const host = values.host ?? '127.0.0.1';
    const { Player } = await import('../xiangqi/player/player.ts');
    const { createPlayerServer } = await import('../xiangqi/player/server.ts');
    let player: Awaited<ReturnType<typeof Player.load>> | { error: string };
    try {
      player = await Player.load(values.model);
      player.ruleChecks = !values.plain;
    } catch (e) {
      player = { error: (e as Error).message };
      process.stderr.write(`serve: no model, the page will say so: ${player.error}\n`);
    }
    const server = createPlayerServer({ player, log: (l) => process.stderr.write(l + '\n') });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new Error(`port ${port} is in use; pick another with --port`) : e));
      server.listen(port, host, resolve);
    });
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    process.stdout.write(`xiangqi: http://${host === '0.0.0.0' ? 'localhost' : host}:${actualPort}/\n`);
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if ('release' in player) await player.release();
    return 0;
  },
};
export default command;
