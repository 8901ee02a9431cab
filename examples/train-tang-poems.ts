// Train a small GPT-2 on the Tang poems (../shared/data/corpora/tang-poems, MIT) and save it as a model
// directory (fp16) for the playground's generation demo: models/tang-poems. A character vocabulary:
// Google's Chinese BERT WordPiece vocab trimmed (keepTokens) to the characters the poems use. Each poem is
// one document, `title：body`; documents are packed into rows of --maxlen that start with [CLS] and
// separated by [SEP] (the pretraining data code). Stops at --steps or after --minutes, saving as it goes.
//   nice -n 10 npx tsx examples/train-tang-poems.ts --out models/tang-poems [--minutes 55] [--layers 4] [--hidden 256]
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readJsonl } from '../src/data/read.ts';
import { int64 } from '../src/data/padding.ts';
import { buildModel } from '../src/models/build.ts';
import { loadTokenizer } from '../src/tokenizers/load.ts';
import { Trainer, adamW, warmupCosine } from '../src/training/index.ts';
import { isHeldOut } from '../src/training/pretrain/corpus.ts';
import { packRows, permutation, specialIds, tokenizeDocuments, trimVocabulary } from '../src/training/pretrain/data.ts';
import { Random } from '../src/util/random.ts';
import { SafetensorsReader, writeSafetensors } from '../src/checkpoint/safetensors.ts';
import { castFloat } from '../src/checkpoint/convert.ts';

const { values: a } = parseArgs({ options: {
  out: { type: 'string', default: 'models/tang-poems' },
  data: { type: 'string', default: '../shared/data/corpora/tang-poems/tang_poems.jsonl.gz' },
  vocab: { type: 'string', default: '../shared/data/tokenizers/bert-chinese/vocab.txt' },
  layers: { type: 'string', default: '4' }, hidden: { type: 'string', default: '256' }, heads: { type: 'string', default: '4' },
  maxlen: { type: 'string', default: '64' }, batch: { type: 'string', default: '32' }, steps: { type: 'string', default: '2000' },
  lr: { type: 'string', default: '1e-3' }, warmup: { type: 'string', default: '100' }, 'min-count': { type: 'string', default: '10' },
  minutes: { type: 'string', default: '55' }, seed: { type: 'string', default: '1' },
} });
const n = (k: keyof typeof a) => { const v = Number(a[k]); if (!Number.isFinite(v)) throw new Error(`--${k} must be a number, got '${a[k]}'`); return v; };
const [layers, hidden, heads, maxlen, B, steps, seed] = (['layers', 'hidden', 'heads', 'maxlen', 'batch', 'steps', 'seed'] as const).map(n) as [number, number, number, number, number, number, number];
const deadline = Date.now() + n('minutes') * 60_000;
const started = Date.now();

// Data: one document per poem; 1% held out by text hash, as the pretraining runs do.
const poems = readJsonl<{ title?: string; paragraphs?: string[] }>(a.data!);
const texts = poems.map((p, i) => {
  if (!Array.isArray(p.paragraphs)) throw new Error(`${a.data}:${i + 1}: no "paragraphs" array`);
  return `${(p.title ?? '').trim()}：${p.paragraphs.join('')}`;
});
const train = texts.filter((t) => !isHeldOut(t, 10)), held = texts.filter((t) => isHeldOut(t, 10));
const tokenizer = trimVocabulary(await loadTokenizer(a.vocab!, { keepTokens: false }), train, n('min-count'));
const original = (await loadTokenizer(a.vocab!, { keepTokens: false })).vocabSize;
const whole = (t: string) => [t]; // no word segmentation: the packing code only uses it for whole-word masks
const docs = tokenizeDocuments(tokenizer, whole, train), heldDocs = tokenizeDocuments(tokenizer, whole, held);
const sp = specialIds(tokenizer);
const unk = tokenizer.specialTokens.unk!.id;
const unkCount = docs.ids.reduce((s, id) => s + (id === unk ? 1 : 0), 0);
console.log(`${train.length} poems (${docs.ids.length} tokens, ${unkCount} [UNK]), ${held.length} held out; vocabulary ${tokenizer.vocabSize} of ${original}`);

// Full rows only (the last packed row is cut short); labels are the ids (the loss shifts them).
const rowsOf = (order: ArrayLike<number>, d = docs) => { const p = packRows(d, order, maxlen, sp); return { ids: p.ids, rows: p.lengths.filter((l) => l === maxlen).length }; };
let epoch = 0, at = 0, packed = rowsOf(permutation(train.length, new Random(seed)));
function nextBatch() {
  if (at + B > packed.rows) { packed = rowsOf(permutation(train.length, new Random(seed + ++epoch))); at = 0; }
  const ids = Array.from({ length: B }, (_, r) => Array.from(packed.ids.subarray((at + r) * maxlen, (at + r + 1) * maxlen)));
  at += B;
  return { input_ids: int64(ids), labels: int64(ids) };
}
const heldPacked = rowsOf(Int32Array.from({ length: held.length }, (_, i) => i), heldDocs);
const heldRows = Array.from({ length: Math.min(128, heldPacked.rows) }, (_, r) => Array.from(heldPacked.ids.subarray(r * maxlen, (r + 1) * maxlen)));

