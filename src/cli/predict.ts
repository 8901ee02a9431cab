/**
 * `bert4ts predict --model DIR TEXT...`: run a model directory (one `Model.save` wrote, or a Hugging
 * Face directory: config.json + weights + tokenizer) on texts, one JSON line per text, shaped by what
 * the model is:
 *   classifier  {text, label, probabilities: {label: p}}
 *   tagger      {text, spans: [{start, end, label, text}]}  (BIO / BIOES tags, character offsets; a CRF
 *               tagger decodes by Viterbi)
 *   GlobalPointer {text, spans: [{start, end, label, text, score}]}  (spans scoring > 0)
 *   mlm         {text, predictions: [{position, top: [{id, token, p}]}]} at each mask token
 *   lm          {text, next: [{id, token, p}]}
 *   encoder     {text, dim, norm, vector}  (the pooler output, else the mean of the last hidden state)
 *   a custom head without class logits: {text, outputs: {name: {shape, values}}}
 */
import type { HostTensor } from '../graph/dtype.ts';
import type { Model } from '../models/index.ts';
import type { Tokenizer } from '../tokenizers/index.ts';
import { classify, encodeWithMask, round, topK } from './encode.ts';
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts predict --model <dir> [options] TEXT...

  --model <dir>        a directory model.save wrote, or config.json + weights + tokenizer files
  --application <a>    override the saved application (e.g. mlm)
  --top <k>            mlm / lm: predictions per position (default 5)
  --values <n>         encoder: vector values to print (default 8)
  --max-length <n>     truncate each text to n tokens (default: the model's maximum)

Prints one JSON line per TEXT: a classifier's label and probabilities, a tagger's spans, an MLM's top
predictions at each mask, an LM's next token, or an encoder's pooled vector.`;

const command: Command = {
  summary: "run a saved model on texts: a classifier's label, a tagger's spans, MLM predictions or a pooled vector",
  async run(argv) {
    const { values: o, positionals: texts } = parseCommandArgs(argv, {
      model: { type: 'string' }, application: { type: 'string' }, top: { type: 'string' }, values: { type: 'string' },
      'max-length': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (o.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (!o.model) throw new UsageError(`--model <dir> is required\n${USAGE}`);
    if (!texts.length) throw new UsageError(`give at least one TEXT\n${USAGE}`);
    const top = numberOption('top', o.top, { integer: true, min: 1, max: 1000 }) ?? 5;
    const shown = numberOption('values', o.values, { integer: true, min: 1, max: 1_000_000 }) ?? 8;
    const maxLength = numberOption('max-length', o['max-length'], { integer: true, min: 2 });

    const { buildModel } = await import('../models/index.ts');
    const { loadTokenizer } = await import('../tokenizers/index.ts');
    const tokenizer = await loadTokenizer(o.model);
    const model = buildModel(o.model, { checkpoint: o.model, application: o.application, keepTokens: tokenizer.keepTokens });
    if (model.application === 'seq2seq' || model.application === 'decoder') throw new Error(`${o.model}: a ${model.family} ${model.application} model generates text; use bert4ts generate`);
    const maxlen = Math.min(maxLength ?? Infinity, model.maxTokens ?? Infinity);
    for (const text of texts) process.stdout.write(JSON.stringify(await predictOne(model, tokenizer, text, { top, shown, maxlen })) + '\n');
    return 0;
  },
};

async function predictOne(model: Model, tokenizer: Tokenizer, text: string, k: { top: number; shown: number; maxlen: number }): Promise<Record<string, unknown>> {
  const masked = model.application === 'mlm' || model.application === 'generator';
  const e = masked ? { ...encodeWithMask(tokenizer, text), offsets: [] } : tokenizer.encode(text, undefined, Number.isFinite(k.maxlen) ? { maxlen: k.maxlen } : {});
  if (e.ids.length > k.maxlen) throw new Error(`${e.ids.length} tokens exceed the model's ${k.maxlen}; pass --max-length`);
  const feeds: Record<string, number[][]> = { input_ids: [e.ids] };
  if (model.inputs.token_type_ids) feeds.token_type_ids = [e.segments];
  const out = await model.predict(feeds, { outputs: Object.keys(model.outputs).filter((n) => n !== 'loss') });
  const logits = out.logits;
  const { isCrfHead, isGlobalPointerHead, crfTransitionsWeight } = await import('../models/taskHeads.ts');
  const { ViterbiDecoder } = await import('../nn/crf.ts');
  const { decodeSpans } = await import('../nn/globalPointer.ts');
  const tokenOf = (id: number) => tokenizer.idToToken(id);
  const line: Record<string, unknown> = { text };
  if (logits && logits.shape.length === 2 && (model.labels || model.options.head !== undefined)) {
    const labels = model.labels ?? Array.from({ length: logits.shape[1]! }, (_, i) => `LABEL_${i}`);
    return Object.assign(line, classify(logits.data as Float32Array, labels));
  }
  if (model.application === 'tagger' && logits) {
    const C = logits.shape[2]!;
    const labels = model.labels ?? Array.from({ length: C }, (_, i) => `LABEL_${i}`);
    const head = model.options.head;
    // A CRF tagger decodes the best path under its transitions; a softmax tagger takes each position's best tag.
    const path = isCrfHead(head) ? new ViterbiDecoder(model.store.get(crfTransitionsWeight(head))!).decode(logits.data as Float32Array, e.ids.length, 0)
      : e.ids.map((_, t) => argmax((logits.data as Float32Array).subarray(t * C, (t + 1) * C)));
    return Object.assign(line, { spans: spansFromTags(text, path.map((k) => labels[k]!), e.offsets) });
  }
  if (isGlobalPointerHead(model.options.head) && logits && logits.shape.length === 4) {
    const labels = model.labels ?? Array.from({ length: logits.shape[1]! }, (_, i) => `LABEL_${i}`);
    const spans = decodeSpans(logits)
      .filter((s) => s.start <= s.end && e.offsets[s.start]![0] !== e.offsets[s.start]![1] && e.offsets[s.end]![0] !== e.offsets[s.end]![1]) // not [CLS]/[SEP]
      .sort((a, b) => a.start - b.start || a.end - b.end)
      .map((s) => { const start = e.offsets[s.start]![0], end = e.offsets[s.end]![1]; return { start, end, label: labels[s.head]!, text: text.slice(start, end), score: round(s.score) }; });
    return Object.assign(line, { spans });
  }
  if (masked && logits) {
    const maskId = tokenizer.specialTokens.mask?.id;
    const positions = e.ids.flatMap((id, t) => (id === maskId ? [t] : []));
    if (!positions.length) throw new Error(`no ${tokenizer.specialTokens.mask?.token ?? 'mask token'} in ${JSON.stringify(text)}: an MLM predicts at masks`);
    return Object.assign(line, { predictions: positions.map((t) => ({ position: t, top: topK(logits.data as Float32Array, t, logits.shape[2]!, k.top, tokenOf) })) });
  }
  if (model.application === 'lm' && logits) return Object.assign(line, { next: topK(logits.data as Float32Array, e.ids.length - 1, logits.shape[2]!, k.top, tokenOf) });
  if (model.options.head !== undefined) {
    const headOutputs = Object.entries(out).filter(([n]) => !['last_hidden_state', 'pooler_output'].includes(n));
    return Object.assign(line, { outputs: Object.fromEntries(headOutputs.map(([n, t]) => [n, { shape: t.shape, values: Array.from(t.data as Float32Array).slice(0, k.shown).map(round) }])) });
  }
  const vector = out.pooler_output ? Array.from(out.pooler_output.data as Float32Array) : meanRows(out.last_hidden_state!);
  return Object.assign(line, { dim: vector.length, norm: round(Math.hypot(...vector)), vector: vector.slice(0, k.shown).map(round) });
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Mean over positions of a [1, T, H] tensor. */
function meanRows(h: HostTensor): number[] {
  const [, T, H] = h.shape as [number, number, number];
  const sum = new Array<number>(H).fill(0);
  for (let t = 0; t < T; t++) for (let j = 0; j < H; j++) sum[j]! += (h.data as Float32Array)[t * H + j]! / T;
  return sum;
}

/**
 * Entity spans from per-token tags (BIO, BIOES / BILOU, or bare labels whose runs are spans), with
 * character offsets from the tokenizer. Tokens with empty offsets ([CLS], [SEP]) end a span.
 */
export function spansFromTags(text: string, tags: string[], offsets: [number, number][]): { start: number; end: number; label: string; text: string }[] {
  const spans: { start: number; end: number; label: string; text: string }[] = [];
  let open: { start: number; end: number; label: string } | null = null;
  const close = () => {
    if (open) spans.push({ ...open, text: text.slice(open.start, open.end) });
    open = null;
  };
  tags.forEach((tag, t) => {
    const [start, end] = offsets[t] ?? [0, 0];
    const m = /^([BIESLUM])-(.+)$/.exec(tag);
    if (start === end || tag === 'O' || tag === '') return close();
    const [prefix, label] = m ? [m[1]!, m[2]!] : ['I', tag];
    const continues = open !== null && (open as { label: string }).label === label && prefix !== 'B' && prefix !== 'S' && prefix !== 'U';
    if (continues) open!.end = end;
    else {
      close();
      open = { start, end, label };
    }
    if (prefix === 'E' || prefix === 'S' || prefix === 'L' || prefix === 'U') close();
  });
  close();
  return spans;
}

export default command;
