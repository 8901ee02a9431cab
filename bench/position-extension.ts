/**
 * Post 7947 at our scale: extend a BERT pretrained with 128 positions (models/chinese-small) to
 * longer inputs, and measure held-out MLM accuracy on long packed text, straight away (N = 0) and
 * after N steps of further MLM at the long length. Methods for the positions beyond the learned 128:
 *
 *   hier<α>   hierarchical decomposition (Su): u = (p − α p₀)/(1 − α), q[i·n + j] = α u[i] + (1 − α) u[j]
 *             (the library's `hierarchicalPosition: α`; the 128 learned rows stay the parameters)
 *   random    new rows drawn N(0, 0.02), as a fresh BERT would start them
 *   tiled     the learned rows repeated: q[i] = p[i mod n]
 *   interp    linear interpolation of the learned rows: q[i] = p at fractional index i·n/L
 *             (position interpolation; the first rows are no longer the learned ones)
 *
 * The truncation baseline: the same masked tokens read 128 at a time ([CLS] + 127 tokens per row, the
 * length the model was trained at), so "long" and "short" are scored on identical predictions.
 *
 *   npm run bench -- position-extension [--model models/chinese-small] [--lengths 512,2048,8192]
 *     [--methods hier0.2,hier0.4,hier0.6,hier0.8,random,tiled,interp] [--steps 0 | 100,500,2000]
 *     [--lr 1e-4] [--warmup 50] [--batch-tokens 4096] [--seed 1] [--out /work/runs/position-extension]
 *     [--checkpoint-minutes 10] [--results OUT/results.jsonl] [--quick]
 *   npm run bench -- position-extension --report [--out DIR | --results FILE] [--docs docs/position-extension]
 *
 * --seed picks the training stream's order and masks (and the random method's new rows); run several
 * seeds to see the spread, which --report gives as mean and min–max.
 * Every (length, method, steps, seed, warmup) figure is appended to OUT/results.jsonl, stamped with the
 * model's weights (sha256) and step; figures already there are skipped, so an interrupted sweep
 * continues where it stopped. Training: AdamW, lr warmed up linearly over --warmup steps then constant
 * (a fixed warm-up, so one run gives every N on its way and N = 100 means the same in a 100-step and a
 * 2,000-step run), batches of --batch-tokens tokens from the pretraining run's training stream (its
 * sources and vocabulary), dropout off. The training is checkpointed under OUT/ckpt/ every
 * --checkpoint-minutes (0: never) and when it ends: a rerun resumes an interrupted run at its last
 * checkpoint, and a run to more steps (500, then 2,000) continues the shorter one's weights, since
 * batches are a function of the step and the rate is constant after the warm-up.
 * --report writes a Markdown table and an SVG plot of accuracy against steps.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { HostTensor } from '../src/graph/dtype.ts';
import { buildModel } from '../src/models/build.ts';
import { initializers, initialValue, ParamStore } from '../src/nn/params.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { Trainer } from '../src/training/trainer.ts';
import { adamW } from '../src/training/optimizers.ts';
import { piecewiseLinear } from '../src/training/schedules.ts';
import { prepareData, type PretrainSettings } from '../src/training/pretrain/run.ts';
import { maskedBatch, packRows, PretrainStream, rowSeed, specialIds } from '../src/training/pretrain/data.ts';
import { evaluateMlm, gatheredMlm, parseConfig } from '../src/training/pretrain/model.ts';
import { writeFileAtomic } from '../src/util/files.ts';
import { Progress } from '../src/util/progress.ts';

const args = process.argv.slice(2);
const value = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const quick = args.includes('--quick');
const dir = value('--model', 'models/chinese-small');
const out = value('--out', quick ? '/tmp/position-extension-quick' : '/work/runs/position-extension');
// Results are small and worth keeping with the docs (--results docs/position-extension/results.jsonl); checkpoints stay in OUT.
const resultsPath = value('--results', join(out, 'results.jsonl'));

const warmupSteps = Number(value('--warmup', '50'));
if (!Number.isInteger(warmupSteps) || warmupSteps < 1) throw new Error(`--warmup must be a positive integer, got ${value('--warmup', '')}`);

/** `seconds`: since this process started the method; `resumedAt`: the step its training resumed at (0 or absent: from the start). */
interface Result { length: number; method: string; steps: number; seed?: number; warmup?: number; accuracy: number; loss: number; tokens: number; baseline128: number; /** At the [MASK]ed positions alone (results written since 2026-12-06 23:30). */ maskedAccuracy?: number; maskedBaseline128?: number; seconds: number; resumedAt?: number; model: string }
// N = 0 is untrained, so the warm-up does not tell its figures apart.
const key = (L: number, method: string, steps: number, s: number, warmup: number) => `${L}/${method}/${steps}/${s}/${steps ? warmup : 0}`;
const keyOf = (r: Result) => key(r.length, r.method, r.steps, r.seed ?? 1, r.warmup ?? 0);
const readResults = (): Result[] => (existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8').trim().split('\n').filter(Boolean).map((l, i) => {
  let r: unknown;
  try { r = JSON.parse(l); } catch { throw new Error(`${resultsPath}:${i + 1}: not a JSON line; the results file is damaged (move it aside, or give another --results)`); }
  if (typeof r !== 'object' || r === null || typeof (r as Result).method !== 'string') throw new Error(`${resultsPath}:${i + 1}: not a result line`);
  return r as Result;
}) : []);
// Results are kept per model weights (not per path: the same export in two directories shares them).
const modelStamp = existsSync(join(dir, 'model.safetensors'))
  ? `sha256:${createHash('sha256').update(readFileSync(join(dir, 'model.safetensors'))).digest('hex').slice(0, 16)}@${existsSync(join(dir, 'pretraining.json')) ? (JSON.parse(readFileSync(join(dir, 'pretraining.json'), 'utf8')) as { step?: number }).step : '?'}`
  : dir;

