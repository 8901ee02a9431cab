// The playground: every demo runs the library itself in this page (the browser build at /lib/bert4ts.js,
// on onnxruntime-web). The server only serves files: the bundle and the model directory.
import { loadModel, loadTokenizerFrom, fileSource, getBackend } from '/lib/bert4ts.js';

const MODEL_URL = '/models/chinese-small/';
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
    $('fm-run').disabled = false;
    document.body.dataset.ready = '1';
  } catch (e) {
    fail($('fm-status'), e);
    fail($('tok-status'), e);
  }
})();
