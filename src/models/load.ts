/**
 * Reading configs and loading checkpoint weights onto a model's declared weights: the config file of a
 * directory, the family a config describes, the host-side tensor transforms a weight map asks for
 * (slice, transpose, reshape, kept rows), and `loadWeights`, which reports what it used and skipped.
 *
 * Resolution of each weight: a tensor stored under our own name (the Scope path, as `saveSafetensors`
 * and `Model.save` write it) wins; otherwise the family's mapping in the naming the checkpoint matches
 * best (Hugging Face or Google), with or without the head class's prefix.
 */
import { existsSync, readFileSync, statSync } from '../util/node/fs.ts';
import { join } from '../util/node/path.ts';
import { CheckpointError, type CheckpointReader } from '../checkpoint/index.ts';
import { allocate, floatToHalf, sizeOf, toFloat32, type HostTensor } from '../graph/dtype.ts';
import { formatShape, type Tensor } from '../graph/tensor.ts';
import type { ParamStore } from '../nn/params.ts';
import { ConfigError } from './config.ts';
import type { Naming, WeightMapping } from './family.ts';

/** Hugging Face model_type -> our family. */
export const MODEL_TYPES: Record<string, string> = {
  bert: 'bert', roberta: 'roberta', 'xlm-roberta': 'roberta', camembert: 'roberta', albert: 'albert',
  electra: 'electra', gpt2: 'gpt2', t5: 't5', mt5: 'mt5',
};

const CONFIG_FILES = ['config.json', 'bert_config.json', 'albert_config.json', 'hparams.json'];

/** Read a config file (or the config file in a model directory). */
export function readConfigFile(path: string): { raw: Record<string, unknown>; file: string } {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const found = CONFIG_FILES.map((f) => join(path, f)).find((f) => existsSync(f));
    if (!found) throw new ConfigError(`${path}: no config file in this directory (looked for ${CONFIG_FILES.join(', ')})`);
    file = found;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`${file}: cannot read config: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: a config must be a JSON object`);
  return { raw: raw as Record<string, unknown>, file };
}

/** The model family a config describes (its model_type, or the shape of a Google / OpenAI config). */
export function inferFamily(raw: Record<string, unknown>, source: string, known: string[] = Object.values(MODEL_TYPES)): string {
  const type = raw.model_type;
  if (typeof type === 'string') {
    const family = MODEL_TYPES[type];
    if (!family) throw new ConfigError(`${source}: unknown model_type '${type}' (known: ${Object.keys(MODEL_TYPES).join(', ')}); pass family explicitly if it is one of ${[...new Set(known)].join(', ')}`);
    return family;
  }
  if ('n_vocab' in raw || 'n_embd' in raw) return 'gpt2'; // OpenAI hparams.json
  if ('num_hidden_groups' in raw) return 'albert'; // Google ALBERT config
  if ('hidden_size' in raw && 'num_attention_heads' in raw) return 'bert'; // Google bert_config.json
  throw new ConfigError(`${source}: cannot tell the model family (no model_type); pass family (one of ${[...new Set(known)].join(', ')})`);
}

// ---- host tensor transforms (checkpoint layout <-> ours) -----------------------------------------

function sliceAxis(t: HostTensor, axis: number, start: number, end: number): HostTensor {
  const shape = [...t.shape];
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const dim = shape[axis]!;
  const n = end - start;
  const out = allocate(t.dtype, outer * n * inner) as Float32Array;
  const src = t.data as Float32Array;
  for (let o = 0; o < outer; o++) out.set(src.subarray((o * dim + start) * inner, (o * dim + end) * inner), o * n * inner);
  shape[axis] = n;
  return { dtype: t.dtype, shape, data: out };
}

export function transpose2d(t: HostTensor): HostTensor {
  const [r, c] = t.shape as [number, number];
  const src = t.data as Float32Array;
  const out = allocate(t.dtype, r * c) as Float32Array;
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j]!;
  return { dtype: t.dtype, shape: [c, r], data: out };
}

export function concatAxis(parts: HostTensor[], axis: number): HostTensor {
  const shape = [...parts[0]!.shape];
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const total = parts.reduce((n, p) => n + p.shape[axis]!, 0);
  const out = allocate(parts[0]!.dtype, outer * total * inner) as Float32Array;
  let offset = 0;
  for (const p of parts) {
    const width = p.shape[axis]! * inner;
    const src = p.data as Float32Array;
    for (let o = 0; o < outer; o++) out.set(src.subarray(o * width, (o + 1) * width), o * total * inner + offset);
    offset += width;
  }
  shape[axis] = total;
  return { dtype: parts[0]!.dtype, shape, data: out };
}

