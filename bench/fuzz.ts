/**
 * The fuzz suite's long mode: every property of test/fuzz/*.test.ts run N times (default 2000)
 * instead of the CI counts. Same seeds, so a failure found here reproduces with the printed seed.
 *
 *   npm run bench -- fuzz [--runs 2000] [files...]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { runs: { type: 'string', default: '2000' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`--runs must be a positive integer, got '${values.runs}'\n`);
  process.exit(2);
}
const files = positionals.length ? positionals : readdirSync('test/fuzz').filter((f) => f.endsWith('.test.ts')).sort().map((f) => `test/fuzz/${f}`);
const results: Record<string, { ok: boolean; seconds: number }> = {};
for (const file of files) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', file], { stdio: 'inherit', env: { ...process.env, BERT4TS_FUZZ_RUNS: String(runs) } });
  results[file] = { ok: r.status === 0, seconds: (performance.now() - t0) / 1000 };
  process.stdout.write(`${file}: ${results[file]!.ok ? 'pass' : 'FAIL'} in ${results[file]!.seconds.toFixed(0)} s (${runs} runs per property)\n`);
}
process.stdout.write(JSON.stringify({ runs, files: results, failed: Object.values(results).filter((r) => !r.ok).length }) + '\n');
process.exit(Object.values(results).every((r) => r.ok) ? 0 : 1);