if (args.includes('--report')) {
  report(readResults(), value('--docs', 'docs/position-extension'));
  process.exit(0);
}

const lengths = value('--lengths', quick ? '256' : '512,2048,8192').split(',').map(Number);
const methods = value('--methods', quick ? 'hier0.4,interp' : 'hier0.2,hier0.4,hier0.6,hier0.8,random,tiled,interp').split(',');
const checkpoints = value('--steps', quick ? '0,4' : '0').split(',').map(Number).sort((a, b) => a - b);
const lr = Number(value('--lr', '1e-4'));
const batchTokens = Number(value('--batch-tokens', quick ? '512' : '4096'));
const seed = Number(value('--seed', '1'));
const checkpointMinutes = Number(value('--checkpoint-minutes', quick ? '0' : '10'));
if (!(checkpointMinutes >= 0)) throw new Error(`--checkpoint-minutes must be a number >= 0 (0: no checkpoints), got ${value('--checkpoint-minutes', '')}`);
if (!Number.isInteger(seed) || seed < 1) throw new Error(`--seed must be a positive integer, got ${seed}`);
for (const m of methods) if (!/^(hier0?\.\d+|random|tiled|interp)$/.test(m)) throw new Error(`unknown method '${m}' (hier<alpha>, random, tiled, interp)`);

if (!existsSync(join(dir, 'pretraining.json'))) {
  console.error(`${dir}: no pretraining.json (a model directory exported by bert4ts pretrain is needed)`);
  process.exit(2);
}
mkdirSync(out, { recursive: true });
mkdirSync(dirname(resultsPath), { recursive: true });
const { settings } = JSON.parse(readFileSync(join(dir, 'pretraining.json'), 'utf8')) as { settings: PretrainSettings };
const tokenizer = await loadTokenizer(dir);
const data = await prepareData(settings, tokenizer);
const sp = specialIds(data.tokenizer);
const original = buildModel(dir, { application: 'mlm' });
const { bert4ts: _saved, ...rawConfig } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const n = Number(rawConfig.max_position_embeddings);
const POS = 'embeddings/position_embeddings';
if (!original.store.get(POS)) throw new Error(`${dir}: no ${POS} in the model's weights`);
console.error(`${dir}: ${n} learned positions; held-out ${data.stats.heldOutTokens} tokens; lengths ${lengths.join(', ')}; methods ${methods.join(', ')}; steps ${checkpoints.join(', ')}`);

