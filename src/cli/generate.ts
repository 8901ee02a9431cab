/**
 * `bert4ts generate`: text generation with a KV-cached decoder (greedy, beam search or sampling).
 * Tokens stream to stdout as they are produced (greedy and sampling); `--json` prints one line
 * with the ids and scores instead.
 */
import { existsSync } from 'node:fs';
import { idsOption, numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const HELP = `Usage: bert4ts generate --model <dir> [--application lm|unilm] [--tokenizer <file or dir>] (--prompt TEXT | --prompt-ids 1,2,3)
         [--max-new-tokens N] [--min-new-tokens N] [--no-repeat-ngram N]
         [--greedy | --beam K [--length-penalty A] [--n-best N] | --sample [--top-k K] [--top-p P] [--temperature T] [--repetition-penalty R] [--seed S] [--n N]]
         [--end-ids 1,2] [--stop TEXT] [--max-source-len N] [--json]

Generates a continuation of the prompt with the model in <dir> (config + checkpoint, as buildModel
reads them); for T5 / mT5 the prompt is the encoder input and the output the decoded answer; a
BERT-shaped model generates with --application lm (causal) or unilm (a saved UniLM model needs no
--application): the prompt is the source, framed as [CLS] source [SEP] (a --prompt-ids prompt is
used as given), and [SEP] ends the answer. The tokenizer is read from --tokenizer or from the model
directory. --max-source-len N keeps the first N tokens of the prompt (before framing). Generation
stops at the model's end token (T5's EOS, UniLM's [SEP], the tokenizer's EOS), at --end-ids and at
--stop texts. --no-repeat-ngram N: the answer never holds the same N tokens twice (any strategy).
With a CPM tokenizer a newline ends the answer, as in the CPM few-shot prompts
("问题：...\\n答案：").`;

const command: Command = {
  summary: 'generate text with GPT-2 / CPM-LM or T5 / mT5: greedy, beam search or sampling, KV-cached, streamed',
  async run(argv) {
    const parsed = parseCommandArgs(argv, {
          model: { type: 'string' }, application: { type: 'string' }, tokenizer: { type: 'string' }, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' },
          'max-new-tokens': { type: 'string', default: '32' }, 'min-new-tokens': { type: 'string' }, 'no-repeat-ngram': { type: 'string' },
          greedy: { type: 'boolean' }, beam: { type: 'string' }, 'length-penalty': { type: 'string' }, 'n-best': { type: 'string' },
          sample: { type: 'boolean' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' }, temperature: { type: 'string' },
          'repetition-penalty': { type: 'string' }, seed: { type: 'string' }, n: { type: 'string' },
          'end-ids': { type: 'string' }, stop: { type: 'string', multiple: true }, 'max-source-len': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
        });
    if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'`);
    const a = parsed.values;
    if (a.help) { process.stdout.write(HELP + '\n'); return 0; }
    if (!a.model) throw new UsageError('--model <dir> is required');
    if (!existsSync(a.model)) throw new Error(`model directory not found: ${a.model}`);
    if ((a.prompt === undefined) === (a['prompt-ids'] === undefined)) throw new UsageError('give exactly one of --prompt TEXT or --prompt-ids 1,2,3');
    if ([a.greedy, a.beam !== undefined, a.sample].filter(Boolean).length > 1) throw new UsageError('choose one of --greedy, --beam K, --sample');
    const opt = {
      maxNewTokens: numberOption('max-new-tokens', a['max-new-tokens'], { integer: true, min: 1 })!,
      minNewTokens: numberOption('min-new-tokens', a['min-new-tokens'], { integer: true, min: 0 }),
      noRepeatNgramSize: numberOption('no-repeat-ngram', a['no-repeat-ngram'], { integer: true, min: 1 }),
      beam: numberOption('beam', a.beam, { integer: true, min: 1, max: 64 }),
      lengthPenalty: numberOption('length-penalty', a['length-penalty']),
      nBest: numberOption('n-best', a['n-best'], { integer: true, min: 1 }),
      topK: numberOption('top-k', a['top-k'], { integer: true, min: 0 }),
      topP: numberOption('top-p', a['top-p'], { above: 0, max: 1 }),
      temperature: numberOption('temperature', a.temperature, { above: 0 }),
      repetitionPenalty: numberOption('repetition-penalty', a['repetition-penalty'], { above: 0 }),
      seed: numberOption('seed', a.seed, { integer: true }),
      n: numberOption('n', a.n, { integer: true, min: 1, max: 256 }) ?? 1,
      endIds: idsOption('end-ids', a['end-ids']),
      promptIds: idsOption('prompt-ids', a['prompt-ids']),
      maxSourceLen: numberOption('max-source-len', a['max-source-len'], { integer: true, min: 1 }),
    };
    if (opt.minNewTokens !== undefined && opt.minNewTokens > opt.maxNewTokens) throw new UsageError(`--min-new-tokens ${opt.minNewTokens} exceeds --max-new-tokens ${opt.maxNewTokens}`);
    if (opt.nBest !== undefined && opt.nBest > (opt.beam ?? 1)) throw new UsageError(`--n-best ${opt.nBest} exceeds --beam ${opt.beam ?? 1}`);
    const sampleOnly = (['top-k', 'top-p', 'temperature', 'repetition-penalty', 'seed', 'n'] as const).filter((k) => a[k] !== undefined);
    if (sampleOnly.length && !a.sample) throw new UsageError(`--${sampleOnly[0]} applies to sampling; add --sample`);
    const beamOnly = (['length-penalty', 'n-best'] as const).filter((k) => a[k] !== undefined);
    if (beamOnly.length && a.beam === undefined) throw new UsageError(`--${beamOnly[0]} applies to beam search; add --beam K`);

    const { buildModel } = await import('../models/build.ts');
    const { generatorFor } = await import('../generation/forModel.ts');
    const { beamSearch, sample, stream } = await import('../generation/decode.ts');
    process.stderr.write(`loading ${a.model} ...\n`);
    const model = buildModel(a.model, { checkpoint: a.model, application: a.application });
    let tokenizer: import('../tokenizers/types.ts').Tokenizer | undefined;
    const tokPath = a.tokenizer ?? a.model;
    if (a.tokenizer || a.prompt !== undefined) {
      const { loadTokenizer } = await import('../tokenizers/load.ts');
      tokenizer = await loadTokenizer(tokPath);
    } else if (model.application === 'unilm') {
      // --prompt-ids: the model directory's tokenizer, when it has one, still names [SEP], the end token.
      const { loadTokenizer } = await import('../tokenizers/load.ts');
      tokenizer = await loadTokenizer(tokPath).catch(() => undefined);
    }
    let input = a.prompt !== undefined ? tokenizer!.encode(a.prompt, undefined, { addSpecialTokens: false }).ids : opt.promptIds!;
    if (opt.maxSourceLen !== undefined) input = input.slice(0, opt.maxSourceLen);
    // UniLM was trained on [CLS] source [SEP] target [SEP]: the source is framed so, and [SEP] ends the target.
    const unilmSep = model.application === 'unilm' ? tokenizer?.specialTokens.sep?.id : undefined;
    const cls = tokenizer?.specialTokens.cls?.id;
    if (model.application === 'unilm' && a.prompt !== undefined) {
      if (cls === undefined || unilmSep === undefined) throw new Error(`a UniLM prompt is framed as [CLS] source [SEP], but the tokenizer ${tokPath} has no [CLS] or [SEP]`);
      input = [cls, ...input, unilmSep];
    }
    // T5: the input is encoded once and the answer decoded from the start token.
    const { lm, prompt, endIds: modelEnds } = await generatorFor(model, input);
    const endIds = [...(opt.endIds ?? []), ...modelEnds, ...(unilmSep !== undefined ? [unilmSep] : [])];
    const stopSequences: number[][] = [];
    if (tokenizer) {
      for (const s of a.stop ?? []) stopSequences.push(tokenizer.encode(s, undefined, { addSpecialTokens: false }).ids);
      const eos = tokenizer.specialTokens.eos ?? tokenizer.specialTokens.eod;
      if (eos && !endIds.includes(eos.id)) endIds.push(eos.id);
      if (tokenizer.kind === 'cpm') {
        const newline = tokenizer.tokenToId('▃');
        if (newline !== undefined) endIds.push(newline);
      }
    }
    const length = { maxNewTokens: opt.maxNewTokens, minNewTokens: opt.minNewTokens, endIds, stopSequences, noRepeatNgramSize: opt.noRepeatNgramSize };
    const text = (t: number[]) => (tokenizer ? tokenizer.decode(t) : t.join(' '));
    if (a.beam !== undefined) {
      const hyps = (await beamSearch(lm, [prompt], { ...length, beamSize: opt.beam!, lengthPenalty: opt.lengthPenalty, nBest: opt.nBest }))[0]!;
      for (const h of hyps) process.stdout.write(a.json ? JSON.stringify({ ids: h.ids, text: tokenizer ? text(h.ids) : undefined, logProb: h.logProb, score: h.score }) + '\n' : text(h.ids) + '\n');
      return 0;
    }
    const sampling = { ...length, topK: opt.topK, topP: opt.topP, temperature: opt.temperature, repetitionPenalty: opt.repetitionPenalty, seed: opt.seed ?? 0 };
    const n = opt.n;
    if (a.json || n > 1) {
      const outs = a.sample ? await sample(lm, [prompt], { ...sampling, n }) : [[...await collect(stream(lm, prompt, length))]];
      for (const o of outs) process.stdout.write(a.json ? JSON.stringify({ ids: o, text: tokenizer ? text(o) : undefined }) + '\n' : text(o) + '\n');
      return 0;
    }
    // Stream: print the text as it grows (decoding the whole so far keeps multi-byte pieces intact).
    const generated: number[] = [];
    let printed = '';
    for await (const t of stream(lm, prompt, { ...sampling, strategy: a.sample ? 'sample' : 'greedy' })) {
      generated.push(t);
      const now = text(generated);
      if (now.startsWith(printed)) process.stdout.write(now.slice(printed.length));
      printed = now;
    }
    process.stdout.write('\n');
    return 0;
  },
};

async function collect(it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
}

export default command;
