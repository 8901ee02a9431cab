/**
 * `bert4ts pretrain`: MLM or ELECTRA pretraining of a small BERT/RoBERTa from text folders (see
 * src/training/pretrain), resuming, exporting the model directory and re-measuring held-out accuracy.
 */
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';
import type { PretrainSettings } from '../training/pretrain/run.ts';

const USAGE = `usage:
  bert4ts pretrain --out RUN --input SRC [--input SRC ...] --vocab VOCAB [options]   start a run
  bert4ts pretrain --out RUN --input SRC [...] --init MODEL_DIR [options]            continue pretraining a model
  bert4ts pretrain --out RUN --resume [--steps N] [--deadline T] [--stop-at N]       continue it
  bert4ts pretrain export RUN OUT [--which best|last] [--dtype float16|float32]      write a model directory
  bert4ts pretrain eval MODEL_DIR [--input SRC ...]                                  held-out MLM accuracy

sources (SRC): FORMAT:PATH[#ZIP_MEMBER][@SPEC]
  txt:DIR[@blank|line]          one document per blank-line-separated block (default) or per line
  jsonl:FILE[.gz][@f1,f2]       the named fields (strings or string arrays); default every string field
  tsv:FILE[@0,1]                the given 0-based columns (default all); .gz and .zip#member work for all

run options:
  --vocab PATH            WordPiece vocab.txt to trim by corpus counts
  --init MODEL_DIR        start from this BERT MLM model directory (e.g. models/chinese-small): its weights,
                          vocabulary and size (so no --vocab, --min-count or size options); MLM only
  --min-count K           keep tokens seen >= K times in the training text (default 5)
  --layers 4 --hidden 256 --heads 4 --intermediate 4*hidden --max-position 128
  --maxlen 128            row length (packed documents)      --batch 32   rows per step
  --steps 20000           schedule length (warmup, then linear decay to 0)
  --lr 5e-4 --warmup 500 --weight-decay 0.01 --dropout 0.1 --seed 1
  --held-out 10           held-out documents per 1000 (by text hash)   --eval-rows 256
  --no-wwm                mask single tokens instead of whole jieba words
  --objective mlm         mlm (BERT/RoBERTa) or electra (a generator + discriminator, tied embeddings, λ = 50)
  --generator-ratio 0.25  electra: the generator's width over the discriminator's, > 0 and <= 1 (same depth)
  --eval-every 250 --log-every 25 --checkpoint-minutes 10
  --deadline T            stop with a checkpoint at T (HH:MM, the next such time of day; or an ISO time)
  --minutes M             stop with a checkpoint after M minutes
  --train-minutes M       a compute budget: the schedule is refit (from the measured step time) to decay to 0
                          when the training steps have taken M minutes in all, and the run stops there
  --stop-at N             stop with a checkpoint at step N (resume continues)
  --quiet`;

/** `--input` specs, a bad one as a usage error. */
async function sourcesOption(specs: string[] | undefined) {
  const { parseSource } = await import('../training/pretrain/corpus.ts');
  return specs?.map((spec) => {
    try {
      return parseSource(spec);
    } catch (e) {
      throw new UsageError(`--input ${(e as Error).message}`);
    }
  });
}

export function deadlineOption(value: string | undefined, minutes: number | undefined): number | undefined {
  const fromMinutes = minutes !== undefined ? Date.now() + minutes * 60_000 : undefined;
  if (value === undefined) return fromMinutes;
  let t: number;
  const hm = /^(\d{1,2}):(\d{2})$/.exec(value);
  if (hm) {
    if (Number(hm[1]) > 23 || Number(hm[2]) > 59) throw new UsageError(`--deadline ${value} is not a time of day`);
    const d = new Date();
    d.setHours(Number(hm[1]), Number(hm[2]), 0, 0);
    // A time of day already past means the next one (as `at` and `shutdown` read it): 01:10 at 23:30 is tomorrow.
    if (d.getTime() <= Date.now()) d.setDate(d.getDate() + 1);
    t = d.getTime();
  } else t = Date.parse(value);
  if (!Number.isFinite(t)) throw new UsageError(`--deadline must be HH:MM or an ISO time, got '${value}'`);
  if (t <= Date.now()) throw new UsageError(`--deadline ${value} has already passed`);
  return fromMinutes !== undefined ? Math.min(t, fromMinutes) : t;
}

