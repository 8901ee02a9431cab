/**
 * A pretraining run as a model directory (`Model.save`'s format: config.json with keepTokens,
 * model.safetensors in Hugging Face names, the trimmed vocab.txt + keep_tokens.json), optionally
 * stored in float16; and the held-out MLM accuracy of such a directory, re-measured exactly as the
 * run measured it (same sources, same hash split, same fixed masking).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { floatToHalf, type HostTensor } from '../../graph/dtype.ts';
import { SafetensorsReader, writeSafetensors } from '../../checkpoint/safetensors.ts';
import { buildModel } from '../../models/build.ts';
import { loadTokenizer } from '../../tokenizers/load.ts';
import { ParamStore } from '../../nn/params.ts';
import { tempPathFor, writeFileAtomic } from '../../util/files.ts';
import type { CorpusSource } from './corpus.ts';
import { evaluateMlm, parseConfig, type MlmFigures } from './model.ts';
import { PretrainError, heldOutBatches, prepareData, type PretrainSettings } from './run.ts';

/** The settings and figures of the run a model came from, kept beside the model. */
export const PRETRAINING_FILE = 'pretraining.json';

function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new PretrainError(path, `cannot read: ${(e as Error).message}`);
  }
}

/** float32 tensors as float16 (round to nearest even); others unchanged. */
function toHalf(t: HostTensor): HostTensor {
  if (t.dtype !== 'float32') return t;
  const src = t.data as Float32Array, out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = floatToHalf(src[i]!);
  return { dtype: 'float16', shape: t.shape, data: out };
}

/**
 * Writes the run's best (or last) weights to `out` as a model directory. Other files already in
 * `out` (a model card) are kept; the model's files are replaced one by one, atomically.
 */
export async function exportRun(run: string, out: string, o: { which: 'best' | 'last'; dtype: 'float16' | 'float32'; dropout?: number }): Promise<Record<string, unknown>> {
  const settings = readJson<PretrainSettings>(join(run, 'run.json'));
  const file = join(run, o.which === 'best' && existsSync(join(run, 'best.safetensors')) ? 'best.safetensors' : 'checkpoint.safetensors');
  if (!existsSync(file)) throw new PretrainError(file, 'no weights to export (has the run saved a checkpoint?)');
  const tokenizer = await loadTokenizer(run);
  const keep = tokenizer.keepTokens;
  if (!keep) throw new PretrainError(run, 'no keep_tokens.json: not a pretraining run directory');
  // The vocabulary the kept ids index: the run's vocab file, or (a run from --init, whose vocab is the
  // already trimmed model directory) at least as many as the largest kept id needs.
  const original = Math.max(existsSync(settings.vocab) && !settings.init ? (await loadTokenizer(settings.vocab, { keepTokens: false })).vocabSize : 0, Math.max(...keep) + 1);
  const config = readJson<Record<string, unknown>>(join(run, 'config.json'));
  // Fine-tuning wants the usual dropout back even when pretraining ran without it.
  const dropout = o.dropout ?? 0.1;
  // ELECTRA runs export the discriminator (what is fine-tuned); the generator stays in the run's checkpoint.
  const electra = settings.objective === 'electra';
  const model = buildModel({ ...config, vocab_size: original, hidden_dropout_prob: dropout, attention_probs_dropout_prob: dropout }, { application: electra ? 'discriminator' : 'mlm', keepTokens: keep, tokenizer });
  const reader = new SafetensorsReader(file);
  let meta: Record<string, string>;
  try {
    meta = { ...reader.metadata };
    const names = new Set(reader.list().map((i) => i.name).filter((n) => !n.startsWith('opt/') && !(electra && n.startsWith('generator/'))));
    const want = model.weightNames();
    const missing = want.filter((n) => !names.has(n)), extra = [...names].filter((n) => !want.includes(n));
    if (missing.length || extra.length) throw new PretrainError(file, `weights do not fit the ${electra ? 'discriminator' : 'MLM model'}: missing ${missing.join(', ') || 'none'}; unexpected ${extra.join(', ') || 'none'}`);
    for (const n of want) {
      const t = reader.read(n);
      const have = model.store.get(n)!;
      if (t.shape.join() !== have.shape.join()) throw new PretrainError(file, `'${n}' has shape [${t.shape}], the model wants [${have.shape}]`);
      model.store.set(n, t);
    }
  } finally {
    reader.close();
  }
  const temp = tempPathFor(out);
  try {
    const files = model.save(temp, { tokenizer });
    if (o.dtype === 'float16') {
      const w = join(temp, 'model.safetensors');
      const r = new SafetensorsReader(w);
      const tensors = r.list().map((i) => [i.name, toHalf(r.read(i.name))] as [string, HostTensor]);
      const metadata = { ...r.metadata };
      r.close();
      writeSafetensors(w, tensors, metadata);
    }
    const step = Number(meta.step);
    const pretraining = {
      run, weights: file, step, which: o.which, dtype: o.dtype, heldOutAccuracy: Number(meta.accuracy ?? JSON.parse(meta.heldOut ?? '{}').accuracy),
      trainSeconds: Number(meta.trainSeconds), tokensSeen: Number(meta.tokensSeen), settings,
      data: existsSync(join(run, 'data.json')) ? readJson(join(run, 'data.json')) : undefined,
    };
    writeFileAtomic(join(temp, PRETRAINING_FILE), JSON.stringify(pretraining, null, 2) + '\n');
    files.push(PRETRAINING_FILE);
    mkdirSync(out, { recursive: true });
    for (const f of readdirSync(temp)) renameSync(join(temp, f), join(out, f));
    return { out, files, step, weights: file, dtype: o.dtype };
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * Held-out MLM accuracy of a model directory written by exportRun: the run's sources (or `sources`),
 * hash split, maxlen and fixed masking, with the model's own tokenizer.
 */
export async function evaluateModelDir(dir: string, sources?: CorpusSource[]): Promise<MlmFigures & { rows: number }> {
  const info = readJson<{ settings: PretrainSettings }>(join(dir, PRETRAINING_FILE));
  if (info.settings.objective === 'electra') throw new PretrainError(dir, 'an ELECTRA discriminator has no MLM head to measure; the run log holds its generator\'s held-out accuracy');
  const settings = { ...info.settings, ...(sources ? { sources } : {}) };
  const tokenizer = await loadTokenizer(dir);
  const data = await prepareData(settings, tokenizer);
  const batches = heldOutBatches(data, settings);
  if (!batches.length) throw new PretrainError(dir, 'the sources have no held-out documents');
  const model = buildModel(dir, { application: 'mlm' });
  const store = new ParamStore();
  for (const n of model.weightNames()) store.set(n, model.store.get(n)!);
  const { bert4ts: _, ...raw } = readJson<Record<string, unknown>>(join(dir, 'config.json'));
  const config = parseConfig(raw);
  const f = await evaluateMlm(config, store, batches, { maskId: data.maskOptions.maskId });
  return { ...f, rows: batches.reduce((n, b) => n + b.input_ids!.shape[0]!, 0) };
}
