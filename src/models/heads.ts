/**
 * Heads on top of a family's graph, and class labels.
 *
 * A custom head is registered once by name (`registerHead('sentiment', (scope, model) => ({ logits: ... }))`)
 * and asked for with `buildModel(..., { head: 'sentiment' })`. Its weights live under `heads/<name>/`,
 * `Model.save` writes them under those names and records the head's name in config.json, so
 * `buildModel(dir)` in another process finds the builder again by name: the process must have
 * registered it (import the module that does) — a missing registration is an error naming the head.
 *
 * Labels follow Hugging Face: `id2label` / `label2id` / `num_labels`, checked to agree with each other.
 */
import type { Tensor } from '../graph/tensor.ts';
import type { Scope } from '../nn/params.ts';
import { ConfigError } from './config.ts';
import type { BuildOptions, ModelInputs, ModelOutputs } from './family.ts';

/** What a head sees: the family's graph (inputs and outputs such as last_hidden_state) and how it was built. */
export interface HeadContext {
  family: string;
  application: string;
  config: unknown;
  options: BuildOptions;
  inputs: ModelInputs;
  outputs: ModelOutputs;
}

export interface HeadDefinition {
  /** New outputs (merged over the family's; a `logits` output replaces the family's and its loss). */
  build(scope: Scope, model: HeadContext): ModelOutputs;
  /** The training loss over the head's outputs; `labels` becomes a graph input. */
  loss?(outputs: ModelOutputs, model: HeadContext): { labels: Tensor; loss: Tensor };
}

const HEADS = new Map<string, HeadDefinition>();

/** Make a head available to buildModel (and to buildModel(dir) of a saved model) under `name`. */
export function registerHead(name: string, head: HeadDefinition | HeadDefinition['build']): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) throw new ConfigError(`registerHead: name must be letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
  const def = typeof head === 'function' ? { build: head } : head;
  if (!def || typeof def.build !== 'function') throw new ConfigError(`registerHead('${name}'): give a build function or { build, loss? }`);
  const old = HEADS.get(name);
  if (old && old.build !== def.build) throw new ConfigError(`registerHead: a different head is already registered as '${name}'`);
  HEADS.set(name, def);
  return name;
}

/**
 * Heads with a size in their name (`crf-128x7`, `global-pointer-3x64`): a saved model names one and
 * `buildModel(dir)` in any process rebuilds it from the name, with no registration by the user.
 */
const FAMILIES: { pattern: RegExp; make: (match: RegExpExecArray) => string }[] = [];

export function registerHeadFamily(pattern: RegExp, make: (match: RegExpExecArray) => string): void {
  FAMILIES.push({ pattern, make });
}

export function findHead(name: string, source: string): HeadDefinition {
  let head = HEADS.get(name);
  if (!head) {
    for (const f of FAMILIES) {
      const m = f.pattern.exec(name);
      if (m && f.make(m) === name) head = HEADS.get(name);
    }
  }
  if (!head) {
    const known = [...HEADS.keys()];
    throw new ConfigError(`${source}: head '${name}' is not registered in this process${known.length ? ` (registered: ${known.join(', ')})` : ''}; import the module that calls registerHead('${name}', ...) before buildModel`);
  }
  return head;
}

/** The head's scope: its weights are named heads/<name>/... */
export const headScopeName = (name: string) => `heads/${name}`;

/** Class names: non-empty, distinct strings. */
export function checkLabels(labels: unknown, source: string): string[] {
  if (!Array.isArray(labels) || labels.length === 0) throw new ConfigError(`${source}: labels must be a non-empty array of strings`);
  const seen = new Set<string>();
  for (const [i, l] of labels.entries()) {
    if (typeof l !== 'string' || l === '') throw new ConfigError(`${source}: label ${i} must be a non-empty string, got ${JSON.stringify(l)}`);
    if (seen.has(l)) throw new ConfigError(`${source}: label '${l}' is listed twice`);
    seen.add(l);
  }
  return labels as string[];
}

/**
 * Labels from Hugging Face keys, or undefined when the config has none: id2label must hold exactly the
 * ids 0..num_labels-1, and label2id (when present) must map each of those labels back to its id.
 */
export function labelsFromConfig(raw: Record<string, unknown>, source: string): string[] | undefined {
  const { id2label, label2id, num_labels: numLabels } = raw;
  if (id2label === undefined && numLabels === undefined) return undefined;
  if (numLabels !== undefined && (typeof numLabels !== 'number' || !Number.isInteger(numLabels) || numLabels < 1 || numLabels > 1_000_000)) {
    throw new ConfigError(`${source}: 'num_labels' must be a positive integer, got ${JSON.stringify(numLabels)}`);
  }
  let labels: string[];
  if (id2label === undefined) labels = Array.from({ length: numLabels as number }, (_, i) => `LABEL_${i}`);
  else {
    if (id2label === null || typeof id2label !== 'object' || Array.isArray(id2label)) throw new ConfigError(`${source}: 'id2label' must be an object of id -> label`);
    const entries = Object.entries(id2label as Record<string, unknown>);
    const n = (numLabels as number | undefined) ?? entries.length;
    labels = new Array<string>(n);
    for (const [key, label] of entries) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || id >= n) throw new ConfigError(`${source}: id2label has id '${key}' outside 0..${n - 1} (num_labels ${n})`);
      labels[id] = label as string;
    }
    const absent = Array.from(labels.keys()).filter((i) => labels[i] === undefined);
    if (absent.length) throw new ConfigError(`${source}: id2label lacks id${absent.length > 1 ? 's' : ''} ${absent.slice(0, 8).join(', ')} (num_labels ${n})`);
    checkLabels(labels, `${source}: id2label`);
  }
  if (label2id !== undefined) {
    if (label2id === null || typeof label2id !== 'object' || Array.isArray(label2id)) throw new ConfigError(`${source}: 'label2id' must be an object of label -> id`);
    for (const [label, id] of Object.entries(label2id as Record<string, unknown>)) {
      if (labels[id as number] !== label) throw new ConfigError(`${source}: label2id maps '${label}' to ${JSON.stringify(id)}, but id2label ${labels.includes(label) ? `gives it id ${labels.indexOf(label)}` : 'has no such label'}`);
    }
  }
  return labels;
}

/** Hugging Face classifier architectures -> our application, with the labels; undefined for other configs. */
export function classifierFromConfig(raw: Record<string, unknown>, source: string): { application: 'encoder' | 'tagger'; labels: string[] } | undefined {
  const archs = Array.isArray(raw.architectures) ? raw.architectures.filter((a): a is string => typeof a === 'string') : [];
  const application = archs.some((a) => a.endsWith('ForSequenceClassification')) ? 'encoder' : archs.some((a) => a.endsWith('ForTokenClassification')) ? 'tagger' : undefined;
  if (!application) return undefined;
  // HF's default when a classifier config names no labels: two classes.
  return { application, labels: labelsFromConfig(raw, source) ?? ['LABEL_0', 'LABEL_1'] };
}
