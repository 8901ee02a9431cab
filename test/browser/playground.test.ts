// The playground page (web/playground/, served by the `bert4ts serve` page server) in real Chromium:
// the tokenizer explorer, fill-mask and fine-tuning run the library in the page; their tokens, offsets,
// top predictions, training losses and trained predictions must equal Node's for the shipped
// models/chinese-small. Skips without Debian's chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/build.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { encodeWithMask } from '../../src/cli/encode.ts';
import * as lib from '../../src/index.ts';
import { createFineTune, type FineTuneData } from '../../web/playground/finetune.js';
import { chromiumAbsent, launchChromium, startPageServer } from './harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL_DIR = join(ROOT, 'models/chinese-small');
const skip = chromiumAbsent || (!existsSync(join(MODEL_DIR, 'model.safetensors')) ? `${MODEL_DIR} is absent` : false);

let pages: Awaited<ReturnType<typeof startPageServer>>, base = '';
before(async () => {
  if (skip) return;
  pages = await startPageServer(3);
  base = pages.base;
});
after(async () => { if (!skip) await pages.close(); });

/** The playground in a new page, once it says it is ready; page errors are collected. */
async function openPlayground(browser: Awaited<ReturnType<typeof launchChromium>>['browser']) {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base + '/playground/');
  await page.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
  return { page, errors };
}

function top5(row: Float32Array): { id: number; p: number }[] {
  const max = Math.max(...row);
  const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
  return [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, 5).map((id) => ({ id, p: Math.exp(row[id]! - max) / sum }));
}

test('playground in Chromium: tokenizer explorer and fill-mask equal Node (tokens, offsets, top-5 and probabilities)', { skip, timeout: 300_000 }, async () => {
  const TEXT = '今天天气很好，我们去公园散步。Hello!';
  const MASKED = '中国的首都是北[MASK]。';
  const tokenizer = await loadTokenizer(MODEL_DIR);
  const want = tokenizer.encode(TEXT);
  const model = buildModel(MODEL_DIR);
  const masked = encodeWithMask(tokenizer, MASKED);
  const pos = masked.ids.indexOf(tokenizer.specialTokens.mask!.id);
  assert.ok(pos > 0);
  const { logits } = await model.predict({ input_ids: [masked.ids] });
  const V = logits!.shape[2]!;
  const wantTop = top5((logits!.data as Float32Array).subarray(pos * V, (pos + 1) * V));

  const { browser, cleanup } = await launchChromium();
  try {
    const { page, errors } = await openPlayground(browser);
    // The page server makes the playground cross-origin isolated: WebAssembly runs threaded.
    assert.equal(await page.evaluate('crossOriginIsolated'), true);
    assert.match((await page.textContent('#backend'))!, /[2-9]\d* WebAssembly thread/);

    await page.fill('#tok-text', TEXT);
    const tokens = await page.$$eval('#tok-tokens li', (lis) => lis.map((li) => ({
      token: li.firstChild!.textContent, id: Number((li as HTMLElement).dataset.id), start: Number((li as HTMLElement).dataset.start), end: Number((li as HTMLElement).dataset.end),
    })));
    assert.deepEqual(tokens.map((t) => t.token), want.tokens);
    assert.deepEqual(tokens.map((t) => t.id), want.ids);
    assert.deepEqual(tokens.map((t) => [t.start, t.end]), want.offsets);
    // The highlighted spans are the tokens' text.
    const spans = await page.$$eval('#tok-view span[data-token]', (els) => els.map((e) => [Number((e as HTMLElement).dataset.token), e.textContent]));
    for (const [i, text] of spans) assert.equal(text, TEXT.slice(...want.offsets[i as number]!));
    assert.ok(spans.length >= want.ids.length - 2);

    await page.fill('#fm-text', MASKED);
    await page.click('#fm-run');
    await page.waitForSelector(`#fm-results .mask[data-pos="${pos}"] li`);
    const got = await page.$$eval('#fm-results .mask li', (lis) => lis.map((li) => ({ id: Number((li as HTMLElement).dataset.id), p: Number((li as HTMLElement).dataset.p) })));
    assert.deepEqual(got.map((g) => g.id), wantTop.map((w) => w.id), `top-5 in the page ${got.map((g) => tokenizer.idToToken(g.id))} vs node ${wantTop.map((w) => tokenizer.idToToken(w.id))}`);
    got.forEach((g, i) => assert.ok(Math.abs(g.p - wantTop[i]!.p) < 1e-4, `p ${g.p} vs ${wantTop[i]!.p}`));
    console.log(`fill-mask '${MASKED}': ${wantTop.map((w) => `${tokenizer.idToToken(w.id)} ${(100 * w.p).toFixed(1)}%`).join(', ')}; page status: ${await page.textContent('#fm-status')}`);
    assert.deepEqual(errors, []);
  } finally {
    await cleanup();
  }
});

