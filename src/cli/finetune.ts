/**
 * `bert4ts finetune`: fine-tune a BERT-shaped model on a task from TSV/JSONL files and save a model
 * directory that `bert4ts predict` (classify, tag) or `bert4ts generate` (seq2seq, UniLM) runs.
 * The loop and the metrics are src/tasks/finetune.ts, which the examples use too.
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts finetune --task classify|seq2seq|tag --train FILE --dev FILE [--test FILE]
                         (--base DIR | --config FILE --vocab FILE) --out DIR [options]

  --task <kind>         classify: text -> label; seq2seq: source -> target (UniLM on BERT);
                        tag: one tag per character of the text (space-separated, or a JSON array)
  --train/--dev/--test  TSV (no header: columns by 0-based index; with a header: by name) or JSONL (by key)
  --text-column C       classify, tag (default 0 / "text")     --label-column C   classify (default 1 / "label")
  --source-column C     seq2seq (default 0 / "source")         --target-column C  seq2seq (default 1 / "target")
  --tags-column C       tag (default 1 / "tags")
  --labels a,b,...      the label (tag) set, in id order; rows with other labels are errors
                        (default: the train file's labels, sorted)
  --base DIR            a model directory to start from (model.save's, or config.json + weights + tokenizer)
  --config FILE         or random weights from this config, with --vocab FILE (vocab.txt), trimmed to the train data
  --out DIR             where the fine-tuned model is saved
  --epochs N (3)  --batch-size N (32)  --lr X (5e-5 with --base, 5e-4 from random weights)
  --maxlen N (128)      tokens per row, [CLS] and [SEP] included
  --max-target-len N    seq2seq: target tokens (default 32)
  --dev-limit N         score at most N dev rows after each epoch (seq2seq decodes them; default all)
  --limit N             read at most N rows of each file
  --seed N (0)

Trains with AdamW (warm-up over a tenth of the first epoch, then linear decay to lr/10), scores the
dev set after every epoch (accuracy, tag F1 or ROUGE-L) and keeps the weights of the best epoch,
scores the test set with them, and saves the model with its tokenizer and labels. The last line of
stdout is a JSON summary.`;

const command: Command = {
  summary: 'fine-tune on TSV/JSONL: classify, seq2seq (UniLM) or tag; best dev epoch kept, saved for predict/generate',
  async run(argv) {
    const { values: a, positionals } = parseCommandArgs(argv, {
      task: { type: 'string' }, train: { type: 'string' }, dev: { type: 'string' }, test: { type: 'string' },
      'text-column': { type: 'string' }, 'label-column': { type: 'string' }, 'source-column': { type: 'string' }, 'target-column': { type: 'string' }, 'tags-column': { type: 'string' },
      labels: { type: 'string' }, base: { type: 'string' }, config: { type: 'string' }, vocab: { type: 'string' }, out: { type: 'string' },
      epochs: { type: 'string' }, 'batch-size': { type: 'string' }, lr: { type: 'string' }, maxlen: { type: 'string' }, 'max-target-len': { type: 'string' },
      'dev-limit': { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (a.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const kind = a.task;
    if (kind !== 'classify' && kind !== 'seq2seq' && kind !== 'tag') throw new UsageError(`--task must be classify, seq2seq or tag${kind ? `, got '${kind}'` : ''}\n${USAGE}`);
    for (const k of ['train', 'dev', 'out'] as const) if (!a[k]) throw new UsageError(`--${k} is required\n${USAGE}`);
    if (!a.base === !a.config) throw new UsageError('give --base DIR, or --config FILE with --vocab FILE (random weights)');
    if (a.config && !a.vocab) throw new UsageError('--config needs --vocab FILE (the vocabulary of the random-init model)');
    const n = {
      epochs: numberOption('epochs', a.epochs, { integer: true, min: 1 }) ?? 3,
      batchSize: numberOption('batch-size', a['batch-size'], { integer: true, min: 1 }) ?? 32,
      lr: numberOption('lr', a.lr, { above: 0 }) ?? (a.base ? 5e-5 : 5e-4),
      maxlen: numberOption('maxlen', a.maxlen, { integer: true, min: 4 }) ?? 128,
      maxTarget: numberOption('max-target-len', a['max-target-len'], { integer: true, min: 1 }) ?? 32,
      devLimit: numberOption('dev-limit', a['dev-limit'], { integer: true, min: 1 }),
      limit: numberOption('limit', a.limit, { integer: true, min: 1 }),
      seed: numberOption('seed', a.seed, { integer: true }) ?? 0,
    };
    if (kind === 'seq2seq' && n.maxTarget + 3 >= n.maxlen) throw new UsageError(`--max-target-len ${n.maxTarget} leaves no room for the source in --maxlen ${n.maxlen}`);

    const t = await import('../tasks/finetune.ts');
    const columns: import('../tasks/finetune.ts').Columns = {
      text: a['text-column'], label: a['label-column'], source: a['source-column'], target: a['target-column'], tags: a['tags-column'],
    };
    const files = { train: a.train!, dev: a.dev!, ...(a.test ? { test: a.test } : {}) };
    const rows = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, t.readTaskRows(kind, f, columns, n.limit)])) as Record<'train' | 'dev' | 'test', any[]>;
    const given = a.labels?.split(',').map((s) => s.trim()).filter(Boolean);
    let labels: string[] = [];
    if (kind !== 'seq2seq') {
      const of = (r: { label?: string; tags?: string[] }) => (kind === 'classify' ? r.label! : r.tags!);
      labels = t.labelSet(Object.entries(files).map(([k, file]) => ({ file, labels: rows[k as 'train'].map(of) })), given);
      if (!given) labels = kind === 'tag' ? ['O', ...labels.filter((l) => l !== 'O').sort()] : labels.sort();
    } else if (given) throw new UsageError('--labels applies to classify and tag');
    const corpus = kind === 'seq2seq' ? rows.train.flatMap((r) => [r.source, r.target]) : rows.train.map((r) => r.text);
    const { model, tokenizer, task } = await t.prepareModel({
      base: a.base, config: a.config, vocab: a.vocab, corpus, charLevel: kind === 'tag', seed: n.seed,
      task: (tok, family): import('../tasks/finetune.ts').Task<any> => kind === 'classify' ? t.classifyTask(tok, labels, n.maxlen)
        : kind === 'tag' ? t.tagTask(tok, labels, { maxlen: n.maxlen }) : t.seq2seqTaskFor(family, tok, { maxlen: n.maxlen, maxTarget: n.maxTarget }),
    });
    const log = (s: string) => process.stderr.write(s + '\n');
    log(`${kind}: ${rows.train.length} train, ${rows.dev.length} dev${rows.test ? `, ${rows.test.length} test` : ''} rows; ${a.base ? `base ${a.base}` : `random weights (${a.config})`}, vocabulary ${tokenizer.vocabSize}${labels.length ? `, labels ${labels.join(' ')}` : ''}`);
    const r = await t.finetune({ model, task, train: rows.train, dev: rows.dev, test: rows.test, epochs: n.epochs, batchSize: n.batchSize, lr: n.lr, seed: n.seed, devLimit: n.devLimit, log });
    const saved = model.save(a.out!, { tokenizer });
    log(`dev  ${t.formatMetrics(r.dev)}`);
    if (r.test) log(`test ${t.formatMetrics(r.test)}`);
    log(`saved ${a.out} (${saved.join(', ')}); run it with bert4ts ${kind === 'seq2seq' ? 'generate' : 'predict'} --model ${a.out}`);
    process.stdout.write(JSON.stringify({ task: kind, out: a.out, best: r.best, dev: r.dev, test: r.test, seconds: Math.round(r.seconds) }) + '\n');
    return 0;
  },
};

export default command;