const command: Command = {
  summary: 'pretrain a small BERT/RoBERTa (whole-word MLM) or ELECTRA on text folders; resume, export, evaluate',
  async run(argv) {
    const { values: o, positionals } = parseCommandArgs(argv, {
      out: { type: 'string' }, input: { type: 'string', multiple: true }, vocab: { type: 'string' }, 'min-count': { type: 'string' },
      layers: { type: 'string' }, hidden: { type: 'string' }, heads: { type: 'string' }, intermediate: { type: 'string' }, 'max-position': { type: 'string' },
      maxlen: { type: 'string' }, batch: { type: 'string' }, steps: { type: 'string' }, lr: { type: 'string' }, warmup: { type: 'string' },
      'weight-decay': { type: 'string' }, dropout: { type: 'string' }, seed: { type: 'string' }, 'held-out': { type: 'string' }, 'eval-rows': { type: 'string' },
      'no-wwm': { type: 'boolean' }, 'eval-every': { type: 'string' }, 'log-every': { type: 'string' }, 'checkpoint-minutes': { type: 'string' },
      deadline: { type: 'string' }, minutes: { type: 'string' }, 'train-minutes': { type: 'string' }, 'stop-at': { type: 'string' }, resume: { type: 'boolean' }, quiet: { type: 'boolean' },
      objective: { type: 'string' }, init: { type: 'string' }, 'generator-ratio': { type: 'string' }, which: { type: 'string' }, dtype: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (o.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const int = (name: string, min = 1) => numberOption(name, (o as Record<string, string | undefined>)[name], { integer: true, min });
    const num = (name: string) => numberOption(name, (o as Record<string, string | undefined>)[name], { min: 0 });
    const [mode, ...rest] = positionals;
    if (mode === 'export') {
      if (rest.length !== 2) throw new UsageError(`pretrain export takes RUN and OUT\n${USAGE}`);
      const which = o.which ?? 'best';
      if (which !== 'best' && which !== 'last') throw new UsageError(`--which must be best or last, got '${which}'`);
      const dtype = o.dtype ?? 'float16';
      if (dtype !== 'float16' && dtype !== 'float32') throw new UsageError(`--dtype must be float16 or float32, got '${dtype}'`);
      const { exportRun } = await import('../training/pretrain/export.ts');
      process.stdout.write(JSON.stringify(await exportRun(rest[0]!, rest[1]!, { which, dtype })) + '\n');
      return 0;
    }
    if (mode === 'eval') {
      if (rest.length !== 1) throw new UsageError(`pretrain eval takes MODEL_DIR\n${USAGE}`);
      const { evaluateModelDir } = await import('../training/pretrain/export.ts');
      process.stdout.write(JSON.stringify(await evaluateModelDir(rest[0]!, await sourcesOption(o.input))) + '\n');
      return 0;
    }
    if (mode !== undefined) throw new UsageError(`unknown pretrain mode '${mode}' (export, eval, or none to train)\n${USAGE}`);
    if (!o.out) throw new UsageError(`--out RUN is required\n${USAGE}`);
    const { pretrain, DEFAULT_SETTINGS } = await import('../training/pretrain/run.ts');
    const { DEFAULT_GENERATOR_RATIO } = await import('../training/pretrain/electra.ts');
    const deadline = deadlineOption(o.deadline, num('minutes'));
    const ctl = {
      out: o.out, resume: Boolean(o.resume), stopAt: int('stop-at', 0), deadline, steps: o.resume ? int('steps') : undefined,
      trainSeconds: o['train-minutes'] === undefined ? undefined : 60 * numberOption('train-minutes', o['train-minutes'], { above: 0 })!,
      checkpointMinutes: num('checkpoint-minutes') ?? 10, evalEvery: int('eval-every') ?? 250, logEvery: int('log-every') ?? 25, quiet: o.quiet,
    };
    if (o.resume) {
      const given = ['input', 'vocab', 'init', 'min-count', 'intermediate', 'max-position', 'objective', 'generator-ratio', 'layers', 'hidden', 'heads', 'maxlen', 'batch', 'lr', 'seed'].filter((k) => (o as Record<string, unknown>)[k] !== undefined);
      if (given.length) throw new UsageError(`--resume keeps the run's settings (run.json); drop --${given.join(', --')}`);
      await pretrain(null, ctl);
      return 0;
    }
    if (!o.input?.length) throw new UsageError(`give at least one --input SRC\n${USAGE}`);
    const d = DEFAULT_SETTINGS;
    const maxlen = int('maxlen', 8) ?? d.maxlen;
    let from: { vocab: string; size: PretrainSettings['size'] };
    if (o.init !== undefined) {
      // The model fixes the vocabulary and the size.
      const given = ['vocab', 'min-count', 'layers', 'hidden', 'heads', 'intermediate', 'max-position'].filter((k) => (o as Record<string, unknown>)[k] !== undefined);
      if (given.length) throw new UsageError(`--init takes the vocabulary and size from ${o.init}; drop --${given.join(', --')}`);
      if (o.objective === 'electra') throw new UsageError('--init continues MLM pretraining; it does not apply to --objective electra');
      const { readInitSize } = await import('../training/pretrain/model.ts');
      let size: PretrainSettings['size'];
      try {
        size = readInitSize(o.init);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      from = { vocab: o.init, size };
    } else {
      if (!o.vocab) throw new UsageError(`--vocab PATH (a WordPiece vocab.txt) is required\n${USAGE}`);
      const hidden = int('hidden') ?? d.size.hidden;
      from = { vocab: o.vocab, size: { layers: int('layers') ?? d.size.layers, hidden, heads: int('heads') ?? d.size.heads, intermediate: int('intermediate') ?? 4 * hidden, maxPosition: int('max-position') ?? Math.max(d.size.maxPosition, maxlen) } };
    }
    const settings: PretrainSettings = {
      ...d, sources: (await sourcesOption(o.input))!, vocab: from.vocab, minCount: int('min-count') ?? d.minCount, size: from.size,
      ...(o.init !== undefined ? { init: o.init } : {}),
      maxlen, batchSize: int('batch') ?? d.batchSize, steps: int('steps') ?? d.steps, learningRate: num('lr') ?? d.learningRate, warmup: int('warmup', 0) ?? d.warmup,
      weightDecay: num('weight-decay') ?? d.weightDecay, dropout: num('dropout') ?? d.dropout, seed: int('seed', 0) ?? d.seed,
      heldOutPermille: int('held-out', 0) ?? d.heldOutPermille, evalRows: int('eval-rows') ?? d.evalRows, wholeWord: !o['no-wwm'],
    };
    if (o.objective !== undefined && o.objective !== 'mlm' && o.objective !== 'electra') throw new UsageError(`--objective must be mlm or electra, got '${o.objective}'`);
    const ratio = numberOption('generator-ratio', o['generator-ratio'], { above: 0, max: 1 });
    if (ratio !== undefined && o.objective !== 'electra') throw new UsageError(`--generator-ratio applies to --objective electra (the generator's width); this run is --objective ${o.objective ?? 'mlm'}`);
    // Recorded even when defaulted, so run.json says what the generator was.
    if (o.objective === 'electra') Object.assign(settings, { objective: 'electra', generatorRatio: ratio ?? DEFAULT_GENERATOR_RATIO });
    if (settings.maxlen > settings.size.maxPosition) throw new UsageError(`--maxlen ${maxlen} exceeds ${o.init !== undefined ? `the init model's ${settings.size.maxPosition} positions` : `--max-position ${settings.size.maxPosition}`}`);
    await pretrain(settings, ctl);
    return 0;
  },
};
export default command;