test('playground in Chromium: fine-tuning in the page trains the classifier with Node\'s losses, then classifies typed text as Node does', { skip, timeout: 900_000 }, async () => {
  const K = 3, TEXT = '房间很干净，服务也很热情，下次还会再来。';
  const data = JSON.parse(readFileSync(join(ROOT, 'web/playground/data/sentiment.json'), 'utf8')) as FineTuneData;
  assert.equal(data.licence, 'Apache-2.0');
  const run = await createFineTune(lib, MODEL_DIR, data);
  const want: number[] = [];
  for (let i = 0; i < K; i++) want.push(await run.step());
  const [wantP] = await run.predict([TEXT]);

  const { browser, cleanup } = await launchChromium();
  try {
    const { page, errors } = await openPlayground(browser);
    await page.fill('#ft-steps', String(K));
    await page.click('#ft-train');
    await page.waitForSelector('body[data-ft="done"], body[data-ft="error"]', { timeout: 600_000 });
    assert.equal(await page.getAttribute('body', 'data-ft'), 'done', await page.textContent('#ft-status') ?? '');
    const losses = JSON.parse((await page.getAttribute('#ft-curve', 'data-losses'))!) as number[];
    assert.equal(await page.getAttribute('#ft-progress', 'value'), String(K));
    assert.equal(await page.locator('#ft-curve polyline').count(), 1);
    assert.equal(losses.length, K);
    losses.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-4, `training loss ${i}: page ${v} vs node ${want[i]}`));
    await page.fill('#ft-text', TEXT);
    await page.click('#ft-predict');
    await page.waitForSelector('#ft-result li[data-label="1"]');
    const got = await page.$$eval('#ft-result li', (lis) => lis.map((li) => Number((li as HTMLElement).dataset.p)));
    got.forEach((p, i) => assert.ok(Math.abs(p - wantP![i]!) < 1e-4, `p(${data.labels[i]}) page ${p} vs node ${wantP![i]}`));
    console.log(`fine-tune: ${K} steps, losses ${losses.map((v) => v.toFixed(5)).join(', ')} (node ${want.map((v) => v.toFixed(5)).join(', ')}); page: ${await page.textContent('#ft-status')}`);
    assert.deepEqual(errors, []);
  } finally {
    await cleanup();
  }
});

const POEM_DIR = join(ROOT, 'models/tang-poems');
const poemSkip = skip || (!existsSync(join(POEM_DIR, 'model.safetensors')) ? `${POEM_DIR} is absent` : false);

test('playground in Chromium: streaming generation from models/tang-poems gives Node\'s greedy and beam continuations', { skip: poemSkip, timeout: 600_000 }, async () => {
  const PROMPT = '春夜：', MAX = 24;
  const model = await lib.loadModel(POEM_DIR);
  const tok = model.tokenizer!, sep = tok.specialTokens.sep!.id;
  const prompt = [tok.specialTokens.cls!.id, ...tok.encode(PROMPT, undefined, { addSpecialTokens: false }).ids];
  const length = { maxNewTokens: MAX, minNewTokens: 10, endIds: [sep] }; // as the page decodes
  const [greedy] = await lib.greedy(lib.decoderFor(model), [prompt], length);
  const [[beam]] = await lib.beamSearch(lib.decoderFor(model), [prompt], { ...length, beamSize: 3 });

  const { browser, cleanup } = await launchChromium();
  try {
    const { page, errors } = await openPlayground(browser);
    const run = async (strategy: string, extra: Record<string, string> = {}) => {
      await page.fill('#gen-text', PROMPT);
      await page.selectOption('#gen-strategy', strategy);
      await page.fill('#gen-max', String(MAX));
      for (const [id, v] of Object.entries(extra)) await page.fill(id, v);
      await page.click('#gen-run');
      await page.waitForSelector('body[data-gen="done"], body[data-gen="error"]', { timeout: 300_000 });
      assert.equal(await page.getAttribute('body', 'data-gen'), 'done', await page.textContent('#gen-status') ?? '');
      const ids = JSON.parse((await page.getAttribute('#gen-output', 'data-ids'))!) as number[];
      const status = await page.textContent('#gen-status');
      await page.evaluate(() => { delete document.body.dataset.gen; });
      return { ids, text: await page.textContent('#gen-output'), status };
    };
    const g = await run('greedy');
    assert.deepEqual(g.ids, greedy, `greedy: page ${tok.decode(g.ids)} vs node ${tok.decode(greedy!)}`);
    assert.equal(g.text, PROMPT + tok.decode(greedy!.filter((id) => id !== sep)));
    const b = await run('beam', { '#gen-beams': '3' });
    assert.deepEqual(b.ids, beam!.ids, `beam: page ${tok.decode(b.ids)} vs node ${tok.decode(beam!.ids)}`);
    const s = await run('sample', { '#gen-seed': '7' });
    assert.ok(s.ids.length >= 10 && s.ids.length <= MAX);
    console.log(`generation '${PROMPT}': greedy ${g.text} [${g.status}]; beam 3 ${b.text}; sample ${s.text} [${s.status}]`);
    assert.deepEqual(errors, []);
  } finally {
    await cleanup();
  }
});
