/**
 * Entity spans from BIO / BIOES tag sequences and span-level precision / recall / F1, as seqeval
 * (1.2.2) computes them.
 *
 * Two modes, as in seqeval:
 * - default (no `scheme`): seqeval's lenient, conlleval-like chunking. Malformed sequences still make
 *   spans: an I- without a B- starts one (`O I-PER I-PER` is PER [1, 3)), a type change inside a
 *   chunk ends it and starts another (`B-PER I-LOC` is PER [0, 1) and LOC [1, 2)), E-/S- are read too.
 * - strict (`scheme: 'IOB2' | 'IOE2' | 'IOBES'`): only well-formed chunks count (`I-PER` without
 *   `B-PER` is no span in IOB2; `B-PER I-PER O` is no span in IOBES, which needs the E-), and a tag
 *   whose prefix the scheme does not allow is an error.
 * Spans are [start, end) token indices. A span is scored once even if it appears twice.
 */
import { MetricError, report, type Counts, type PRFReport } from './classification.ts';

export type Scheme = 'IOB2' | 'IOE2' | 'IOBES';

export interface Span {
  type: string;
  /** First token. */
  start: number;
  /** One past the last token. */
  end: number;
}

export interface SpanOptions {
  /** Strict mode with this scheme; omitted: seqeval's default (lenient) mode. */
  scheme?: Scheme;
}

function split(metric: string, chunk: string, where: () => string): [prefix: string, rest: string] {
  if (typeof chunk !== 'string' || chunk.length === 0) throw new MetricError(metric, `${where()}: tag ${JSON.stringify(chunk)} is not a non-empty string`);
  const [prefix = '', ...rest] = chunk; // by code point, as Python indexes strings
  return [prefix, rest.join('')];
}

/**
 * seqeval's `get_entities` over one flat sequence (seqeval flattens sentences with an 'O' between
 * them; callers do the same so that even its quirks with unknown tags carry over). Inclusive ends.
 */
function lenientChunks(seq: readonly string[], where: (i: number) => string): [string, number, number][] {
  const chunks: [string, number, number][] = [];
  let prevTag = 'O', prevType = '', begin = 0;
  for (let i = 0; i <= seq.length; i++) {
    const [tag, rest] = i < seq.length ? split('spans', seq[i]!, () => where(i)) : ['O', ''];
    const dash = rest.indexOf('-');
    const type = (dash < 0 ? rest : rest.slice(dash + 1)) || '_'; // chunk[1:].split('-', 1)[-1] or '_'
    const chunkEnd = prevTag === 'E' || prevTag === 'S' ||
      ((prevTag === 'B' || prevTag === 'I') && (tag === 'B' || tag === 'S' || tag === 'O')) ||
      (prevTag !== 'O' && prevTag !== '.' && prevType !== type);
    const chunkStart = tag === 'B' || tag === 'S' ||
      ((prevTag === 'E' || prevTag === 'S' || prevTag === 'O') && (tag === 'E' || tag === 'I')) ||
      (tag !== 'O' && tag !== '.' && prevType !== type);
    if (chunkEnd) chunks.push([prevType, begin, i - 1]);
    if (chunkStart) begin = i;
    prevTag = tag;
    prevType = type;
  }
  return chunks;
}

// seqeval's scheme tables (seqeval/scheme.py): [previous prefixes, current prefixes, tag condition];
// '=' same type, '!' different type, '*' either.
type Pattern = [string, string, '=' | '!' | '*'];
const ANY = 'IOBES';
const SCHEMES = {
  IOB2: {
    allowed: 'IOB',
    start: [[ANY, 'B', '*']],
    inside: [['B', 'I', '='], ['I', 'I', '=']],
    end: [['I', 'O', '*'], ['I', 'I', '!'], ['I', 'B', '*'], ['B', 'O', '*'], ['B', 'I', '!'], ['B', 'B', '*']],
  },
  IOE2: {
    allowed: 'IOE',
    start: [['O', 'I', '*'], ['O', 'E', '*'], ['E', 'I', '*'], ['E', 'E', '*'], ['I', 'I', '!'], ['I', 'E', '!']],
    inside: [['I', 'E', '='], ['I', 'I', '=']],
    end: [['E', ANY, '*']],
  },
  IOBES: {
    allowed: 'IOBES',
    start: [[ANY, 'B', '*'], [ANY, 'S', '*']],
    inside: [['B', 'I', '='], ['B', 'E', '='], ['I', 'I', '='], ['I', 'E', '=']],
    end: [['S', ANY, '*'], ['E', ANY, '*']],
  },
} satisfies Record<Scheme, { allowed: string; start: Pattern[]; inside: Pattern[]; end: Pattern[] }>;

interface Token { prefix: string; type: string }

