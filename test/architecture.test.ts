// The import table of docs/ARCHITECTURE.md holds: every relative import in src/<folder>/ reaches only
// its own folder, src/util, or a folder that the table's "may import" column names for it. The table
// is parsed from the document itself, so the code and its description cannot drift apart silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');

/** The table's rows in order: folder (e.g. `training/pretrain`) -> its "may import" cell. */
function tableRows(): [string, string][] {
  const rows: [string, string][] = [];
  for (const line of readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8').split('\n')) {
    const m = /^\| `([\w/]+)\/` \|.*\| ([^|]*) \|\s*$/.exec(line);
    if (m) rows.push([m[1]!, m[2]!.trim()]);
  }
  return rows;
}

/** Folder -> the folders it may import, read from the cells' wording. */
function allowedImports(rows: [string, string][]): Map<string, Set<string>> {
  const folders = rows.map(([f]) => f).filter((f) => f !== 'web');
  const allowed = new Map<string, Set<string>>();
  const names = (cell: string) => cell.replace(/\([^)]*\)/g, '').split(',').map((s) => s.replace(/[`/]/g, '').trim()).filter((s) => s && s !== '—');
  rows.forEach(([folder, cell], i) => {
    if (folder === 'web') return; // outside src/: it uses the library through the browser build
    let set: string[];
    if (cell === 'everything') set = [...folders, 'xiangqi/player'];
    else if (folder === 'xiangqi') {
      // "the rules: util only; `player/`: everything above"
      assert.match(cell, /^the rules: util only; `player\/`: everything above; the entries `index.ts`\/`browser.ts` re-export `player\/`$/, `ARCHITECTURE.md's xiangqi row changed wording: ${cell}`);
      allowed.set('xiangqi/player', new Set(folders.slice(0, i)));
      set = ['util'];
    } else {
      const plus = /^everything (\S+) may import, plus (.*)$/.exec(cell);
      set = plus ? [...allowed.get(plus[1]!.replace(/\/$/, ''))!, ...names(plus[2]!)] : names(cell);
    }
    // "imports only from the layers listed above it": a named folder's row comes earlier (util is apart, at the end).
    for (const name of set) if (cell !== 'everything' && name !== 'util') assert.ok(folders.indexOf(name) < i, `ARCHITECTURE.md: ${folder} may import ${name}, whose row comes below it`);
    for (const name of set) assert.ok(folders.includes(name) || name === 'util' || name === 'xiangqi/player', `ARCHITECTURE.md: ${folder}'s row names '${name}', which is not a folder of the table`);
    allowed.set(folder, new Set(set));
  });
  return allowed;
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const f of readdirSync(dir).sort()) {
    const path = join(dir, f);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (f.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The table's folder that a file under src/ belongs to (the most specific row), or its top folder. */
function folderOf(file: string, folders: string[]): string {
  const rel = relative(src, file).split('/').slice(0, -1).join('/');
  return folders.filter((f) => rel === f || rel.startsWith(`${f}/`)).sort((a, b) => b.length - a.length)[0] ?? rel.split('/')[0] ?? '';
}

test('docs/ARCHITECTURE.md has a row for every folder under src/', () => {
  const folders = tableRows().map(([f]) => f);
  const missing = readdirSync(src).filter((f) => statSync(join(src, f)).isDirectory() && !folders.includes(f));
  assert.deepEqual(missing, [], `folders of src/ without a row in the import table: ${missing.join(', ')}`);
});

test('every relative import in src/ follows the import table of docs/ARCHITECTURE.md', () => {
  const rows = tableRows();
  const allowed = allowedImports(rows);
  const folders = [...allowed.keys()];
  const broken: string[] = [];
  let checked = 0;
  for (const file of sourceFiles(src)) {
    if (dirname(file) === src) continue; // index.ts, browser.ts: the public entries import everything
    const from = folderOf(file, folders);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'|(?:^|\n)\s*import\s*'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g)) {
      const target = resolve(dirname(file), (m[1] ?? m[2] ?? m[3])!);
      checked++;
      if (dirname(target) === src) {
        broken.push(`${relative(root, file)} imports the public entry ${relative(root, target)}`);
        continue;
      }
      const to = folderOf(target, folders);
      // A subfolder builds on its parent (pretrain on training, the player on the rules); a folder's
      // entry files (index.ts, browser.ts) re-export its subfolders.
      const entry = /^(index|browser)\.ts$/.test(file.split('/').at(-1)!);
      const sameTree = to === from || from.startsWith(`${to}/`) || (entry && to.startsWith(`${from}/`));
      if (sameTree || to === 'util' || allowed.get(from)!.has(to)) continue;
      broken.push(`${relative(root, file)} (${from}/) imports ${relative(root, target)} (${to}/), not in its row: ${[...allowed.get(from)!].join(', ') || 'nothing'}`);
    }
  }
  assert.ok(checked > 500, `only ${checked} imports found: the pattern no longer matches the code`);
  assert.deepEqual(broken, []);
});

test('no throwaway script is committed (bench/_tmp_*.ts and the like stay outside the repository)', (t) => {
  let files: string[];
  try {
    files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  } catch {
    t.skip('not a git checkout (or no git): nothing to check');
    return;
  }
  assert.deepEqual(files.filter((f) => /(^|\/)_tmp_/.test(f)), []);
});