function takeRows(t: HostTensor, rows: number[], file: string, name: string): HostTensor {
  const n = t.shape[0]!;
  const width = sizeOf(t.shape.slice(1));
  const src = t.data as Float32Array;
  const out = allocate(t.dtype, rows.length * width) as Float32Array;
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new CheckpointError(file, `keepTokens id ${r} (position ${i}) is outside the ${n} rows`, name);
    out.set(src.subarray(r * width, (r + 1) * width), i * width);
  });
  return { dtype: t.dtype, shape: [rows.length, ...t.shape.slice(1)], data: out };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Apply a mapping to a checkpoint tensor: slice -> transpose -> reshape -> rows. */
function transform(t: HostTensor, m: WeightMapping, want: readonly number[], file: string, name: string): HostTensor {
  const steps: string[] = [];
  if (m.slice) {
    const { axis, start, end } = m.slice;
    if (axis >= t.shape.length || end > t.shape[axis]!) throw new CheckpointError(file, `has shape ${formatShape(t.shape)}, too small to take [${start}, ${end}) on axis ${axis} for '${m.ours}'`, name);
    t = sliceAxis(t, axis, start, end);
    steps.push(`slice ${start}:${end} of axis ${axis}`);
  }
  if (m.transpose) {
    if (t.shape.length !== 2) throw new CheckpointError(file, `expected a matrix to transpose for '${m.ours}', got shape ${formatShape(t.shape)}`, name);
    t = transpose2d(t);
    steps.push('transposed');
  }
  if (m.reshape && sizeOf(t.shape) === sizeOf(want)) {
    t = { ...t, shape: [...want] };
  }
  if (m.rows) {
    t = takeRows(t, m.rows, file, name);
    steps.push(`${m.rows.length} kept rows`);
  }
  if (!sameShape(t.shape, want)) {
    throw new CheckpointError(file, `shape ${formatShape(t.shape)}${steps.length ? ` (after ${steps.join(', ')})` : ''} does not fit the model's '${m.ours}' ${formatShape(want)}: does the config match this checkpoint?`, name);
  }
  return t;
}

/** Checkpoint values (fp16 / bf16 / fp32 / fp64) in the model's float dtype. */
function asDtype(t: HostTensor, dtype: string, file: string, name: string): HostTensor {
  if (t.dtype === dtype) return t; // bit for bit, including float64
  const f32 = toFloat32(t);
  if (dtype === 'float32') return f32;
  if (dtype === 'float64') return { dtype: 'float64', shape: f32.shape, data: Float64Array.from(f32.data as Float32Array) };
  if (dtype === 'float16') return { dtype: 'float16', shape: f32.shape, data: Uint16Array.from(f32.data as Float32Array, floatToHalf) };
  throw new CheckpointError(file, `cannot load into a ${dtype} model (float32, float64 or float16)`, name);
}

const KNOWN_PREFIXES = ['bert.', 'roberta.', 'albert.', 'electra.', 'transformer.'];
/**
 * What a checkpoint may hold that no model weight maps to: optimizer slots (Adam; Adafactor's
 * _slot_vc/_slot_vr in Mesh-TF T5), counters, derived buffers, tied copies.
 */
const IGNORABLE = [/\/adam_[mv]$/, /_slot_(v|vc|vr|m)$/, /^global_step$/, /^(encoder|decoder)\.embed_tokens\.weight$/, /position_ids$/, /\.attn\.(masked_)?bias$/, /decoder\.(weight|bias)$/, /^lm_head\.weight$/, /^generator_lm_head\.weight$/];

/** Names a tensor may have: as mapped, without the head class's prefix, with old gamma/beta LayerNorm names. */
function candidates(name: string): string[] {
  const out = [name];
  for (const p of KNOWN_PREFIXES) if (name.startsWith(p)) out.push(name.slice(p.length));
  for (const n of [...out]) {
    if (/LayerNorm\.weight$/.test(n)) out.push(n.replace(/weight$/, 'gamma'));
    if (/LayerNorm\.bias$/.test(n)) out.push(n.replace(/bias$/, 'beta'));
  }
  return out;
}

/** 'bert4ts': every weight was found under our own name (saveSafetensors). */
export type LoadNaming = Naming | 'bert4ts';

export interface LoadReport {
  file: string;
  naming: LoadNaming;
  /** Our weights filled from the checkpoint. */
  loaded: number;
  /** Optional checkpoint tensors that were absent (those weights were initialised fresh). */
  missingOptional: string[];
  /** Checkpoint tensors the model did not use (optimizer slots, other heads, ...). */
  unexpected: string[];
}

