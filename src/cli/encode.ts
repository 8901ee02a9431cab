/**
 * `bert4ts encode --model <dir> [--application mlm] TEXT...`: run a model directory (config +
 * checkpoint + tokenizer, or a directory `Model.save` wrote) on texts and print one JSON line per
 * input: the shape and first values of the last hidden state, the top predictions at each [MASK] (mlm)
 * / for the next token (lm), and a classifier's label and probabilities.
 */
import type { Tokenizer } from '../tokenizers/index.ts';
import { idsOption, numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts encode --model <dir> [options] TEXT...
       bert4ts encode --model <dir> --ids 2,45,103,3 [--ids ...]

  --model <dir>        directory with config.json / bert_config.json / hparams.json and a checkpoint, or one model.save wrote
  --application <a>    encoder (default; lm for GPT-2), mlm, lm, unilm, nsp, discriminator, generator
  --family <f>         model family when the config does not say (bert, roberta, albert, albert_unshared, electra, gpt2)
  --checkpoint <path>  checkpoint file or TF prefix (default: found in --model)
  --config <path>      config file (default: found in --model)
  --tokenizer <path>   tokenizer file or directory (default: --model)
  --ids <1,2,3>        token ids instead of text (no tokenizer needed); repeatable
  --mask-id <n>        [MASK] id for --ids with mlm (default: the tokenizer's)
  --top <k>            predictions to print per position (default 5)
  --values <n>         hidden-state values to print (default 8)

Prints one JSON line per input.`;

const command: Command = {
  summary: 'run a model on texts: hidden-state summary, or top predictions for [MASK] (mlm) / the next token (lm)',
  async run(argv) {
    const parsed = parseCommandArgs(argv, {
          model: { type: 'string' }, application: { type: 'string' }, family: { type: 'string' }, checkpoint: { type: 'string' },
          config: { type: 'string' }, tokenizer: { type: 'string' }, ids: { type: 'string', multiple: true }, 'mask-id': { type: 'string' },
          top: { type: 'string' }, values: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        }, USAGE);
    const { values: o, positionals: texts } = parsed;
    if (o.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (!o.model && !(o.config && o.checkpoint)) throw new UsageError(`--model <dir> is required (or both --config and --checkpoint)\n${USAGE}`);
    const idLists = (o.ids ?? []).map((s) => idsOption('ids', s)!);
    if (!texts.length && !idLists.length) throw new UsageError(`give at least one TEXT or --ids\n${USAGE}`);
    const top = numberOption('top', o.top, { integer: true, min: 1, max: 1000 }) ?? 5;
    const shown = numberOption('values', o.values, { integer: true, min: 1, max: 1_000_000 }) ?? 8;
    let maskId = numberOption('mask-id', o['mask-id'], { integer: true, min: 0 });

    const { loadTokenizer } = await import('../tokenizers/index.ts');
    const { buildModel } = await import('../models/index.ts');
    const tokenizer = texts.length ? await loadTokenizer(o.tokenizer ?? o.model!) : null;
    maskId ??= tokenizer?.specialTokens.mask?.id;
    const model = buildModel(o.config ?? o.model!, {
      family: o.family, application: o.application, checkpoint: o.checkpoint ?? o.model!, keepTokens: tokenizer?.keepTokens,
    });
    if (model.loadReport?.unexpected.length) process.stderr.write(`encode: ${model.loadReport.unexpected.length} checkpoint tensors unused: ${model.loadReport.unexpected.slice(0, 8).join(', ')}\n`);
    const tokenOf = (id: number): string | undefined => (tokenizer ? tokenizer.idToToken(id) : undefined);

    const inputs: { text?: string; ids: number[]; segments: number[] }[] = [
      ...texts.map((text) => ({ text, ...encodeWithMask(tokenizer!, text) })),
      ...idLists.map((ids) => ({ ids, segments: ids.map(() => 0) })),
    ];
    for (const x of inputs) {
      const feeds: Record<string, number[][]> = { input_ids: [x.ids] };
      if (model.inputs.token_type_ids) feeds.token_type_ids = [x.segments];
      const out = await model.predict(feeds, { outputs: Object.keys(model.outputs).filter((n) => n !== 'loss') });
      const line: Record<string, unknown> = { ...(x.text !== undefined ? { text: x.text, tokens: x.ids.map((id) => tokenOf(id)) } : {}), ids: x.ids };
      const hidden = out.last_hidden_state!;
      line.shape = hidden.shape;
      const logits = out.logits;
      if (logits && logits.shape.length === 3 && (model.application === 'mlm' || model.application === 'generator')) {
        const positions = maskId !== undefined && x.ids.includes(maskId) ? x.ids.flatMap((id, t) => (id === maskId ? [t] : [])) : x.ids.map((_, t) => t);
        line.predictions = positions.map((t) => ({ position: t, top: topK(logits.data as Float32Array, t, logits.shape[2]!, top, tokenOf) }));
      } else if (logits && logits.shape.length === 3 && model.application !== 'tagger') {
        line.next = topK(logits.data as Float32Array, x.ids.length - 1, logits.shape[2]!, top, tokenOf);
      } else {
        line.first = Array.from((hidden.data as Float32Array).subarray(0, shown), round);
        if (out.pooler_output) line.pooler_first = Array.from((out.pooler_output.data as Float32Array).subarray(0, shown), round);
        if (logits) line.logits = Array.from(logits.data as Float32Array, round);
        if (logits && model.labels && logits.shape.length === 2) Object.assign(line, classify(logits.data as Float32Array, model.labels));
      }
      process.stdout.write(JSON.stringify(line) + '\n');
    }
    return 0;
  },
};

/**
 * Encode `text` keeping a literal mask token (e.g. "[MASK]") as the mask id: WordPiece would split
 * it into "[", "mask", "]".
 */
export function encodeWithMask(tokenizer: Tokenizer, text: string): { ids: number[]; segments: number[] } {
  const mask = tokenizer.specialTokens.mask;
  if (!mask || !text.includes(mask.token)) {
    const e = tokenizer.encode(text);
    return { ids: e.ids, segments: e.segments };
  }
  const body = text.split(mask.token).flatMap((part, i) => [...(i > 0 ? [mask.id] : []), ...(part.trim() ? tokenizer.encode(part, undefined, { addSpecialTokens: false }).ids : [])]);
  const { cls, sep, eos } = tokenizer.specialTokens;
  const ids = tokenizer.framing === 'bert' && cls && sep ? [cls.id, ...body, sep.id] : tokenizer.framing === 'eos' && eos ? [...body, eos.id] : body;
  return { ids, segments: ids.map(() => 0) };
}

export const round = (v: number) => Number(v.toPrecision(6));

/** Softmax of one row of logits. */
export function softmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** A classifier's answer for logits [C]: the most likely label and every label's probability. */
export function classify(logits: ArrayLike<number>, labels: readonly string[]): { label: string; probabilities: Record<string, number> } {
  const p = softmax(logits);
  const best = p.indexOf(Math.max(...p));
  return { label: labels[best]!, probabilities: Object.fromEntries(labels.map((l, i) => [l, round(p[i]!)])) };
}

/** The k most likely ids at position t of logits [1, T, V], with softmax probabilities. */
export function topK(logits: Float32Array, t: number, vocab: number, k: number, tokenOf: (id: number) => string | undefined): { id: number; token?: string; p: number }[] {
  const row = logits.subarray(t * vocab, (t + 1) * vocab);
  const p = softmax(row);
  const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!).slice(0, k);
  return order.map((id) => ({ id, token: tokenOf(id), p: round(p[id]!) }));
}

export default command;
