// The playground: every demo runs the library itself in this page (the browser build at /lib/bert4ts.js,
// on onnxruntime-web). The server only serves files: the bundle and the model directory.
import * as lib from '/lib/bert4ts.js';
import { createFineTune } from './finetune.js';

const { loadModel, loadTokenizerFrom, fileSource, getBackend } = lib;

const MODEL_URL = '/models/chinese-small/';
const POEM_MODEL_URL = '/models/tang-poems/';
const MIN_POEM_TOKENS = 10;
const $ = (id) => document.getElementById(id);
const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function fail(el, e) {
  el.textContent = `error: ${e.message}`;
  el.classList.add('error');
  console.error(e);
}

// ---- tokenizer explorer --------------------------------------------------------------------------

let tokenizer = null;
let shipped = null;

function showTokens() {
  if (!tokenizer) return;
  const text = $('tok-text').value;
  const t0 = performance.now();
  const enc = tokenizer.encode(text);
  const ms = performance.now() - t0;
  const specials = new Set(Object.values(tokenizer.specialTokens).map((s) => s.id));
  // The text, each token's span highlighted (offsets are UTF-16 positions; specials have empty spans).
  let html = '', at = 0;
  enc.offsets.forEach(([s, e], i) => {
    if (e <= s || s < at) return;
    html += escapeHtml(text.slice(at, s));
    html += `<span data-token="${i}" class="c${i % 4}">${escapeHtml(text.slice(s, e))}</span>`;
    at = e;
  });
  $('tok-view').innerHTML = html + escapeHtml(text.slice(at));
  $('tok-tokens').innerHTML = enc.tokens.map((tok, i) =>
    `<li data-i="${i}" data-id="${enc.ids[i]}" data-start="${enc.offsets[i][0]}" data-end="${enc.offsets[i][1]}" class="${specials.has(enc.ids[i]) ? 'special' : ''}">${escapeHtml(tok)}<small>${enc.ids[i]}</small></li>`).join('');
  $('tok-status').textContent = `${tokenizer.kind}, ${tokenizer.vocabSize} tokens: ${enc.ids.length} tokens in ${ms.toFixed(1)} ms`;
  $('tok-status').classList.remove('error');
}

function highlight(i, on) {
  for (const el of document.querySelectorAll(`[data-token="${i}"], #tok-tokens li[data-i="${i}"]`)) el.classList.toggle('hi', on);
}
for (const [id, attr] of [['tok-view', 'token'], ['tok-tokens', 'i']]) {
  $(id).addEventListener('mouseover', (e) => { const i = e.target.closest(`[data-${attr}]`)?.dataset[attr]; if (i !== undefined) highlight(i, true); });
  $(id).addEventListener('mouseout', (e) => { const i = e.target.closest(`[data-${attr}]`)?.dataset[attr]; if (i !== undefined) highlight(i, false); });
}
$('tok-text').addEventListener('input', showTokens);
$('tok-files').addEventListener('change', async (e) => {
  $('tok-status').textContent = 'reading the picked files…';
  try {
    tokenizer = await loadTokenizerFrom(fileSource(e.target.files));
    showTokens();
  } catch (err) { fail($('tok-status'), err); }
});
$('tok-reset').addEventListener('click', () => { if (shipped) { tokenizer = shipped; showTokens(); } });

// ---- fill-mask -----------------------------------------------------------------------------------

let model = null;

function softmaxTop(row, k) {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const best = [];
  for (let i = 0; i < row.length; i++) {
    if (best.length < k || row[i] > row[best[best.length - 1]]) {
      best.push(i);
      best.sort((a, b) => row[b] - row[a]);
      if (best.length > k) best.pop();
    }
  }
  return best.map((id) => ({ id, p: Math.exp(row[id] - max) / sum }));
}