const matches = (patterns: Pattern[], prev: Token, cur: Token) => patterns.some(([p, c, cond]) =>
  p.includes(prev.prefix) && c.includes(cur.prefix) && (cond === '*' || (cond === '=') === (prev.type === cur.type)));

/** seqeval's strict `Tokens.entities` for one sentence. */
function strictSpans(tags: readonly string[], scheme: Scheme, where: (i: number) => string): Span[] {
  const rules = SCHEMES[scheme];
  const outside: Token = { prefix: 'O', type: '_' };
  const tokens: Token[] = tags.map((t, i) => {
    const [prefix, rest] = split('spans', t, () => where(i));
    if (!rules.allowed.includes(prefix)) throw new MetricError('spans', `${where(i)}: tag '${t}' has a prefix ${scheme} does not allow (allowed: ${[...rules.allowed].join(', ')})`);
    return { prefix, type: rest.replace(/^-+|-+$/g, '') || '_' };
  });
  tokens.push(outside); // sentinel, as seqeval appends one
  const spans: Span[] = [];
  let i = 0, prev = outside;
  while (i < tokens.length) {
    const token = tokens[i]!;
    if (matches(rules.start, prev, token)) {
      let end = i + 1, last = token;
      while (matches(rules.inside, last, tokens[end]!)) last = tokens[end++]!; // the sentinel is never inside
      if (matches(rules.end, tokens[end - 1]!, tokens[end]!)) spans.push({ type: token.type, start: i, end });
      i = end;
    } else i++;
    prev = tokens[i - 1]!;
  }
  return spans;
}

/** The entity spans of one tag sequence. */
export function extractSpans(tags: readonly string[], options: SpanOptions = {}): Span[] {
  if (!Array.isArray(tags)) throw new MetricError('spans', 'tags must be an array of strings');
  const where = (i: number) => `position ${i}`;
  if (options.scheme) return strictSpans(tags, options.scheme, where);
  return lenientChunks(tags, where).map(([type, start, last]) => ({ type, start, end: last + 1 }));
}

/** Span keys of every sentence, by type; in default mode over seqeval's flattened sequence. */
function spansByType(sentences: readonly (readonly string[])[], options: SpanOptions, side: string): Map<string, Set<string>> {
  const byType = new Map<string, Set<string>>();
  const add = (type: string, key: string) => {
    let set = byType.get(type);
    if (!set) byType.set(type, (set = new Set()));
    set.add(key);
  };
  if (options.scheme) {
    sentences.forEach((tags, s) => {
      for (const sp of strictSpans(tags, options.scheme!, (i) => `${side} row ${s}, position ${i}`)) add(sp.type, `${s}:${sp.start}:${sp.end}`);
    });
  } else {
    const flat: string[] = [], rowOf: [number, number][] = [];
    sentences.forEach((tags, s) => {
      tags.forEach((t, i) => (flat.push(t), rowOf.push([s, i])));
      flat.push('O'), rowOf.push([s, tags.length]);
    });
    const where = (i: number) => `${side} row ${rowOf[i]![0]}, position ${rowOf[i]![1]}`;
    for (const [type, start, last] of lenientChunks(flat, where)) add(type, `${start}:${last}`);
  }
  return byType;
}

/**
 * Span-level scores (seqeval's `precision_recall_fscore_support` / `classification_report`): a
 * predicted span counts when type, start and end all match. Per type over the types found in
 * labels or predictions; macro is their unweighted mean.
 */
export function spanPRF(labels: readonly (readonly string[])[], predictions: readonly (readonly string[])[], options: SpanOptions = {}): PRFReport {
  if (!Array.isArray(labels) || !Array.isArray(predictions)) throw new MetricError('spanPRF', 'labels and predictions must be arrays of tag sequences');
  if (labels.length !== predictions.length) throw new MetricError('spanPRF', `${labels.length} label sequences but ${predictions.length} predicted`);
  labels.forEach((y, i) => {
    if (!Array.isArray(y) || !Array.isArray(predictions[i])) throw new MetricError('spanPRF', `row ${i}: expected two arrays of tags`);
    if (y.length !== predictions[i]!.length) throw new MetricError('spanPRF', `row ${i}: ${y.length} labels but ${predictions[i]!.length} predicted tags`);
  });
  const truth = spansByType(labels, options, 'labels'), pred = spansByType(predictions, options, 'predictions');
  const counts = new Map<string, Counts>();
  for (const type of new Set([...truth.keys(), ...pred.keys()])) {
    const t = truth.get(type) ?? new Set(), p = pred.get(type) ?? new Set();
    let tp = 0;
    for (const k of p) if (t.has(k)) tp++;
    counts.set(type, { tp, predicted: p.size, actual: t.size });
  }
  return report(counts);
}
