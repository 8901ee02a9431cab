/**
 * `bert4ts tokenize --tokenizer <file or dir> [--pair TEXT] TEXT...`: one JSON line per text with
 * ids, tokens, segments and offsets. Without TEXT, each line of stdin is one text.
 * `--decode ID...` turns ids (spaces, commas or a JSON array) back into text.
 */
import { createInterface } from 'node:readline';
import { KINDS, type Kind } from '../tokenizers/hfConfig.ts';
import { parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts tokenize --tokenizer <file or dir> [options] [TEXT...]
       bert4ts tokenize --tokenizer <file or dir> --decode ID...

  --tokenizer, -t  vocab.txt, a SentencePiece .model, encoder.json / vocab.json, tokenizer.json,
                   or a directory holding them (the kind is detected)
  --pair TEXT      second text of a pair (segment 1)
  --maxlen N       truncate to N tokens including special tokens (longest first)
  --no-special     no [CLS]/[SEP] (or </s>) framing
  --decode         the arguments are ids; print the text
  --kind KIND      force wordpiece | sentencepiece | cpm | byte-bpe | tokenizer.json

Prints one JSON line per text: {"ids":[...],"tokens":[...],"segments":[...],"offsets":[[s,e],...]}
(offsets are UTF-16 code unit positions in the text). Without TEXT, reads one text per stdin line.
Exit status: 0 on success, 1 when a file cannot be read or is not a tokenizer (or an id is out of
range), 2 on bad usage.`;

const command: Command = {
  summary: 'tokenize text (or --decode ids) with a WordPiece, SentencePiece, GPT-2 BPE or CPM tokenizer',
  async run(argv) {
    const parsed = parseCommandArgs(argv, {
          tokenizer: { type: 'string', short: 't' }, pair: { type: 'string' }, maxlen: { type: 'string' },
          'no-special': { type: 'boolean' }, decode: { type: 'boolean' }, kind: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        }, USAGE);
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (!values.tokenizer) throw new UsageError(`--tokenizer is required\n${USAGE}`);
    if (values.kind !== undefined && !(KINDS as readonly string[]).includes(values.kind)) throw new UsageError(`--kind must be one of ${KINDS.join(', ')}, got "${values.kind}"`);
    let maxlen: number | undefined;
    if (values.maxlen !== undefined) {
      maxlen = Number(values.maxlen);
      if (!Number.isInteger(maxlen) || maxlen < 1) throw new UsageError(`--maxlen must be a positive integer, got "${values.maxlen}"`);
    }
    if (values.decode && (values.pair !== undefined || maxlen !== undefined)) throw new UsageError('--decode takes ids only (no --pair or --maxlen)');

    const { loadTokenizer } = await import('../tokenizers/load.ts');
    const tokenizer = await loadTokenizer(values.tokenizer, { kind: values.kind as Kind | undefined });

    if (values.decode) {
      const words = positionals.join(' ').replace(/[[\],]/g, ' ').split(/\s+/).filter(Boolean);
      if (!words.length) throw new UsageError('--decode needs ids');
      const ids = words.map((w) => {
        if (!/^\d+$/.test(w)) throw new UsageError(`--decode: "${w}" is not an id (a non-negative integer)`);
        return Number(w);
      });
      process.stdout.write(tokenizer.decode(ids) + '\n');
      return 0;
    }
    const encode = (text: string) => {
      const e = tokenizer.encode(text, values.pair, { maxlen, addSpecialTokens: !values['no-special'] });
      process.stdout.write(JSON.stringify({ ids: e.ids, tokens: e.tokens, segments: e.segments, offsets: e.offsets }) + '\n');
    };
    if (positionals.length) positionals.forEach(encode);
    else for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) encode(line);
    return 0;
  },
};
export default command;
