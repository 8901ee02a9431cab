/**
 * `bert4ts evaluate --model DIR --test FILE`: the test metric of a fine-tuned model directory
 * (`bert4ts finetune`'s, or a task example's), scored as `finetune` scores its test split; with
 * `--quantize all`, fp32 and each int8 mode side by side on the same rows, to see what int8 costs.
 * The task follows from the model (a classifier, a tagger with softmax or CRF, a GlobalPointer span
 * model, a UniLM or T5 seq2seq model), its settings from what fine-tuning recorded in config.json.
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts evaluate --model DIR --test FILE [--quantize MODES] [options]

  --model DIR           a fine-tuned model directory: classifier, tagger (softmax or CRF), GlobalPointer
                        span model, UniLM or T5 seq2seq
  --test FILE           TSV or JSONL rows, read as bert4ts finetune reads them (same column options); span
                        rows: text and spans, a JSONL array of {start, end, label} (characters, end exclusive)
                        or space-separated label:start:end keys
  --quantize MODES      fp32, dynamic-int8, weight-only-int8, int4, comma-separated, or all: the metric in
                        each mode on the same rows (default: the model as saved)
  --embeddings          int8 modes: embedding tables int8 too (default: as saved)
  --maxlen N            tokens per row, [CLS] and [SEP] included (default: what the model was fine-tuned
                        with, recorded in config.json; 128 for a model saved without the record; a CRF
                        tagger: its own)
  --max-target-len N    seq2seq: target tokens    --beam K   seq2seq: beam search (default: as fine-tuned,
                        else 32 and greedy)
  --no-repeat-ngram N   seq2seq: never generate the same N tokens twice (default: as fine-tuned, else off)
  --text-column C  --label-column C  --tags-column C  --spans-column C  --source-column C  --target-column C
  --limit N             score only the first N rows

Prints one line per mode on stderr and, last on stdout, one JSON line:
{"model", "task", "rows", "settings", "scores": [{"mode", "metrics", "seconds", "agreement"}]}; task: classify,
tag, tag-crf, spans or seq2seq; settings: the maxlen (...) used; agreement (int8 modes, when fp32 is scored
too): the share of rows predicted exactly as fp32 does, and for tags of characters.`;

const command: Command = {
  summary: 'score a fine-tuned model directory on a test file, fp32 and int8 side by side (--quantize all)',
  async run(argv) {
    const { values: a, positionals } = parseCommandArgs(argv, {
      model: { type: 'string' }, test: { type: 'string' }, quantize: { type: 'string' }, embeddings: { type: 'boolean' },
      maxlen: { type: 'string' }, 'max-target-len': { type: 'string' }, beam: { type: 'string' }, 'no-repeat-ngram': { type: 'string' }, limit: { type: 'string' },
      'text-column': { type: 'string' }, 'label-column': { type: 'string' }, 'source-column': { type: 'string' }, 'target-column': { type: 'string' },
      'tags-column': { type: 'string' }, 'spans-column': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (a.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    for (const k of ['model', 'test'] as const) if (!a[k]) throw new UsageError(`--${k} is required\n${USAGE}`);
    const n = {
      maxlen: numberOption('maxlen', a.maxlen, { integer: true, min: 4 }),
      maxTarget: numberOption('max-target-len', a['max-target-len'], { integer: true, min: 1 }),
      beam: numberOption('beam', a.beam, { integer: true, min: 1 }),
      noRepeatNgram: numberOption('no-repeat-ngram', a['no-repeat-ngram'], { integer: true, min: 1 }),
      limit: numberOption('limit', a.limit, { integer: true, min: 1 }),
    };
    const { formatMetrics } = await import('../tasks/finetune.ts');
    const { EvalOptionError, evaluateModes, parseEvalModes, readRowsFor, taskForModel } = await import('../tasks/evaluate.ts');
    let modes;
    try {
      modes = a.quantize === undefined ? undefined : parseEvalModes(a.quantize);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { existsSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    if (!existsSync(a.model!) || !statSync(a.model!).isDirectory()) throw new Error(`--model ${a.model}: not a directory (give a model directory that bert4ts finetune or a task example saved)`);
    if (!existsSync(join(a.model!, 'config.json'))) throw new Error(`--model ${a.model}: no config.json; a fine-tuned model directory holds config.json, model.safetensors and the tokenizer`);
    const { buildModel } = await import('../models/index.ts');
    const { loadTokenizer } = await import('../tokenizers/index.ts');
    const model = buildModel(a.model!); // a saved head (crf-128x6, global-pointer-1x64, ...) registers itself from its name
    const tokenizer = await loadTokenizer(a.model!);
    let mt;
    try {
      mt = taskForModel(model, tokenizer, { maxlen: n.maxlen, maxTarget: n.maxTarget, beam: n.beam, noRepeatNgram: n.noRepeatNgram, where: a.model });
    } catch (e) {
      if (e instanceof EvalOptionError) throw new UsageError(e.message);
      throw e;
    }
    for (const note of mt.notes) process.stderr.write(`note: ${note}\n`);
    const columns: import('../tasks/finetune.ts').Columns = {
      text: a['text-column'], label: a['label-column'], source: a['source-column'], target: a['target-column'], tags: a['tags-column'], spans: a['spans-column'],
    };
    const rows = readRowsFor(model, mt.kind, a.test!, columns, n.limit);
    const saved = model.options.quantize;
    const scores = await evaluateModes(model, modes ?? [saved?.mode ?? 'fp32'], mt.task, rows, { embeddings: a.embeddings ?? saved?.embeddings });
    for (const s of scores) {
      const agree = s.agreement ? `; same prediction as fp32 on ${(100 * s.agreement.rows).toFixed(2)}% of rows${s.agreement.items !== undefined ? `, ${(100 * s.agreement.items).toFixed(2)}% of characters` : ''}` : '';
      process.stderr.write(`${s.mode.padEnd(16)} ${formatMetrics(s.metrics)}  (${s.seconds.toFixed(1)} s${agree})\n`);
    }
    const { task: _, ...settings } = mt.settings;
    process.stdout.write(JSON.stringify({ model: a.model, task: mt.kind, rows: rows.length, settings, scores }) + '\n');
    return 0;
  },
};

export default command;
