/**
 * The library in real Chromium (Debian's, headless; the playground's page server, cross-origin isolated),
 * on WebAssembly with 1 and 2 threads: model load, a BERT forward, generation ms/token and one training
 * step, plus the browser bundle's size. Each thread count gets a fresh page (ORT fixes its thread count
 * when its WebAssembly starts).
 *   nice -n 10 npm run bench -- browser [--threads 1,2] [--reps 5]
 * Models: models/chinese-small (BERT 4x256, fp16 file) for load, forward and the classifier's training
 * step (batch 16 x 48 tokens, as the playground's fine-tuning demo); models/tang-poems (GPT-2 3x256) for
 * generation (greedy, 32 new tokens, KV cache). Medians over --reps runs after one warm-up (which builds
 * the session).
 * Side by side, in the same browser, at the same thread counts, on the same shapes, weights and inputs:
 * transformers.js (bench/transformersjs: `npm --prefix bench/transformersjs ci`), its self-contained browser
 * build (dist/transformers.min.js, onnxruntime-web inside) and its onnxruntime-web's .wasm served by the page
 * server under /tjs/, local files only (allowRemoteModels off, localModelPath /tjs/models/, no browser cache).
 * Its models are ours, exported as it loads them (bench/_transformersjs.ts; fp32 onnx/model.onnx + config.json):
 * chinese-small with its MLM head through AutoModelForMaskedLM, tang-poems through AutoModelForCausalLM and
 * generate({ do_sample: false }) with min/max_new_tokens 32 and eos_token_id our end id ([SEP], held back until 32 tokens on both sides). Per thread
 * count one fresh browser: bert4ts's measurements, then transformers.js's in the same page (its own onnxruntime-web
 * instance), then both libraries' forward and generation alternated for 2 x reps + 1 rounds: the table's forward and
 * generation figures are those interleaved medians (the machine is shared). transformers.js cannot train: no training step on its side. Its load is from_pretrained, which also
 * builds the ORT session; ours builds the session at the first forward, so 'load + first forward' is the like-for-like sum.
 */
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { buildModel } from '../src/models/build.ts';
import { Player } from '../src/xiangqi/player/player.ts';
import { createPlayerServer } from '../src/xiangqi/player/server.ts';
import { chromiumAbsent, launchChromium } from '../test/browser/harness.ts';
import { tinyModel } from '../test/xiangqi-player/fixtures.ts';
import { tjsBrowserFiles, tjsEncoderGraph, tjsGpt2Graph, writeTjsDir } from './_transformersjs.ts';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '1,2' }, reps: { type: 'string', default: '5' } } });
const threadCounts = values.threads!.split(',').map(Number);
const reps = Number(values.reps);
if (chromiumAbsent) throw new Error(chromiumAbsent);
if (threadCounts.some((t) => !Number.isInteger(t) || t < 1) || !Number.isInteger(reps) || reps < 1) throw new Error('--threads takes positive integers (e.g. 1,2), --reps a positive integer');

// Runs in the page: a string, so no tsx helper leaks into it.
const inPage = (threads: number, reps: number) => `(async () => {
  const b = await import('/lib/bert4ts.js');
  b.configureWebBackend({ executionProviders: ['wasm'], numThreads: ${threads} });
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => { const t = performance.now(); await f(); return performance.now() - t; };
  const out = {};
  let model;
  out.loadMs = await time(async () => { model = await b.loadModel('/models/chinese-small/', { cache: false }); });
  const ids = [model.tokenizer.specialTokens.cls.id, ...Array.from({ length: 62 }, (_, i) => 700 + i), model.tokenizer.specialTokens.sep.id];
  out.forwardFirstMs = await time(() => model.predict({ input_ids: [ids] }));
  const fw = [];
  let logits;
  for (let i = 0; i < ${reps}; i++) fw.push(await time(async () => { logits = (await model.predict({ input_ids: [ids] })).logits; }));
  out.forwardMs = median(fw);
  out.ids = ids;
  out.logitsHead = Array.from(logits.data.subarray(0, 4096));
  const poems = await b.loadModel('/models/tang-poems/', { cache: false });
  const { cls, sep } = poems.tokenizer.specialTokens;
  const prompt = [cls.id, ...poems.tokenizer.encode('春夜：', undefined, { addSpecialTokens: false }).ids];
  const lm = b.decoderFor(poems);
  const opts = { maxNewTokens: 32, minNewTokens: 32, endIds: [sep.id] };
  await b.greedy(lm, [prompt], opts);
  const gen = [];
  let tokens;
  for (let i = 0; i < ${reps}; i++) gen.push((await time(async () => { tokens = (await b.greedy(lm, [prompt], opts))[0]; })) / 32);
  out.generationMsPerToken = median(gen);
  out.prompt = prompt;
  out.endId = sep.id;
  out.tokens = tokens;
  const data = await (await fetch('/playground/data/sentiment.json')).json();
  const { createFineTune } = await import('/playground/finetune.js');
  const ft = await createFineTune(b, '/models/chinese-small/', data);
  out.trainFirstStepMs = await time(() => ft.step());
  const st = [];
  for (let i = 0; i < ${reps}; i++) st.push(await time(() => ft.step()));
  out.trainStepMs = median(st);
  globalThis.__ours = { forward: () => model.predict({ input_ids: [ids] }), generate: () => b.greedy(lm, [prompt], opts) };
  const backend = await b.getBackend();
  out.threads = backend.ort.env.wasm.numThreads;
  out.providers = backend.executionProviders;
  out.isolated = crossOriginIsolated;
  return out;
})()`;

