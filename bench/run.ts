/**
 * `npm run bench -- <name> [args]` runs bench/<name>.ts. Every benchmark prints human-readable rows
 * and, as its last line, one JSON object with its figures.
 */
import { readdirSync } from 'node:fs';

const names = readdirSync(new URL('.', import.meta.url)).filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_')).map((f) => f.slice(0, -3));
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name>\nbenchmarks: ${names.join(', ')}\n`);
  process.exit(2);
}
process.argv = [process.argv[0]!, name, ...rest];
await import(`./${name}.ts`);