const config = { model_type: 'gpt2', vocab_size: original, n_embd: hidden, n_layer: layers, n_head: heads, n_positions: maxlen * 2, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0 };
const model = buildModel(config, { application: 'lm', keepTokens: tokenizer.keepTokens!, tokenizer, seed });
const trainer = await Trainer.create({
  store: model.store, loss: (s) => model.loss(s), clipNorm: 1, seed,
  optimizer: adamW(warmupCosine({ peak: n('lr'), warmup: n('warmup'), total: steps, min: n('lr') / 10 }), { weightDecay: 0.01 }),
});
const params = trainer.trainable.reduce((s, name) => s + model.store.get(name)!.data.length, 0);
console.log(`GPT-2 ${layers} layers, hidden ${hidden}, ${heads} heads, ${(params / 1e6).toFixed(2)} M parameters; ${B} x ${maxlen} tokens per step`);

async function heldOutLoss(): Promise<number> {
  let sum = 0;
  for (let r = 0; r < heldRows.length; r += 32) {
    const rows = heldRows.slice(r, r + 32);
    sum += (await model.predict({ input_ids: rows, labels: int64(rows) } as never, { outputs: ['loss'] })).loss!.data[0] as number * rows.length;
  }
  return sum / heldRows.length;
}

/** The model directory, fp16, replaced file by file (a temp dir first, so a crash leaves the last save). */
function save(info: Record<string, unknown>) {
  const temp = `${a.out}.tmp-${process.pid}`;
  rmSync(temp, { recursive: true, force: true });
  model.save(temp, { tokenizer });
  const w = join(temp, 'model.safetensors');
  const r = new SafetensorsReader(w);
  const tensors = r.list().map((i) => [i.name, castFloat(r.read(i.name), 'float16')] as [string, ReturnType<typeof r.read>]);
  const metadata = { ...r.metadata };
  r.close();
  writeSafetensors(w, tensors, metadata);
  writeFileSync(join(temp, 'training.json'), JSON.stringify(info, null, 2) + '\n');
  mkdirSync(a.out!, { recursive: true });
  for (const f of readdirSync(temp)) renameSync(join(temp, f), join(a.out!, f));
  rmSync(temp, { recursive: true, force: true });
}

const log: { step: number; loss: number; heldOutLoss?: number; seconds: number }[] = [];
let window = 0, windowSteps = 0, trainSeconds = 0, lastSave = Date.now();
const info = (heldOut: number) => ({
  data: a.data, poems: train.length, heldOutPoems: held.length, tokens: docs.ids.length, unk: unkCount, vocabulary: tokenizer.vocabSize,
  config: { layers, hidden, heads, maxlen, batch: B, lr: n('lr'), warmup: n('warmup'), scheduleSteps: steps, minCount: n('min-count'), seed },
  params, step: trainer.step, epoch: trainer.step * B / packed.rows, trainSeconds: Math.round(trainSeconds), wallSeconds: Math.round((Date.now() - started) / 1000),
  heldOutLoss: heldOut, log,
});
console.log(`step 0: held-out loss ${(await heldOutLoss()).toFixed(4)}`);
while (trainer.step < steps && Date.now() < deadline) {
  const t = Date.now();
  const r = await trainer.trainStep(nextBatch());
  trainSeconds += (Date.now() - t) / 1000;
  window += r.loss; windowSteps++;
  if (trainer.step % 25 === 0) {
    const entry: (typeof log)[number] = { step: trainer.step, loss: window / windowSteps, seconds: Math.round(trainSeconds) };
    if (trainer.step % 200 === 0) entry.heldOutLoss = await heldOutLoss();
    log.push(entry);
    console.log(`step ${trainer.step}: loss ${entry.loss.toFixed(4)}${entry.heldOutLoss ? `, held-out ${entry.heldOutLoss.toFixed(4)}` : ''}, ${(trainSeconds / trainer.step).toFixed(2)} s/step`);
    window = windowSteps = 0;
  }
  if (Date.now() - lastSave > 10 * 60_000) { save(info(NaN)); lastSave = Date.now(); }
}
const final = await heldOutLoss();
save(info(final));
console.log(`stopped at step ${trainer.step} (${trainer.step >= steps ? 'steps' : 'time'}), held-out loss ${final.toFixed(4)}; saved ${a.out}${existsSync(join(a.out!, 'model.safetensors')) ? '' : ' (missing?)'}`);