/** Encodes `text` keeping each literal [MASK] as the mask id (WordPiece alone splits it into '[', 'mask', ']'), as `bert4ts encode` does. */
function encodeWithMask(tok, text) {
  const mask = tok.specialTokens.mask;
  if (!mask || !text.includes(mask.token)) return tok.encode(text);
  const body = text.split(mask.token).flatMap((part, i) => [...(i > 0 ? [mask.id] : []), ...(part.trim() ? tok.encode(part, undefined, { addSpecialTokens: false }).ids : [])]);
  const { cls, sep } = tok.specialTokens;
  return { ids: tok.framing === 'bert' && cls && sep ? [cls.id, ...body, sep.id] : body };
}

async function fillMask() {
  const text = $('fm-text').value;
  const mask = model.tokenizer.specialTokens.mask?.id;
  const enc = encodeWithMask(model.tokenizer, text);
  const positions = enc.ids.flatMap((id, i) => (id === mask ? [i] : []));
  if (!positions.length) { $('fm-status').textContent = 'write [MASK] somewhere in the text'; return; }
  $('fm-run').disabled = true;
  const t0 = performance.now();
  try {
    const { logits } = await model.predict({ input_ids: [enc.ids] });
    const V = logits.shape[2];
    $('fm-results').innerHTML = positions.map((pos) => {
      const top = softmaxTop(logits.data.subarray(pos * V, (pos + 1) * V), 5);
      return `<div class="mask" data-pos="${pos}">[MASK] at token ${pos}:<ol>${top.map(({ id, p }) =>
        `<li data-id="${id}" data-p="${p}"><b>${escapeHtml(model.tokenizer.idToToken(id))}</b> ${(100 * p).toFixed(1)}%<span class="bar" style="width:${(200 * p).toFixed(0)}px"></span></li>`).join('')}</ol></div>`;
    }).join('');
    $('fm-status').textContent = `predicted in ${(performance.now() - t0).toFixed(0)} ms`;
    $('fm-status').classList.remove('error');
  } catch (e) { fail($('fm-status'), e); }
  $('fm-run').disabled = false;
}
$('fm-run').addEventListener('click', fillMask);
$('fm-text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && model) fillMask(); });

// ---- streaming generation ------------------------------------------------------------------------

let poemModel = null, stopGenerating = false;
const loadPoemModel = () => {
  poemModel ??= loadModel(POEM_MODEL_URL);
  poemModel.catch(() => { poemModel = null; });
  return poemModel;
};

/** The decoding options from the controls; a value out of range is an error naming the control. */
function generationOptions() {
  const num = (id, label, ok) => {
    const v = Number($(id).value);
    if (!ok(v)) throw new Error(`${label} is out of range: ${$(id).value}`);
    return v;
  };
  const strategy = $('gen-strategy').value;
  const o = { strategy, maxNewTokens: num('gen-max', 'max tokens', (v) => Number.isInteger(v) && v >= 1 && v <= 120) };
  // No [SEP] before a short line's worth of characters: a small model likes to end a poem at any '，'.
  o.minNewTokens = Math.min(MIN_POEM_TOKENS, o.maxNewTokens);
  if (strategy === 'sample') {
    o.temperature = num('gen-temp', 'temperature', (v) => v > 0 && v <= 10);
    o.topK = num('gen-topk', 'top-k', (v) => Number.isInteger(v) && v >= 0);
    o.topP = num('gen-topp', 'top-p', (v) => v > 0 && v <= 1);
    o.seed = num('gen-seed', 'seed', Number.isInteger);
  }
  if (strategy === 'beam') o.beamSize = num('gen-beams', 'beams', (v) => Number.isInteger(v) && v >= 1 && v <= 16);
  return o;
}

async function generate() {
  const text = $('gen-text').value;
  $('gen-status').classList.remove('error');
  let o;
  try { o = generationOptions(); } catch (e) { fail($('gen-status'), e); return; }
  $('gen-run').disabled = true;
  $('gen-stop').disabled = o.strategy === 'beam'; // a beam search answers once, at the end
  stopGenerating = false;
  document.body.dataset.gen = 'running';
  const out = $('gen-output');
  try {
    $('gen-status').textContent = 'loading models/tang-poems…';
    const model = await loadPoemModel();
    const tok = model.tokenizer, { cls, sep } = tok.specialTokens;
    const prompt = [cls.id, ...tok.encode(text, undefined, { addSpecialTokens: false }).ids];
    const show = (ids) => {
      out.innerHTML = `<span class="prompt">${escapeHtml(text)}</span>${escapeHtml(tok.decode(ids.filter((id) => id !== sep.id)))}`;
      out.dataset.ids = JSON.stringify(ids);
    };
    show([]);
    const lm = lib.decoderFor(model);
    const t0 = performance.now();
    let ids = [];
    if (o.strategy === 'beam') {
      $('gen-status').textContent = `beam search with ${o.beamSize} beams…`;
      const [[best]] = await lib.beamSearch(lm, [prompt], { beamSize: o.beamSize, maxNewTokens: o.maxNewTokens, minNewTokens: o.minNewTokens, endIds: [sep.id] });
      ids = best.ids;
      show(ids);
    } else {
      // Tokens appear as the decoder produces them (one KV-cached step each).
      for await (const id of lib.stream(lm, prompt, { ...o, endIds: [sep.id] })) {
        ids.push(id);
        show(ids);
        $('gen-status').textContent = `${ids.length} tokens, ${((performance.now() - t0) / ids.length).toFixed(0)} ms per token`;
        if (stopGenerating) break;
      }
    }
    const ms = performance.now() - t0;
    $('gen-status').textContent = `${o.strategy}: ${ids.length} tokens in ${ms.toFixed(0)} ms (${(ms / Math.max(1, ids.length)).toFixed(0)} ms per token)${ids.at(-1) === sep.id ? ', ended at [SEP]' : ''}`;
    document.body.dataset.gen = 'done';
  } catch (e) {
    fail($('gen-status'), e);
    document.body.dataset.gen = 'error';
  }
  $('gen-run').disabled = false;
  $('gen-stop').disabled = true;
}
$('gen-run').addEventListener('click', generate);
$('gen-stop').addEventListener('click', () => { stopGenerating = true; });
$('gen-text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !$('gen-run').disabled) generate(); });
$('gen-strategy').addEventListener('change', () => { $('generate').dataset.strategy = $('gen-strategy').value; });
$('generate').dataset.strategy = $('gen-strategy').value;

// ---- fine-tuning ---------------------------------------------------------------------------------

let ft = null, ftData = null, stopping = false;

/** The loss by step as an SVG line; the exact values stay on the element (data-losses) for the tests. */
function drawCurve(losses) {
  const svg = $('ft-curve'), W = 600, H = 180, L = 40, B = 20;
  const top = Math.max(...losses, 0.8) * 1.05;
  const x = (i) => L + (losses.length > 1 ? (i / (losses.length - 1)) * (W - L - 10) : 0);
  const y = (v) => 8 + (1 - v / top) * (H - B - 8);
  const ticks = [0, top / 2, top].map((v) => `<text x="4" y="${y(v) + 4}">${v.toFixed(2)}</text>`).join('');
  svg.innerHTML = `<line class="axis" x1="${L}" y1="${H - B}" x2="${W}" y2="${H - B}"/><line class="axis" x1="${L}" y1="0" x2="${L}" y2="${H - B}"/>${ticks}`
    + `<text x="${W - 60}" y="${H - 4}">step ${losses.length}</text>`
    + `<polyline points="${losses.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  svg.dataset.losses = JSON.stringify(losses);
}

async function trainClassifier() {
  const steps = Number($('ft-steps').value), learningRate = Number($('ft-lr').value);
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) { fail($('ft-status'), new Error(`steps must be a whole number from 1 to 1000, got ${$('ft-steps').value}`)); return; }
  if (!(learningRate > 0 && learningRate < 1)) { fail($('ft-status'), new Error(`the learning rate must be between 0 and 1, got ${$('ft-lr').value}`)); return; }
  $('ft-train').disabled = $('ft-predict').disabled = true;
  $('ft-stop').disabled = false;
  $('ft-status').classList.remove('error');
  document.body.dataset.ft = 'training';
  stopping = false;
  try {
    if (!ftData) {
      const res = await fetch('data/sentiment.json');
      if (!res.ok) throw new Error(`data/sentiment.json: the server answered ${res.status}`);
      ftData = await res.json();
    }
    $('ft-status').textContent = 'building the classifier and its training step…';
    ft = null;
    const run = await createFineTune(lib, MODEL_URL, ftData, { learningRate });
    const losses = [];
    $('ft-progress').max = steps;
    const t0 = performance.now();
    for (let i = 0; i < steps && !stopping; i++) {
      losses.push(await run.step());
      const msPerStep = (performance.now() - t0) / losses.length;
      $('ft-progress').value = losses.length;
      drawCurve(losses);
      $('ft-status').textContent = `step ${losses.length}/${steps} (epoch ${run.epoch}): loss ${losses.at(-1).toFixed(4)}, ${msPerStep.toFixed(0)} ms per step`;
      $('ft-curve').dataset.msPerStep = msPerStep.toFixed(0);
    }
    const trainedMs = performance.now() - t0;
    $('ft-status').textContent = `${losses.length} steps in ${(trainedMs / 1000).toFixed(1)} s; scoring the ${ftData.test.length} held-out reviews…`;
    let hits = 0;
    for (let i = 0; i < ftData.test.length; i += 25) {
      const rows = ftData.test.slice(i, i + 25);
      (await run.predict(rows.map((r) => r[0]))).forEach((p, j) => { if (p.indexOf(Math.max(...p)) === rows[j][1]) hits++; });
    }
    ft = run;
    $('ft-status').textContent = `${losses.length} steps in ${(trainedMs / 1000).toFixed(1)} s (${(trainedMs / losses.length).toFixed(0)} ms per step), last loss ${losses.at(-1).toFixed(4)}; held-out accuracy ${(100 * hits / ftData.test.length).toFixed(0)}% (${hits}/${ftData.test.length})`;
    $('ft-status').dataset.accuracy = String(hits / ftData.test.length);
    $('ft-predict').disabled = false;
    document.body.dataset.ft = 'done';
  } catch (e) {
    fail($('ft-status'), e);
    document.body.dataset.ft = 'error';
  }
  $('ft-train').disabled = false;
  $('ft-stop').disabled = true;
}

async function classify() {
  const text = $('ft-text').value.trim();
  if (!ft || !text) return;
  try {
    const [p] = await ft.predict([text]);
    $('ft-result').innerHTML = `<ol>${p.map((v, i) => `<li data-label="${i}" data-p="${v}"><b>${escapeHtml(ftData.labels[i])}</b> ${(100 * v).toFixed(1)}%<span class="bar" style="width:${(200 * v).toFixed(0)}px"></span></li>`).join('')}</ol>`;
  } catch (e) { fail($('ft-result'), e); }
}
$('ft-train').addEventListener('click', trainClassifier);
$('ft-stop').addEventListener('click', () => { stopping = true; $('ft-stop').disabled = true; });
$('ft-predict').addEventListener('click', classify);
$('ft-text').addEventListener('keydown', (e) => { if (e.key === 'Enter' && ft) classify(); });

// ---- start -------------------------------------------------------------------------------------

(async () => {
  try {
    const t0 = performance.now();
    model = await loadModel(MODEL_URL);
    shipped = tokenizer = model.tokenizer;
    showTokens();
    const backend = await getBackend();
    $('backend').textContent = `${backend.executionProviders.join(' → ')}, ${backend.ort.env.wasm.numThreads} WebAssembly thread(s)`;
    $('fm-status').textContent = `model loaded in ${(performance.now() - t0).toFixed(0)} ms (files cached by the browser for next time)`;
    $('fm-run').disabled = $('ft-train').disabled = $('gen-run').disabled = false;
    $('gen-status').textContent = 'ready: models/tang-poems loads on the first Generate';
    $('ft-status').textContent = 'ready: press Train';
    document.body.dataset.ready = '1';
  } catch (e) {
    fail($('fm-status'), e);
    fail($('tok-status'), e);
    fail($('ft-status'), e);
    fail($('gen-status'), e);
  }
})();
