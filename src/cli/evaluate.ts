/**
 * `bert4ts evaluate --model DIR --test FILE`: the test metric of a fine-tuned model directory
 * (`bert4ts finetune`'s, or a task example's), scored as `finetune` scores its test split; with
 * `--quantize all`, fp32 and each int8 mode side by side on the same rows, to see what int8 costs.
 * The task follows from the model: a classifier, a tagger (softmax or CRF) or a seq2seq model (UniLM, T5).
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';
import { T5_FAMILIES } from '../models/t5.ts';

const USAGE = `usage: bert4ts evaluate --model DIR --test FILE [--quantize MODES] [options]

  --model DIR           a fine-tuned model directory: classifier, tagger (softmax or CRF), UniLM or T5 seq2seq
  --test FILE           TSV or JSONL rows, read as bert4ts finetune reads them (same column options)
  --quantize MODES      fp32, dynamic-int8, weight-only-int8, comma-separated, or all: the metric in each
                        mode on the same rows (default: the model as saved)
  --embeddings          int8 modes: embedding tables int8 too (default: as saved)
  --maxlen N            tokens per row, [CLS] and [SEP] included (default 128; a CRF tagger: its own)
  --max-target-len N    seq2seq: target tokens (default 32)    --beam K   seq2seq: beam search (default greedy)
  --text-column C  --label-column C  --tags-column C  --source-column C  --target-column C
  --limit N             score only the first N rows

Prints one line per mode on stderr and, last on stdout, one JSON line:
{"model", "task", "rows", "scores": [{"mode", "metrics", "seconds", "agreement"}]}; agreement (int8 modes,
when fp32 is scored too): the share of rows predicted exactly as fp32 does, and for tags of characters.`;

const command: Command = {
  summary: 'score a fine-tuned model directory on a test file, fp32 and int8 side by side (--quantize all)',
  async run(argv) {
    const { values: a, positionals } = parseCommandArgs(argv, {
      model: { type: 'string' }, test: { type: 'string' }, quantize: { type: 'string' }, embeddings: { type: 'boolean' },
      maxlen: { type: 'string' }, 'max-target-len': { type: 'string' }, beam: { type: 'string' }, limit: { type: 'string' },
      'text-column': { type: 'string' }, 'label-column': { type: 'string' }, 'source-column': { type: 'string' }, 'target-column': { type: 'string' }, 'tags-column': { type: 'string' },
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
      maxTarget: numberOption('max-target-len', a['max-target-len'], { integer: true, min: 1 }) ?? 32,
      beam: numberOption('beam', a.beam, { integer: true, min: 1 }) ?? 1,
      limit: numberOption('limit', a.limit, { integer: true, min: 1 }),
    };
    const t = await import('../tasks/finetune.ts');
    const { evaluateModes, parseEvalModes } = await import('../tasks/evaluate.ts');
    let modes;
    try {
      modes = a.quantize === undefined ? undefined : parseEvalModes(a.quantize);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { buildModel } = await import('../models/index.ts');
    const { isCrfHead, isGlobalPointerHead } = await import('../models/taskHeads.ts');
    const { loadTokenizer } = await import('../tokenizers/index.ts');
    const tokenizer = await loadTokenizer(a.model!);
    const model = buildModel(a.model!); // a saved head (crf-128x6, ...) registers itself from its name
    const head = model.options.head;
    const crf = isCrfHead(head) ? Number(/^crf-(\d+)x/.exec(head)![1]) : undefined;
    if (crf !== undefined && n.maxlen !== undefined && n.maxlen !== crf) throw new UsageError(`--maxlen ${n.maxlen}: this CRF tagger (${head}) is unrolled over ${crf} tokens; leave --maxlen out`);
    const maxlen = crf ?? n.maxlen ?? 128;
    const labels = model.labels;
    let kind: 'classify' | 'tag' | 'seq2seq';
    if (model.application === 'unilm' || (model.application === 'seq2seq' && T5_FAMILIES.includes(model.family))) kind = 'seq2seq';
    else if (model.application === 'tagger') kind = 'tag';
    else if (isGlobalPointerHead(head)) throw new Error(`${a.model}: a GlobalPointer span model has no row format here; score it with examples/task-spans.ts --eval ${a.model} --quantize all`);
    else if (model.application === 'encoder' && labels && head === undefined) kind = 'classify';
    else throw new Error(`${a.model}: a ${model.family} ${model.application} model${head ? ` with head ${head}` : ''} is not a classifier, tagger or seq2seq model; nothing to score`);
    if (kind !== 'seq2seq' && !labels) throw new Error(`${a.model}: the saved ${kind === 'tag' ? 'tagger' : 'classifier'} records no labels (config.json id2label)`);
    if (kind === 'seq2seq' && n.maxTarget + 3 >= maxlen) throw new UsageError(`--max-target-len ${n.maxTarget} leaves no room for the source in --maxlen ${maxlen}`);

    const columns: import('../tasks/finetune.ts').Columns = {
      text: a['text-column'], label: a['label-column'], source: a['source-column'], target: a['target-column'], tags: a['tags-column'],
    };
    const rows = t.readTaskRows(kind, a.test!, columns, n.limit);
    if (!rows.length) throw new Error(`${a.test}: no rows to score`);
    if (kind !== 'seq2seq') t.labelSet([{ file: a.test!, labels: rows.map((r) => ('label' in r ? r.label : (r as { tags: string[] }).tags)) }], labels);
    const task: import('../tasks/finetune.ts').Task<any> = kind === 'classify' ? t.classifyTask(tokenizer, labels!, maxlen)
      : kind === 'tag' ? t.tagTask(tokenizer, labels!, { maxlen, crf: crf !== undefined })
      : t.seq2seqTaskFor(model.family, tokenizer, { maxlen, maxTarget: n.maxTarget, beam: n.beam });
    const saved = model.options.quantize;
    const scores = await evaluateModes(model, modes ?? [saved?.mode ?? 'fp32'], task, rows, { embeddings: a.embeddings ?? saved?.embeddings });
    for (const s of scores) {
      const agree = s.agreement ? `; same prediction as fp32 on ${(100 * s.agreement.rows).toFixed(2)}% of rows${s.agreement.items !== undefined ? `, ${(100 * s.agreement.items).toFixed(2)}% of characters` : ''}` : '';
      process.stderr.write(`${s.mode.padEnd(16)} ${t.formatMetrics(s.metrics)}  (${s.seconds.toFixed(1)} s${agree})\n`);
    }
    process.stdout.write(JSON.stringify({ model: a.model, task: crf !== undefined ? 'tag-crf' : kind, rows: rows.length, scores }) + '\n');
    return 0;
  },
};

export default command;
