/**
 * The library in real Chromium (Debian's, headless; the playground's page server, cross-origin isolated),
 * on WebAssembly with 1 and 2 threads: model load, a BERT forward, generation ms/token and one training
 * step, plus the browser bundle's size. Each thread count gets a fresh page (ORT fixes its thread count
 * when its WebAssembly starts).
 *   nice -n 10 npm run bench -- browser [--threads 1,2] [--reps 5]
 * Models: models/chinese-small (BERT 4x256, fp16 file) for load, forward and the classifier's training
 * step (batch 16 x 48 tokens, as the playground's fine-tuning demo); models/tang-poems (GPT-2 3x256) for
 * generation (greedy, 32 new tokens, KV cache). Medians over --reps runs after one warm-up (which builds
 * the session). transformers.js is not compared here.
 */
import { parseArgs } from 'node:util';
import { chromiumAbsent, launchChromium, startPageServer } from '../test/browser/harness.ts';

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
  for (let i = 0; i < ${reps}; i++) fw.push(await time(() => model.predict({ input_ids: [ids] })));
  out.forwardMs = median(fw);
  const poems = await b.loadModel('/models/tang-poems/', { cache: false });
  const { cls, sep } = poems.tokenizer.specialTokens;
  const prompt = [cls.id, ...poems.tokenizer.encode('春夜：', undefined, { addSpecialTokens: false }).ids];
  const lm = b.decoderFor(poems);
  const opts = { maxNewTokens: 32, minNewTokens: 32, endIds: [sep.id] };
  await b.greedy(lm, [prompt], opts);
  const gen = [];
  for (let i = 0; i < ${reps}; i++) gen.push((await time(() => b.greedy(lm, [prompt], opts))) / 32);
  out.generationMsPerToken = median(gen);
  const data = await (await fetch('/playground/data/sentiment.json')).json();
  const { createFineTune } = await import('/playground/finetune.js');
  const ft = await createFineTune(b, '/models/chinese-small/', data);
  out.trainFirstStepMs = await time(() => ft.step());
  const st = [];
  for (let i = 0; i < ${reps}; i++) st.push(await time(() => ft.step()));
  out.trainStepMs = median(st);
  const backend = await b.getBackend();
  out.threads = backend.ort.env.wasm.numThreads;
  out.providers = backend.executionProviders;
  out.isolated = crossOriginIsolated;
  return out;
})()`;

const server = await startPageServer(1);
const rows: Record<string, unknown>[] = [];
try {
  const bundle = await fetch(server.base + '/lib/bert4ts.js');
  const bundleBytes = (await bundle.arrayBuffer()).byteLength;
  const wasm = await fetch(server.base + '/lib/ort-wasm-simd-threaded.jsep.wasm');
  const wasmBytes = (await wasm.arrayBuffer()).byteLength;
  console.log(`bundle /lib/bert4ts.js (minified, onnxruntime-web's JS inside): ${(bundleBytes / 1024).toFixed(0)} KiB; onnxruntime-web's .wasm: ${(wasmBytes / 1048576).toFixed(1)} MiB`);
  for (const threads of threadCounts) {
    const { browser, cleanup } = await launchChromium();
    try {
      const page = await browser.newPage();
      // The playground page for its headers (cross-origin isolated), without its own script.
      await page.route('**/playground/app.js', (r) => r.fulfill({ contentType: 'text/javascript', body: '' }));
      await page.goto(server.base + '/playground/index.html');
      const r = await page.evaluate(inPage(threads, reps)) as Record<string, number | boolean | string[]>;
      rows.push(r);
      console.log(`${r.threads} thread(s) [${r.providers}], isolated ${r.isolated}: load chinese-small ${(r.loadMs as number).toFixed(0)} ms; BERT forward 1x64 ${(r.forwardMs as number).toFixed(1)} ms (first ${(r.forwardFirstMs as number).toFixed(0)} ms); `
        + `GPT-2 greedy ${(r.generationMsPerToken as number).toFixed(1)} ms/token; training step 16x48 ${(r.trainStepMs as number).toFixed(0)} ms (first ${(r.trainFirstStepMs as number).toFixed(0)} ms)`);
    } finally {
      await cleanup();
    }
  }
  console.log(JSON.stringify({ bench: 'browser', bundleBytes, wasmBytes, reps, rows }));
} finally {
  await server.close();
}
