// The published package, as a user gets it: `npm pack` (which builds dist/), the tarball installed
// into a fresh project, then a plain .mjs consumer under plain node (no tsx anywhere), a .ts consumer
// type-checked with `tsc --init`'s defaults (module nodenext), and the installed `bert4ts` bin.
// The pack runs in a copy of the sources (so a build never races the working tree); the install
// prefers npm's cache and falls back to the registry (CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/build.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };
for (const k of Object.keys(env)) if (k.startsWith('npm_') && !['npm_config_fund', 'npm_config_audit', 'npm_config_update_notifier', 'npm_config_cache'].includes(k)) delete env[k];

function run(cmd: string, args: string[], options: SpawnSyncOptions & { cwd: string }) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 600_000, ...options });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), error: r.error };
}
function ok(r: ReturnType<typeof run>, what: string) {
  assert.equal(r.status, 0, `${what} failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', '##s'];
const CONFIG = { model_type: 'bert', vocab_size: VOCAB.length, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 };

test('npm pack -> install the tarball in a fresh project -> plain node, tsc (nodenext) and the bin all work', { timeout: 900_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'bert4ts-pack-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));

  // 1. Pack from a copy of what the package is made of (the clone's node_modules linked for tsc).
  const pkgDir = join(tmp, 'pkg');
  mkdirSync(pkgDir);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', '.npmrc', 'README.md', 'LICENSE', 'src', 'bin', 'web', 'docs', 'models/xiangqi', 'models/chinese-small', 'models/tang-poems']) {
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(pkgDir, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
  const started = Date.now();
  const packed = ok(run(NPM, ['pack', '--json', '--pack-destination', tmp], { cwd: pkgDir }), 'npm pack');
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const files = info[0]!.files.map((f) => f.path);
  console.log(`npm pack: ${info[0]!.filename}, ${(info[0]!.size / 1e6).toFixed(1)} MB (${(info[0]!.unpackedSize / 1e6).toFixed(1)} MB unpacked, ${files.length} files) in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/browser.js', 'dist/browser.d.ts', 'dist/cli/main.js', 'dist/browser.bundle.js', 'models/chinese-small/model.safetensors', 'web/playground/app.js', 'bin/bert4ts.js', 'package.json', 'README.md']) assert.ok(files.includes(f), `tarball lacks ${f}`);
  const sources = files.filter((f) => /^(src|test|bench|examples)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  assert.deepEqual(sources, [], 'no sources or tests in the tarball');
  assert.ok(!readFileSync(join(pkgDir, 'dist/runtime/session.js'), 'utf8').includes(".ts'"), 'relative imports are rewritten to .js');

  // 2. A fresh project installs the tarball (dependencies from npm's cache when it has them).
  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  const t0 = Date.now();
  ok(run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(tmp, info[0]!.filename)], { cwd: app }), 'npm install <tarball>');
  console.log(`npm install of the tarball: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  assert.ok(!existsSync(join(app, 'node_modules/tsx')), 'tsx is not installed for a consumer (a devDependency)');
  assert.ok(existsSync(join(app, 'node_modules/onnxruntime-node')), 'the optional native runtime is installed by default');

  // 3. A plain .mjs consumer under plain node: build a tiny model, run it, tokenize.
  writeFileSync(join(app, 'vocab.txt'), VOCAB.join('\n'));
  writeFileSync(join(app, 'consumer.mjs'), `
import { buildModel, loadTokenizer } from 'bert4ts';
const model = buildModel(${JSON.stringify(CONFIG)}, { application: 'mlm', seed: 7 });
const tokenizer = await loadTokenizer('vocab.txt');
const { ids, tokens } = tokenizer.encode('hello worlds');
const { logits } = await model.predict({ input_ids: [ids] });
console.log(JSON.stringify({ ids, tokens, shape: logits.shape, logits: Array.from(logits.data) }));
`);
  const mjs = ok(run(process.execPath, ['consumer.mjs'], { cwd: app }), 'node consumer.mjs');
  const got = JSON.parse(mjs.stdout) as { ids: number[]; tokens: string[]; shape: number[]; logits: number[] };
  const tokenizer = WordPieceTokenizer.fromVocabText(VOCAB.join('\n'));
  const want = tokenizer.encode('hello worlds');
  assert.deepEqual(got.tokens, ['[CLS]', 'hello', 'world', '##s', '[SEP]']);
  assert.deepEqual(got.ids, want.ids);
  const { logits } = await buildModel(CONFIG, { application: 'mlm', seed: 7 }).predict({ input_ids: [want.ids] });
  assert.deepEqual(got.shape, logits!.shape);
  got.logits.forEach((v, i) => assert.ok(Math.abs(v - (logits!.data[i] as number)) < 1e-5, `logit ${i}: ${v} vs ${logits!.data[i]}`));

  // 4. A .ts consumer, type-checked with tsc --init's defaults (module nodenext, strict), no tsx.
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  ok(run(process.execPath, [tsc, '--init'], { cwd: app }), 'tsc --init');
  assert.match(readFileSync(join(app, 'tsconfig.json'), 'utf8'), /"module": "nodenext"/);
  writeFileSync(join(app, 'consumer.ts'), `
import { buildModel, loadTokenizer, type Model, type Tokenizer } from 'bert4ts';
const model: Model = buildModel({ model_type: 'bert', vocab_size: 8, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 }, { application: 'mlm' });
const tokenizer: Tokenizer = await loadTokenizer('vocab.txt');
const out = await model.predict({ input_ids: [tokenizer.encode('hello').ids] });
const shape: number[] = out.logits!.shape;
export { shape };
`);
  ok(run(process.execPath, [tsc, '--noEmit', '-p', '.'], { cwd: app }), 'tsc on the .ts consumer');
  // The types are real: a wrong call is an error, not an any.
  writeFileSync(join(app, 'wrong.ts'), `import { buildModel } from 'bert4ts';\nbuildModel({}, { seed: 'seven' });\nexport {};\n`);
  const wrong = run(process.execPath, [tsc, '--noEmit', '-p', '.'], { cwd: app });
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stdout, /wrong\.ts.*seed|wrong\.ts[\s\S]*'string' is not assignable to type 'number'/);
  rmSync(join(app, 'wrong.ts'));

  // 5. The installed bin runs the compiled CLI: --help and a real command.
  const bin = join(app, 'node_modules/.bin/bert4ts');
  const help = ok(run(bin, ['--help'], { cwd: app }), 'bert4ts --help');
  assert.match(help.stdout, /Usage: bert4ts <command>[\s\S]*tokenize/);
  const tok = ok(run(bin, ['tokenize', '--tokenizer', 'vocab.txt', 'hello worlds'], { cwd: app }), 'bert4ts tokenize');
  assert.deepEqual(JSON.parse(tok.stdout).tokens, ['[CLS]', 'hello', 'world', '##s', '[SEP]']);
  const bad = run(bin, ['tokenize', '--tokenizer', 'missing.txt', 'x'], { cwd: app });
  assert.equal(bad.status, 1, 'a missing tokenizer file is exit status 1');
  assert.match(bad.stderr, /missing\.txt/);
});