export interface LoadPlan {
  /** The family's mappings in each naming. */
  maps: Record<Naming, WeightMapping[]>;
  /** Declared weights outside the family (a head's): read under their own name; `required` when the checkpoint must hold them. */
  own: { names: string[]; required: boolean };
  /** Tensors saved under our own names that the graph may not use: restored into the store as they are (Model.save). */
  restore?: string[];
  forced?: Naming;
}

export function loadWeights(reader: CheckpointReader, plan: LoadPlan, declared: Map<string, Tensor>, store: ParamStore): LoadReport {
  const file = reader.path;
  const { maps, own, forced } = plan;
  const shapes = new Map(reader.list().map((t) => [t.name, t.shape]));
  const available = new Set(shapes.keys());
  const resolve = (theirs: string) => candidates(theirs).find((n) => available.has(n));
  const score = (n: Naming) => maps[n].filter((m) => declared.has(m.ours) && resolve(m.theirs) !== undefined).length;
  const ownHits = [...declared.keys()].filter((n) => available.has(n)).length;
  const naming: Naming = forced ?? (score('google') > score('hf') ? 'google' : 'hf');
  const ownNames = new Set(own.names);
  const map: WeightMapping[] = [...maps[naming], ...own.names.map((n) => ({ ours: n, theirs: n, optional: !own.required }))];
  if (!forced && score(naming) === 0 && ownHits === 0) {
    const sample = [...available].slice(0, 5).map((n) => `'${n}'`).join(', ');
    throw new CheckpointError(file, `none of the model's weights are here: expected names like '${maps.hf[0]?.theirs}' (Hugging Face) or '${maps.google[0]?.theirs}' (Google); the file has ${sample}${available.size > 5 ? ', ...' : ''}`);
  }
  for (const name of declared.keys()) {
    if (!ownNames.has(name) && !maps[naming].some((m) => m.ours === name)) throw new Error(`weight map bug: the model declares '${name}' but the ${naming} weight map does not list it`);
  }
  const missing: string[] = [];
  const missingOptional: string[] = [];
  const used = new Set<string>();
  const filled = new Set<string>();
  let lastName = ''; // fused tensors (c_attn) map to several weights: read once
  let lastTensor: HostTensor | null = null;
  for (const m of map) {
    const leaf = declared.get(m.ours);
    if (!leaf || filled.has(m.ours)) continue; // mapped head not built for this application, or already read under our name
    const want = leaf.shape as number[];
    // Our own name wins: Model.save stores there what no checkpoint name can hold (a head, a diverged shared copy).
    const byOwn = shapes.has(m.ours) && (sameShape(shapes.get(m.ours)!, want) || resolve(m.theirs) === undefined);
    const name = byOwn ? m.ours : resolve(m.theirs);
    if (name === undefined) {
      (m.optional ? missingOptional : missing).push(`'${m.theirs}' (for ${m.ours})`);
      continue;
    }
    if (lastName !== name || !lastTensor) { lastTensor = asDtype(reader.read(name), leaf.dtype, file, name); lastName = name; }
    let t = byOwn ? transform(lastTensor, { ours: m.ours, theirs: name }, want, file, name) : transform(lastTensor, m, want, file, name);
    // A tensor shared by several weights (ALBERT unshared) gets its own buffer, so training can update each.
    if (t.data === lastTensor.data && used.has(name)) t = { ...t, data: (t.data as Float32Array).slice() };
    used.add(name);
    filled.add(m.ours);
    store.set(m.ours, t);
  }
  if (missing.length) {
    const shown = missing.slice(0, 12).join(', ');
    throw new CheckpointError(file, `missing ${missing.length} tensor${missing.length > 1 ? 's' : ''} the model needs (${naming} naming): ${shown}${missing.length > 12 ? ', ...' : ''}`);
  }
  for (const name of plan.restore ?? []) {
    if (used.has(name)) continue;
    if (!available.has(name)) throw new CheckpointError(file, 'listed in config.json (bert4ts.ownNames) but absent from the weights file', name);
    store.set(name, reader.read(name));
    used.add(name);
  }
  const unexpected = [...available].filter((n) => !used.has(n) && !IGNORABLE.some((re) => re.test(n)));
  const allOwn = declared.size > 0 && ownHits === declared.size;
  return { file, naming: allOwn ? 'bert4ts' : naming, loaded: filled.size, missingOptional, unexpected };
}