/** The extended position table for `method` at length L (null: hierarchical, which keeps the n rows). */
function extendedTable(method: string, L: number): HostTensor | null {
  if (method.startsWith('hier')) return null;
  const p = original.store.get(POS)!, E = p.shape[1]!, src = p.data as Float32Array;
  const q = new Float32Array(L * E);
  if (method === 'random') {
    q.set(src);
    q.set(initialValue('random_positions', [L - n, E], initializers.truncatedNormal(0.02), seed).data as Float32Array, n * E);
  } else if (method === 'tiled') {
    for (let i = 0; i < L; i++) q.set(src.subarray((i % n) * E, (i % n + 1) * E), i * E);
  } else {
    for (let i = 0; i < L; i++) {
      const x = (i * n) / L, lo = Math.floor(x), hi = Math.min(n - 1, lo + 1), f = x - lo;
      for (let e = 0; e < E; e++) q[i * E + e] = (1 - f) * src[lo * E + e]! + f * src[hi * E + e]!;
    }
  }
  return { dtype: 'float32', shape: [L, E], data: q };
}

/** Config, weights and build options of the extended model. */
function extended(method: string, L: number): { config: ReturnType<typeof parseConfig>; store: ParamStore; options: { hierarchicalPosition?: number } } {
  const table = extendedTable(method, L);
  const store = new ParamStore(1);
  for (const name of original.weightNames()) store.set(name, name === POS && table ? table : cloneTensor(original.store.get(name)!));
  const config = parseConfig({ ...rawConfig, max_position_embeddings: table ? L : n, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
  return { config, store, options: table ? {} : { hierarchicalPosition: Number(method.slice(4)) } };
}

function cloneTensor(t: HostTensor): HostTensor {
  return { ...t, shape: [...t.shape], data: t.data.slice() } as HostTensor;
}

/**
 * Held-out feeds at length L (documents in file order, packed, masked with fixed seeds), and the same
 * masked tokens cut into rows of n ([CLS] + n − 1 tokens): the truncation baseline.
 */
function heldOutAt(L: number): { long: Record<string, HostTensor>[]; short: Record<string, HostTensor>[] } {
  const docs = data.heldOut.offsets.length - 1;
  const packed = packRows(data.heldOut, Int32Array.from({ length: docs }, (_, i) => i), L, sp);
  const o = { ...data.maskOptions, maxPredictions: Math.ceil(L * settings.maskRate) };
  const perBatch = Math.max(1, Math.floor(8192 / L));
  const long: Record<string, HostTensor>[] = [], short: Record<string, HostTensor>[] = [];
  const width = n - 1;
  for (let r = 0; r < packed.rows; r += perBatch) {
    const rows = Array.from({ length: Math.min(perBatch, packed.rows - r) }, (_, i) => r + i);
    const b = maskedBatch(packed, rows, rows.map((i) => rowSeed(12345, L, i)), o);
    long.push(b);
    // Re-cut the masked rows: token t >= 1 of row k goes to short row (k, floor((t-1)/width)).
    const ids = b.input_ids!.data as BigInt64Array, mask = b.attention_mask!.data as BigInt64Array;
    const chunks = Math.ceil((L - 1) / width);
    const B = rows.length, S = B * chunks;
    const sIds = new BigInt64Array(S * n), sMask = new BigInt64Array(S * n);
    for (let k = 0; k < B; k++) {
      for (let c = 0; c < chunks; c++) {
        const row = k * chunks + c;
        sIds[row * n] = BigInt(sp.cls);
        sMask[row * n] = 1n;
        for (let j = 0; j < width; j++) {
          const t = 1 + c * width + j;
          if (t >= L) { sIds[row * n + 1 + j] = BigInt(sp.pad); continue; }
          sIds[row * n + 1 + j] = ids[k * L + t]!;
          sMask[row * n + 1 + j] = mask[k * L + t]!;
        }
      }
    }
    const pos = b.mlm_positions!.data as BigInt64Array;
    const sPos = new BigInt64Array(pos.length);
    pos.forEach((p, i) => {
      const k = Math.floor(Number(p) / L), t = Number(p) % L;
      sPos[i] = t === 0 ? 0n : BigInt((k * chunks + Math.floor((t - 1) / width)) * n + 1 + ((t - 1) % width));
    });
    short.push({ input_ids: { dtype: 'int64', shape: [S, n], data: sIds }, attention_mask: { dtype: 'int64', shape: [S, n], data: sMask }, token_type_ids: { dtype: 'int64', shape: [S, n], data: new BigInt64Array(S * n) }, mlm_positions: { dtype: 'int64', shape: [pos.length], data: sPos }, mlm_labels: b.mlm_labels! });
  }
  return { long, short };
}

const done = new Set(readResults().filter((r) => r.model === modelStamp).map(keyOf));
const baseStore = new ParamStore(1);
for (const name of original.weightNames()) baseStore.set(name, original.store.get(name)!);
const baseConfig = parseConfig({ ...rawConfig, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });

for (const L of lengths) {
  if (!Number.isInteger(L) || L <= n) throw new Error(`--lengths: ${L} must be an integer above the ${n} learned positions`);
  const todo = methods.filter((m) => checkpoints.some((s) => !done.has(key(L, m, s, seed, warmupSteps))));
  if (!todo.length) continue;
  const t0 = Date.now();
  const evalSet = heldOutAt(L);
  const base = await evaluateMlm(baseConfig, baseStore, evalSet.short, { maskId: sp.mask });
  const baseline = base.accuracy;
  console.error(`L=${L}: ${evalSet.long.reduce((k, b) => k + b.input_ids!.shape[0]!, 0)} rows; truncated to ${n}: accuracy ${(100 * baseline).toFixed(2)}% (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  for (const method of todo) {
    const { config, store, options } = extended(method, L);
    const started = Date.now();
    let first = 0;
    const measure = async (steps: number) => {
      const f = await evaluateMlm(config, store, evalSet.long, { logits: (scope) => gatheredMlm(scope, config, options).logits, maskId: sp.mask });
      const r: Result = { length: L, method, steps, seed, warmup: warmupSteps, accuracy: f.accuracy, loss: f.loss, tokens: f.tokens, baseline128: baseline, maskedAccuracy: f.maskedAccuracy, maskedBaseline128: base.maskedAccuracy, seconds: (Date.now() - started) / 1000, ...(first ? { resumedAt: first } : {}), model: modelStamp };
      appendFileSync(resultsPath, JSON.stringify(r) + '\n');
      console.log(`L=${String(L).padStart(5)}  ${method.padEnd(8)} N=${String(steps).padStart(4)}  accuracy ${(100 * f.accuracy).toFixed(2)}%  (truncated ${(100 * baseline).toFixed(2)}%; at [MASK] ${(100 * f.maskedAccuracy!).toFixed(2)}%, truncated ${(100 * base.maskedAccuracy!).toFixed(2)}%)  loss ${f.loss.toFixed(3)}  ${f.tokens} predictions  ${r.seconds.toFixed(0)} s`);
    };
    if (checkpoints.includes(0) && !done.has(key(L, method, 0, seed, warmupSteps))) await measure(0);
    const total = Math.max(...checkpoints);
    if (total === 0 || checkpoints.filter((s) => s > 0).every((s) => done.has(key(L, method, s, seed, warmupSteps)))) continue;
    const batchSize = Math.max(1, Math.floor(batchTokens / L));
    const stream = new PretrainStream(data.train, sp, { ...data.maskOptions, maxPredictions: Math.ceil(L * settings.maskRate), maxlen: L, batchSize, seed: settings.seed + 10 + seed });
    const warmup = Math.min(warmupSteps, total);
    const trainer = await Trainer.create({ store, loss: (scope) => gatheredMlm(scope, config, options).loss, optimizer: adamW(piecewiseLinear(lr, { [warmup]: 1, [total]: 1 }), { weightDecay: 0.01 }), clipNorm: 1, seed: 1 });
    // Everything the weights at step k depend on, except k (the rate is constant after the warm-up, so the total is not).
    const ckpt = join(out, 'ckpt', createHash('sha256').update(JSON.stringify([modelStamp, L, method, seed, warmup, lr, batchTokens])).digest('hex').slice(0, 16));
    if (checkpointMinutes > 0 && existsSync(join(ckpt, 'trainer.json'))) {
      try {
        trainer.restore(ckpt);
        first = Math.min(trainer.step, total);
        console.error(`${ckpt}: resuming L=${L} ${method} seed ${seed} at step ${first}`);
      } catch (e) {
        // Restore checks every name before it copies, so a refused checkpoint leaves the fresh weights.
        console.error(`${ckpt}: cannot resume (${(e as Error).message}); starting over`);
        rmSync(ckpt, { recursive: true, force: true });
      }
    }
    const progress = new Progress({ label: `L=${L} ${method} seed ${seed}${first ? ` (resumed at ${first})` : ''}`, total: total - first, unit: 'step' });
    let lastSave = performance.now();
    for (let step = first; step < total; step++) {
      const r = await trainer.trainStep(stream.batchAt(step));
      progress.tick(1, { loss: +r.loss.toFixed(3) });
      if (checkpointMinutes > 0 && (step + 1 === total || performance.now() - lastSave > checkpointMinutes * 60_000)) {
        trainer.save(ckpt);
        lastSave = performance.now();
      }
      if (checkpoints.includes(step + 1) && !done.has(key(L, method, step + 1, seed, warmupSteps))) await measure(step + 1);
    }
    progress.finish();
    await trainer.dispose(); // the next method's sessions need the memory
  }
}

/** Markdown table (accuracy by length × method × steps) and an SVG of accuracy against steps. */
function report(all: Result[], docs: string): void {
  if (!all.length) { console.error(`${resultsPath}: no results yet`); return; }
  const n = Number((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>).max_position_embeddings);
  // This model's figures at this warm-up; the latest per (length, method, steps, seed), then the mean over seeds (the plot and table use it).
  const mine = all.filter((r) => r.model === modelStamp && (r.steps === 0 || r.warmup === warmupSteps));
  if (!mine.length) { console.error(`${resultsPath}: no results for ${dir} (${modelStamp}) with --warmup ${warmupSteps}`); return; }
  const bySeed = [...new Map(mine.map((r) => [keyOf(r), r])).values()];
  const groups = new Map<string, Result[]>();
  for (const r of bySeed) groups.set(`${r.length}/${r.method}/${r.steps}`, [...(groups.get(`${r.length}/${r.method}/${r.steps}`) ?? []), r]);
  const rs = [...groups.values()].map((g) => ({ ...g[0]!, accuracy: g.reduce((a, r) => a + r.accuracy, 0) / g.length, min: Math.min(...g.map((r) => r.accuracy)), max: Math.max(...g.map((r) => r.accuracy)), seeds: g.length }));
  const Ls = [...new Set(rs.map((r) => r.length))].sort((a, b) => a - b);
  const ms = [...new Set(rs.map((r) => r.method))].sort();
  const Ns = [...new Set(rs.map((r) => r.steps))].sort((a, b) => a - b);
  const pct = (v: number | undefined) => (v === undefined ? '—' : `${(100 * v).toFixed(2)}%`);
  const cell = (r: (typeof rs)[number] | undefined) => (!r ? '—' : r.seeds > 1 ? `${pct(r.accuracy)} (${(100 * r.min).toFixed(2)}–${(100 * r.max).toFixed(2)}, ${r.seeds} seeds)` : r.steps > 0 ? `${pct(r.accuracy)} (1 seed)` : pct(r.accuracy));
  const lines = [`| length | truncated to ${n} | method | ${Ns.map((s) => `N = ${s}`).join(' | ')} |`, `|---:|---:|---|${Ns.map(() => '---:').join('|')}|`];
  for (const L of Ls) for (const m of ms) {
    const row = rs.filter((r) => r.length === L && r.method === m);
    if (!row.length) continue;
    lines.push(`| ${L} | ${pct(row[0]!.baseline128)} | ${m} | ${Ns.map((s) => cell(row.find((r) => r.steps === s))).join(' | ')} |`);
  }
  mkdirSync(docs, { recursive: true });
  writeFileAtomic(join(docs, 'table.md'), lines.join('\n') + '\n');
  // One panel per length: accuracy (y) against N (x, evenly spaced categories), one line per method.
  const W = 300, H = 220, pad = { l: 44, r: 10, t: 28, b: 34 };
  const colours = ['#1f5fa8', '#c0392b', '#27ae60', '#8e44ad', '#d35400', '#16a085', '#7f8c8d', '#2c3e50'];
  const maxAcc = Math.max(...rs.map((r) => Math.max(r.accuracy, r.baseline128))) * 1.05;
  const x = (i: number) => pad.l + ((W - pad.l - pad.r) * (Ns.length === 1 ? 0.5 : i / (Ns.length - 1)));
  const y = (v: number) => pad.t + (H - pad.t - pad.b) * (1 - v / maxAcc);
  const parts: string[] = [];
  Ls.forEach((L, panel) => {
    const g: string[] = [`<g transform="translate(${panel * W},0)">`, `<text x="${W / 2}" y="16" text-anchor="middle" font-weight="bold">length ${L}</text>`,
      `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#444"/>`, `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#444"/>`];
    Ns.forEach((s, i) => g.push(`<text x="${x(i).toFixed(1)}" y="${H - pad.b + 14}" text-anchor="middle">${s}</text>`));
    for (let k = 0; k <= 4; k++) g.push(`<text x="${pad.l - 4}" y="${(y((maxAcc * k) / 4) + 4).toFixed(1)}" text-anchor="end">${((100 * maxAcc * k) / 4).toFixed(0)}%</text>`);
    g.push(`<text x="${W / 2}" y="${H - 4}" text-anchor="middle">further MLM steps N</text>`);
    const base = rs.find((r) => r.length === L)!.baseline128;
    g.push(`<line x1="${pad.l}" y1="${y(base).toFixed(1)}" x2="${W - pad.r}" y2="${y(base).toFixed(1)}" stroke="#000" stroke-dasharray="4 3"/>`);
    ms.forEach((m, k) => {
      const pts = Ns.map((s, i) => [i, rs.find((r) => r.length === L && r.method === m && r.steps === s)] as const).filter(([, r]) => r);
      if (!pts.length) return;
      g.push(`<path d="${pts.map(([i, r], j) => `${j ? 'L' : 'M'}${x(i).toFixed(1)},${y(r!.accuracy).toFixed(1)}`).join('')}" fill="none" stroke="${colours[k % colours.length]}" stroke-width="1.5"/>`);
      for (const [i, r] of pts) g.push(`<circle cx="${x(i).toFixed(1)}" cy="${y(r!.accuracy).toFixed(1)}" r="2.5" fill="${colours[k % colours.length]}"/>`);
    });
    g.push('</g>');
    parts.push(...g);
  });
  const legendY = H + 8;
  const legend = [...ms.map((m, k) => `<text x="${10 + k * 90}" y="${legendY + 12}" fill="${colours[k % colours.length]}">— ${m}</text>`), `<text x="${10 + ms.length * 90}" y="${legendY + 12}">- - truncated to ${n}</text>`];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W * Ls.length}" height="${H + 30}" font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n${[...parts, ...legend].join('\n')}\n</svg>\n`;
  writeFileAtomic(join(docs, 'accuracy.svg'), svg);
  process.stdout.write(lines.join('\n') + '\n');
  console.error(`wrote ${join(docs, 'table.md')} and ${join(docs, 'accuracy.svg')}`);
}
