// The browser build: src/browser.ts bundled as a browser bundler would (esbuild, platform 'browser',
// the package's own '#ort' import resolving to onnxruntime-web) must not reach any Node module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_ONLY = new Set([...builtinModules, 'onnxruntime-node', '@node-rs/jieba', '@node-rs/jieba/dict.js']);

/** Bundle `entry`; every import of a Node built-in or Node-only package, with the file importing it. */
async function bundle(entry: string) {
  const offenders: string[] = [];
  const result = await esbuild.build({
    entryPoints: [ROOT + entry], absWorkingDir: ROOT, bundle: true, platform: 'browser', format: 'esm', minify: true,
    write: false, metafile: true, logLevel: 'silent',
    plugins: [{
      name: 'refuse-node',
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => {
          const bare = args.path.replace(/^node:/, '');
          if (args.path.startsWith('node:') || NODE_ONLY.has(bare) || NODE_ONLY.has(args.path)) {
            offenders.push(`${args.importer.replace(ROOT, '')} -> ${args.path}`);
            return { path: args.path, external: true };
          }
          return undefined;
        });
      },
    }],
  });
  return { offenders, result };
}

test('the browser entry bundles with no Node import, onnxruntime-web inside, and its size is reported', async () => {
  const { offenders, result } = await bundle('src/browser.ts');
  assert.deepEqual(offenders, [], `Node-only imports in the browser build:\n${offenders.join('\n')}`);
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((i) => i.includes('node_modules/onnxruntime-web/')), 'the #ort import resolves to onnxruntime-web');
  assert.ok(!inputs.some((i) => /onnxruntime-node|@node-rs|src\/(cli|serving)\//.test(i)), 'no Node-only package or layer');
  // Of xiangqi only the rules and the player (xiangqi/browser.ts): no corpus, training, matches or servers.
  const xiangqi = inputs.filter((i) => i.startsWith('src/xiangqi/')).map((i) => i.slice('src/xiangqi/'.length)).sort();
  assert.deepEqual(xiangqi.filter((f) => /^(corpus|pgn|tar|big5hkscs|perft)\.ts$|^player\/(train|server|uci|match|synthetic|terminal)\.ts$/.test(f)), [], `Node-side xiangqi modules in the browser build: ${xiangqi}`);
  const out = Object.values(result.metafile.outputs)[0]!;
  const ours = Object.entries(out.inputs).filter(([f]) => f.startsWith('src/')).reduce((s, [, v]) => s + v.bytesInOutput, 0);
  const size = result.outputFiles[0]!.contents.length;
  console.log(`browser bundle (minified ESM): ${(size / 1024).toFixed(0)} KiB in all, bert4ts ${(ours / 1024).toFixed(0)} KiB, onnxruntime-web's JS the rest (its .wasm files are fetched apart)`);
  assert.ok(size < 2_000_000, `bundle grew to ${size} bytes`);
});

test('the check catches Node imports: the Node entry (src/index.ts) is refused, naming the importers', async () => {
  const { offenders } = await bundle('src/index.ts');
  assert.ok(offenders.some((o) => /-> onnxruntime-node$/.test(o) || /-> node:/.test(o)), offenders.join('\n'));
  assert.ok(offenders.some((o) => o.startsWith('src/cli/') || o.startsWith('src/xiangqi/') || o.startsWith('src/serving/')), offenders.join('\n'));
});