// transformers.js in the page, on the inputs our run used.
const inPageTjs = (threads: number, reps: number, ids: number[], prompt: number[], endId: number) => `(async () => {
  const t = await import('/tjs/lib/transformers.min.js');
  const env = t.env;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = '/tjs/models/';
  env.useBrowserCache = false;
  env.backends.onnx.wasm.wasmPaths = '/tjs/ort/';
  env.backends.onnx.wasm.numThreads = ${threads};
  env.backends.onnx.wasm.proxy = false;
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => { const t0 = performance.now(); await f(); return performance.now() - t0; };
  const i64 = (xs) => new t.Tensor('int64', BigInt64Array.from(xs.map(BigInt)), [1, xs.length]);
  const out = { version: t.env.version };
  let model;
  out.loadMs = await time(async () => { model = await t.AutoModelForMaskedLM.from_pretrained('chinese-small', { dtype: 'fp32', device: 'wasm' }); });
  const ids = ${JSON.stringify(ids)};
  const feeds = { input_ids: i64(ids), attention_mask: i64(ids.map(() => 1)), token_type_ids: i64(ids.map(() => 0)) };
  out.forwardFirstMs = await time(() => model(feeds));
  const fw = [];
  let logits;
  for (let i = 0; i < ${reps}; i++) fw.push(await time(async () => { logits = (await model(feeds)).logits; }));
  out.forwardMs = median(fw);
  out.logitsHead = Array.from(logits.data.subarray(0, 4096));
  const lm = await t.AutoModelForCausalLM.from_pretrained('tang-poems', { dtype: 'fp32', device: 'wasm' });
  const prompt = ${JSON.stringify(prompt)};
  const gopts = { input_ids: i64(prompt), attention_mask: i64(prompt.map(() => 1)), max_new_tokens: 32, min_new_tokens: 32, eos_token_id: ${endId}, do_sample: false };
  await lm.generate(gopts);
  const gen = [];
  let tokens;
  for (let i = 0; i < ${reps}; i++) gen.push((await time(async () => { tokens = Array.from((await lm.generate(gopts)).data, Number).slice(prompt.length); })) / 32);
  out.generationMsPerToken = median(gen);
  out.tokens = tokens;
  globalThis.__tjs = { forward: () => model(feeds), generate: () => lm.generate(gopts) };
  out.threads = env.backends.onnx.wasm.numThreads;
  out.isolated = crossOriginIsolated;
  return out;
})()`;

// Then, in the same page, both libraries' forward and generation alternated round by round, so that the
// machine's background load hits each alike (the figures the table shows).
const interleaved = (rounds: number) => `(async () => {
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => { const t0 = performance.now(); await f(); return performance.now() - t0; };
  const k = { oursForward: [], tjsForward: [], oursGen: [], tjsGen: [] };
  for (let i = 0; i < ${rounds}; i++) {
    k.oursForward.push(await time(__ours.forward));
    k.tjsForward.push(await time(__tjs.forward));
    k.oursGen.push((await time(__ours.generate)) / 32);
    k.tjsGen.push((await time(__tjs.generate)) / 32);
  }
  return Object.fromEntries(Object.entries(k).map(([n, v]) => [n, median(v)]));
})()`;

