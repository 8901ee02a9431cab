// `npm test [-- paths...]`: runs every test/**/*.test.ts (or those under the given paths) with
// Node's test runner. Node 20's runner does not look for .ts files by itself, hence this list.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(path, out) {
  if (statSync(path).isDirectory()) for (const f of readdirSync(path).sort()) collect(join(path, f), out);
  else if (path.endsWith('.test.ts')) out.push(path);
  return out;
}
const roots = process.argv.slice(2);
const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, []));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
