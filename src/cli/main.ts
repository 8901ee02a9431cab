/**
 * The `bert4ts` command. Each subcommand lives in its own module under src/cli and is loaded on
 * demand, so `bert4ts --help` stays fast and one command's dependencies never slow another.
 * Exit codes: 0 success, 1 failure while running, 2 bad usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  summary: string;
  /** Returns the process exit code. Logs go to stderr, results to stdout. */
  run(argv: string[]): Promise<number>;
}

// Null prototype: `bert4ts constructor` or `bert4ts __proto__` must be an unknown command, not Object's.
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = Object.assign(Object.create(null), {
  convert: { summary: 'convert a checkpoint between formats (safetensors, TF, PyTorch; ONNX in), keeping names; --quantize: an int8 model directory', load: async () => (await import('./convert.ts')).default },
  encode: { summary: 'run a model on texts: hidden-state summary, or top predictions for [MASK] (mlm) / the next token (lm)', load: async () => (await import('./encode.ts')).default },
  evaluate: { summary: 'score a fine-tuned model directory on a test file, fp32 and int8 side by side (--quantize all)', load: async () => (await import('./evaluate.ts')).default },
  export: { summary: 'export a model as ONNX, or as a Triton Inference Server model repository', load: async () => (await import('./export.ts')).default },
  finetune: { summary: 'fine-tune on TSV/JSONL: classify, seq2seq (UniLM) or tag; best dev epoch kept, saved for predict/generate', load: async () => (await import('./finetune.ts')).default },
  generate: { summary: 'generate text with GPT-2 / CPM-LM or T5 / mT5: greedy, beam search or sampling, KV-cached, streamed', load: async () => (await import('./generate.ts')).default },
  predict: { summary: "run a saved model on texts: a classifier's label, a tagger's spans, MLM predictions or a pooled vector", load: async () => (await import('./predict.ts')).default },
  pretrain: { summary: 'pretrain a small BERT/RoBERTa with (whole-word) MLM on text folders; resume, export, evaluate', load: async () => (await import('./pretrain.ts')).default },
  'rnn-gradients': { summary: 'RNN gradient analysis (post 7888): exact ‖∂h_T/∂h_{T−d}‖ of a seeded SimpleRNN/LSTM/GRU cell; ‖∂L/∂x_t‖ on the adding problem', load: async () => (await import('./rnnGradients.ts')).default },
  serve: { summary: 'serve models over HTTP (embeddings, fill-mask, classify, completions), or the xiangqi web page', load: async () => (await import('./serve.ts')).default },
  tokenize: { summary: 'tokenize text (or --decode ids) with a WordPiece, SentencePiece, GPT-2 BPE or CPM tokenizer', load: async () => (await import('./tokenize.ts')).default },
  xiangqi: { summary: 'xiangqi tools: perft, corpus, train, play, uci', load: async () => (await import('./xiangqi.ts')).default },
});

export class UsageError extends Error {}

/** node:util parseArgs whose errors (unknown option, missing value) become usage errors (exit 2). */
export function parseCommandArgs<T extends ParseArgsConfig['options']>(argv: string[], options: T, usage?: string): ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: T; strict: true }>> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options, strict: true });
  } catch (e) {
    throw new UsageError(usage ? `${(e as Error).message}\n${usage}` : (e as Error).message);
  }
}

/**
 * A numeric option's value, checked: `--name` must be a number (an integer with `integer`) within
 * [min, max] (`above` excludes the lower bound). Undefined stays undefined. Errors are usage errors.
 */
export function numberOption(name: string, value: string | undefined, rule: { integer?: boolean; min?: number; above?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = value.trim() === '' ? NaN : Number(value);
  const kind = rule.integer ? 'an integer' : 'a number';
  const low = rule.min !== undefined ? `>= ${rule.min}` : rule.above !== undefined ? `> ${rule.above}` : '';
  const range = rule.min !== undefined && rule.max !== undefined ? `from ${rule.min} to ${rule.max}` : [low, rule.max !== undefined ? `<= ${rule.max}` : ''].filter(Boolean).join(' and ');
  const bad = !Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || (rule.min !== undefined && n < rule.min) || (rule.above !== undefined && n <= rule.above) || (rule.max !== undefined && n > rule.max);
  if (bad) throw new UsageError(`--${name} must be ${kind}${range ? ' ' + range : ''}, got "${value}"`);
  return n;
}

/** `--name 1,2,3` as non-negative integer ids. */
export function idsOption(name: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!parts.length) throw new UsageError(`--${name} must be comma-separated non-negative integer ids, got '${value}'`);
  return parts.map((s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name}: '${s}' is not a non-negative integer id`);
    return n;
  });
}

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return [
    'Usage: bert4ts <command> [options]',
    '',
    'Commands:',
    ...rows,
    '',
    'Run `bert4ts <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`bert4ts: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await (await entry.load()).run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bert4ts ${name}: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`bert4ts ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.BERT4TS_DEBUG && e instanceof Error) process.stderr.write(String(e.stack) + '\n');
    return 1;
  }
}