// transformers.js's files and its models (ours, exported as it loads them), served under /tjs/ by the page server.
const tjs = tjsBrowserFiles();
const work = mkdtempSync(join(tmpdir(), 'bert4ts-browser-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
if (tjs) {
  const hfConfig = (dir: string) => { const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')); delete c.bert4ts; return c; };
  for (const [name, graph] of [['chinese-small', tjsEncoderGraph], ['tang-poems', tjsGpt2Graph]] as const) {
    const dir = new URL(`../models/${name}`, import.meta.url).pathname;
    writeTjsDir(work, name, hfConfig(dir), graph(buildModel(dir), name), 'model.onnx');
  }
} else {
  console.log('transformers.js side skipped: not installed. Install it with: npm --prefix bench/transformersjs ci');
}
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream' };
function serveTjs(req: IncomingMessage, res: ServerResponse): boolean {
  const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  if (!tjs || !path.startsWith('/tjs/')) return false;
  const [, , area, ...rest] = path.split('/');
  const rel = normalize(rest.join('/'));
  const roots: Record<string, string[]> = { lib: [tjs.dist], ort: [tjs.dist, tjs.ortDist], models: [work] };
  const file = rel.startsWith('..') ? undefined : (roots[area!] ?? []).map((r) => join(r, rel)).find((f) => existsSync(f) && statSync(f).isFile());
  if (!file) { res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found'); return true; }
  res.writeHead(200, {
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size,
    'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Resource-Policy': 'same-origin', 'Cache-Control': 'no-store',
  });
  createReadStream(file).pipe(res);
  return true;
}
// The page server (as test/browser/harness.ts starts it), with /tjs/ answered before its own routes.
const player = await Player.create(tinyModel(1));
const http = createPlayerServer({ player });
const own = http.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
http.removeAllListeners('request');
http.on('request', (req: IncomingMessage, res: ServerResponse) => { if (!serveTjs(req, res)) for (const f of own) f.call(http, req, res); });
await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
const server = {
  base: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
  close: async () => { await new Promise((r) => http.close(r)); await player.release(); },
};
type Row = Record<string, any>;
const rows: { threads: number; ours: Row; tjs: Row | null; logitsCosine: number | null; sameTokens: number | null }[] = [];
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const cosine = (a: number[], b: number[]) => { let ab = 0, aa = 0, bb = 0; a.forEach((x, i) => { ab += x * b[i]!; aa += x * x; bb += b[i]! * b[i]!; }); return ab / Math.sqrt(aa * bb); };
/**
 * One fresh browser on the playground page (for its cross-origin isolation headers, without its own script);
 * the scripts run one after the other in that page; `after` is called with each result before the next script is made.
 */
async function inFreshPage(scripts: ((prev: Row[]) => string)[], after: (r: Row, i: number) => void): Promise<Row[]> {
  const { browser, cleanup } = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.route('**/playground/app.js', (r) => r.fulfill({ contentType: 'text/javascript', body: '' }));
    await page.goto(server.base + '/playground/index.html');
    const out: Row[] = [];
    for (const [i, script] of scripts.entries()) { out.push(await page.evaluate(script(out)) as Row); after(out[i]!, i); }
    return out;
  } finally {
    await cleanup();
  }
}
const rounds = 2 * reps + 1;
try {
  console.log(`load average at start: ${load()}`);
  const size = async (url: string) => (await (await fetch(server.base + url)).arrayBuffer()).byteLength;
  const bundleBytes = await size('/lib/bert4ts.js');
  const wasmBytes = await size('/lib/ort-wasm-simd-threaded.jsep.wasm');
  const tjsBundleBytes = tjs ? await size('/tjs/lib/transformers.min.js') : null;
  const tjsWasmBytes = tjs ? await size('/tjs/ort/ort-wasm-simd-threaded.jsep.wasm') : null;
  console.log(`bundle /lib/bert4ts.js (minified, onnxruntime-web's JS inside): ${(bundleBytes / 1024).toFixed(0)} KiB; onnxruntime-web's .wasm: ${(wasmBytes / 1048576).toFixed(1)} MiB`);
  if (tjs) console.log(`transformers.js ${tjs.version} dist/transformers.min.js (minified, onnxruntime-web's JS inside): ${(tjsBundleBytes! / 1024).toFixed(0)} KiB; its onnxruntime-web's .wasm: ${(tjsWasmBytes! / 1048576).toFixed(1)} MiB`);
  for (const threads of threadCounts) {
    const report = (x: Row, i: number) => {
      if (i === 0) console.log(`bert4ts ${x.threads} thread(s) [${x.providers}], isolated ${x.isolated}: load chinese-small ${x.loadMs.toFixed(0)} ms; BERT forward 1x64 ${x.forwardMs.toFixed(1)} ms (first ${x.forwardFirstMs.toFixed(0)} ms); `
        + `GPT-2 greedy ${x.generationMsPerToken.toFixed(1)} ms/token; training step 16x48 ${x.trainStepMs.toFixed(0)} ms (first ${x.trainFirstStepMs.toFixed(0)} ms)`);
      if (i === 1) console.log(`transformers.js ${x.threads} thread(s), isolated ${x.isolated}, same page: load chinese-small ${x.loadMs.toFixed(0)} ms; BERT forward 1x64 ${x.forwardMs.toFixed(1)} ms (first ${x.forwardFirstMs.toFixed(0)} ms); `
        + `GPT-2 greedy ${x.generationMsPerToken.toFixed(1)} ms/token; training: cannot train`);
      if (i === 2) console.log(`interleaved, ${rounds} rounds: BERT forward 1x64 bert4ts ${x.oursForward.toFixed(1)} ms, transformers.js ${x.tjsForward.toFixed(1)} ms; GPT-2 greedy bert4ts ${x.oursGen.toFixed(1)}, transformers.js ${x.tjsGen.toFixed(1)} ms/token`);
    };
    const results = await inFreshPage(tjs ? [
      () => inPage(threads, reps),
      ([o]) => inPageTjs(threads, reps, o!.ids, o!.prompt, o!.endId),
      () => interleaved(rounds),
    ] : [() => inPage(threads, reps)], report);
    const [r, t = null, both = null] = results as [Row, Row?, Row?];
    if (both) {
      // The table's forward and generation figures: the interleaved medians.
      r.forwardMsSeparate = r.forwardMs; r.generationMsPerTokenSeparate = r.generationMsPerToken;
      t!.forwardMsSeparate = t!.forwardMs; t!.generationMsPerTokenSeparate = t!.generationMsPerToken;
      r.forwardMs = both.oursForward; r.generationMsPerToken = both.oursGen;
      t!.forwardMs = both.tjsForward; t!.generationMsPerToken = both.tjsGen;
    }
    const logitsCosine = t ? cosine(r.logitsHead, t.logitsHead) : null;
    const sameTokens = t ? (r.tokens as number[]).filter((x, i) => x === t!.tokens[i]).length / r.tokens.length : null;
    if (t && sameTokens !== 1) console.log(`  greedy tokens differ: bert4ts ${JSON.stringify(r.tokens)}, transformers.js ${JSON.stringify(t.tokens)}`);
    for (const x of [r, t]) if (x) { delete x.logitsHead; delete x.ids; delete x.prompt; delete x.tokens; delete x.endId; }
    rows.push({ threads, ours: r, tjs: t, logitsCosine, sameTokens });
    console.log(`  (load average ${load()})`);
  }
  // Side by side, ratio ours / theirs (below 1: bert4ts faster or smaller).
  const fmt = (x: number | undefined, d = 1) => (x === undefined ? '—' : x.toFixed(d));
  const line = (cells: string[]) => console.log('| ' + cells.join(' | ') + ' |');
  console.log(`\nbert4ts vs transformers.js ${tjs?.version ?? '(not installed)'}, Chromium, WebAssembly; loads and training: median of ${reps} (load: one); forward and generation: median of ${rounds} interleaved rounds; ratio = bert4ts / transformers.js`);
  line(['threads', 'measurement', 'bert4ts', 'transformers.js', 'ratio']);
  line(['---', '---', '---:', '---:', '---:']);
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined ? (a / b).toFixed(2) : '—');
  for (const { threads, ours, tjs: t } of rows) {
    const metrics: [string, number, number | undefined, number][] = [
      ['load chinese-small (ms)', ours.loadMs, t?.loadMs, 0],
      ['load + first forward (ms)', ours.loadMs + ours.forwardFirstMs, t ? t.loadMs + t.forwardFirstMs : undefined, 0],
      ['BERT 4x256 forward 1x64 (ms)', ours.forwardMs, t?.forwardMs, 1],
      ['GPT-2 3x256 greedy, 32 tokens (ms/token)', ours.generationMsPerToken, t?.generationMsPerToken, 1],
    ];
    for (const [name, a, b, d] of metrics) line([String(threads), name, fmt(a, d), fmt(b, d), ratio(a, b)]);
    line([String(threads), 'training step 16x48 (ms)', fmt(ours.trainStepMs, 0), 'cannot train', '—']);
  }
  if (tjs) {
    line(['—', 'bundle JS, minified (KiB)', (bundleBytes / 1024).toFixed(0), (tjsBundleBytes! / 1024).toFixed(0), ratio(bundleBytes, tjsBundleBytes!)]);
    line(['—', 'onnxruntime-web .wasm (MiB)', (wasmBytes / 1048576).toFixed(1), (tjsWasmBytes! / 1048576).toFixed(1), ratio(wasmBytes, tjsWasmBytes!)]);
    for (const x of rows) console.log(`${x.threads} thread(s): same inputs, same weights: logits cosine (first 4096 values) ${x.logitsCosine!.toFixed(6)}; greedy tokens the same ${(100 * x.sameTokens!).toFixed(0)}%`);
  }
  console.log(`load average at end: ${load()}`);
  console.log(JSON.stringify({ bench: 'browser', bundleBytes, wasmBytes, tjsVersion: tjs?.version ?? null, tjsBundleBytes, tjsWasmBytes, reps, rows, loadAverageEnd: load() }));
} finally {
  await server.close();
}
