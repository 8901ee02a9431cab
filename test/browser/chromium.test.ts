// The browser build in real Chromium (Debian's, via playwright-core; skips without it): src/browser.ts
// bundled by esbuild as a user's bundler would, served cross-origin isolated (threaded WebAssembly).
// In the page: load a saved model directory by URL (files cached with the Cache API), tokenize,
// predict, take training steps; the results must equal Node's for the same model and inputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { buildModel } from '../../src/models/build.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { Trainer } from '../../src/training/trainer.ts';
import { adam } from '../../src/training/optimizers.ts';
import { int64 } from '../../src/data/padding.ts';
import { chromiumAbsent, launchChromium } from './harness.ts';

const skip = chromiumAbsent;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ORT_DIST = join(ROOT, 'node_modules/onnxruntime-web/dist');

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', '##s', '你', '好', '世', '界'];
const CONFIG = { model_type: 'bert', vocab_size: VOCAB.length, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32 };
const TEXT = 'hello 你好 worlds';

let tmp = '', server: Server, base = '';
before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'bert4ts-browser-'));
  await esbuild.build({ entryPoints: [join(ROOT, 'src/browser.ts')], bundle: true, platform: 'browser', format: 'esm', outfile: join(tmp, 'bert4ts.js'), logLevel: 'silent' });
  const model = buildModel(CONFIG, { application: 'mlm', seed: 5, dropoutRate: 0, attentionDropoutRate: 0, tokenizer: WordPieceTokenizer.fromVocabText(VOCAB.join('\n')) });
  model.save(join(tmp, 'model'));
  const types: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };
  server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)).replace(/^\/+/, '');
    // onnxruntime-web fetches its .wasm beside the script that imported it: the bundle.
    const file = path.startsWith('ort-wasm') ? join(ORT_DIST, path) : join(tmp, path || 'index.html');
    if (path === 'index.html' || path === '') {
      res.writeHead(200, { 'content-type': 'text/html', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }).end('<!doctype html><title>bert4ts</title>');
      return;
    }
    if (!file.startsWith(tmp) && !file.startsWith(ORT_DIST) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin',
    }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  if (skip) return;
  await new Promise((r) => server.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

const launch = launchChromium;

test('in Chromium: loadModel by URL, tokenize, predict and train equal Node; Cache API keeps the files; Node-only parts say so', { skip, timeout: 300_000 }, async () => {
  // Node's answers for the same directory.
  const nodeModel = buildModel(join(tmp, 'model'), { dropoutRate: 0, attentionDropoutRate: 0 });
  const enc = (await loadTokenizer(join(tmp, 'model'))).encode(TEXT);
  const nodeLogits = Array.from((await nodeModel.predict({ input_ids: [enc.ids] })).logits!.data as Float32Array);
  const labels = enc.ids.map((id, i) => (i === 2 ? id : -100));
  const trainer = await Trainer.create({ store: nodeModel.store, loss: (s) => nodeModel.loss(s), optimizer: adam(1e-2) });
  const nodeLosses: number[] = [];
  for (let i = 0; i < 3; i++) nodeLosses.push((await trainer.trainStep({ input_ids: int64([enc.ids]), labels: int64([labels]) })).loss);

  const { browser, cleanup } = await launch();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/index.html');
    // A string, not a function: tsx's name-keeping helpers do not exist in the page.
    const r = await page.evaluate(`(async () => {
      const text = ${JSON.stringify(TEXT)}, labels = ${JSON.stringify(labels)};
      window.step = 'import';
      const b = await import('/bert4ts.js');
      const t0 = performance.now();
      window.step = 'load';
      const model = await b.loadModel('/model/', { dropoutRate: 0, attentionDropoutRate: 0 });
      const enc = model.tokenizer.encode(text);
      window.step = 'predict';
      const { logits } = await model.predict({ input_ids: [enc.ids] });
      const backend = await b.getBackend();
      window.step = 'train';
      const trainer = await b.Trainer.create({ store: model.store, loss: (s) => model.loss(s), optimizer: b.adam(1e-2) });
      const losses = [];
      for (let i = 0; i < 3; i++) losses.push((await trainer.trainStep({ input_ids: b.int64([enc.ids]), labels: b.int64([labels]) })).loss);
      window.step = 'done';
      const cached = (await (await caches.open('bert4ts')).keys()).map((k) => new URL(k.url).pathname).sort();
      const refusals = [];
      try { b.buildModel('/model/config.json'); } catch (e) { refusals.push(e.name + ': ' + e.message); }
      try { await b.jiebaSegmenter(); } catch (e) { refusals.push(e.message); }
      return {
        ms: performance.now() - t0, isolated: crossOriginIsolated, backend: backend.name, providers: backend.executionProviders,
        threads: backend.ort.env.wasm.numThreads, tokens: enc.tokens, ids: enc.ids, offsets: enc.offsets,
        logits: Array.from(logits.data), losses, cached, refusals,
      };
    })()`) as { ms: number; isolated: boolean; backend: string; providers: string[]; threads: number; tokens: string[]; ids: number[]; offsets: [number, number][]; logits: number[]; losses: number[]; cached: string[]; refusals: string[] };
    console.log(`chromium: ${r.backend} ${JSON.stringify(r.providers)}, ${r.threads} threads (crossOriginIsolated ${r.isolated}); load + predict + 3 training steps ${r.ms.toFixed(0)} ms`);
    assert.deepEqual(errors, []);
    assert.equal(r.backend, 'onnxruntime-web');
    assert.ok(r.isolated && r.threads >= 2, `threaded WebAssembly when cross-origin isolated (threads ${r.threads})`);
    assert.deepEqual(r.tokens, enc.tokens);
    assert.deepEqual(r.ids, enc.ids);
    assert.deepEqual(r.offsets, enc.offsets);
    assert.equal(r.logits.length, nodeLogits.length);
    r.logits.forEach((v, i) => assert.ok(Math.abs(v - nodeLogits[i]!) < 1e-4, `logit ${i}: browser ${v} vs node ${nodeLogits[i]}`));
    r.losses.forEach((v, i) => assert.ok(Math.abs(v - nodeLosses[i]!) < 1e-4, `training loss ${i}: browser ${v} vs node ${nodeLosses[i]}`));
    assert.ok(r.losses[2]! < r.losses[0]!, `the loss falls: ${r.losses}`);
    for (const f of ['/model/config.json', '/model/model.safetensors', '/model/vocab.txt']) assert.ok(r.cached.includes(f), `${f} cached: ${r.cached}`);
    assert.match(r.refusals[0]!, /^NodeOnlyError: node:fs is not available here/);
    assert.match(r.refusals[1]!, /jieba.*cannot run in a browser/);
  } finally {
    await cleanup();
  }
});
