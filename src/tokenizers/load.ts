/**
 * `loadTokenizer(fileOrDir)`: finds and reads a tokenizer the way users have them.
 *   directory: vocab.txt (WordPiece) | *.model (SentencePiece; CPM when it has the ▂/▃ pieces) |
 *     encoder.json + vocab.bpe or vocab.json + merges.txt (byte-level BPE) | tokenizer.json;
 *     a keep_tokens.json beside them is attached as `keepTokens` (bert4keras's trimmed vocabularies).
 *   file: the same, by name; a BPE vocabulary or merges file finds its partner beside it.
 * Only this file touches the file system; the tokenizers themselves also run in a browser.
 * The original files take precedence over tokenizer.json, whose support is partial (see
 * tokenizerJson.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ByteLevelBpeTokenizer } from './bytebpe.ts';
import { CpmTokenizer, jiebaSegmenter, looksLikeCpm } from './cpm.ts';
import { parseKeepTokens } from './keepTokens.ts';
import { SentencePieceTokenizer, parseSentencePieceModel } from './sentencepiece.ts';
import { fromTokenizerJson } from './tokenizerJson.ts';
import { WordPieceTokenizer, type WordPieceOptions } from './wordpiece.ts';
import { TokenizerError, type Tokenizer } from './types.ts';

export interface LoadOptions extends WordPieceOptions {
  /** Force the kind instead of detecting it. 'sentencepiece' reads a CPM model as plain SentencePiece. */
  kind?: 'wordpiece' | 'sentencepiece' | 'cpm' | 'byte-bpe' | 'tokenizer.json';
  /** Attach keep_tokens.json from the directory when present. Default true. */
  keepTokens?: boolean;
}

const SP_PREFERRED = ['spiece.model', 'sentencepiece.bpe.model', 'sentencepiece.model', 'tokenizer.model'];
const BPE_PAIRS: [string, string][] = [['encoder.json', 'vocab.bpe'], ['vocab.json', 'merges.txt']];

export async function loadTokenizer(path: string, options: LoadOptions = {}): Promise<Tokenizer> {
  if (!existsSync(path)) throw new TokenizerError(`tokenizer not found: ${path} does not exist`);
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const tok = isDir ? await loadFromDir(path, options) : await loadFile(path, options);
  const keepPath = join(dir, 'keep_tokens.json');
  if ((options.keepTokens ?? true) && existsSync(keepPath)) {
    const keep = readKeepTokens(keepPath);
    // A model may have more embedding rows than the vocabulary has tokens (mT5-chinese: 2 more).
    if (keep.length < tok.vocabSize) throw new TokenizerError(`${keepPath} lists ${keep.length} ids but the vocabulary has ${tok.vocabSize} tokens`);
    tok.keepTokens = keep;
  }
  return tok;
}

/** Reads a bert4keras keep_tokens.json (see parseKeepTokens). */
export function readKeepTokens(path: string): number[] {
  return parseKeepTokens(readFileSync(path, 'utf8'), path);
}

async function loadFromDir(dir: string, options: LoadOptions): Promise<Tokenizer> {
  const files = new Set(readdirSync(dir));
  const has = (f: string) => files.has(f);
  const models = [...files].filter((f) => f.endsWith('.model')).sort((a, b) => rank(a) - rank(b));
  const want = options.kind;
  if ((!want || want === 'wordpiece') && has('vocab.txt')) return loadFile(join(dir, 'vocab.txt'), options);
  if ((!want || want === 'sentencepiece' || want === 'cpm') && models.length) return loadFile(join(dir, models[0]!), options);
  for (const [v, m] of BPE_PAIRS) if ((!want || want === 'byte-bpe') && has(v) && has(m)) return loadFile(join(dir, v), options);
  if ((!want || want === 'tokenizer.json') && has('tokenizer.json')) return loadFile(join(dir, 'tokenizer.json'), options);
  throw new TokenizerError(`no tokenizer found in ${dir}${want ? ` for kind '${want}'` : ''}: looked for vocab.txt, *.model, encoder.json + vocab.bpe, vocab.json + merges.txt, tokenizer.json`);
}

const rank = (f: string) => (SP_PREFERRED.includes(f) ? SP_PREFERRED.indexOf(f) : SP_PREFERRED.length);

async function loadFile(file: string, options: LoadOptions): Promise<Tokenizer> {
  const name = basename(file);
  const read = () => readFileSync(file);
  const kind = options.kind ?? detectKind(name);
  switch (kind) {
    case 'wordpiece':
      return WordPieceTokenizer.fromVocabText(read().toString('utf8'), options);
    case 'sentencepiece':
    case 'cpm': {
      const model = parseSentencePieceModel(read(), file);
      if (kind === 'cpm' || (options.kind === undefined && looksLikeCpm(model))) return new CpmTokenizer(model, await jiebaSegmenter(), file);
      return new SentencePieceTokenizer(model, file);
    }
    case 'byte-bpe': {
      const dir = dirname(file);
      const pair = BPE_PAIRS.find(([v, m]) => name === v || name === m) ?? BPE_PAIRS.find(([v, m]) => existsSync(join(dir, v)) && existsSync(join(dir, m)));
      if (!pair) throw new TokenizerError(`byte-level BPE needs encoder.json + vocab.bpe or vocab.json + merges.txt beside ${file}`);
      const [v, m] = pair.map((f) => join(dir, f)) as [string, string];
      for (const f of [v, m]) if (!existsSync(f)) throw new TokenizerError(`byte-level BPE: ${f} is missing (needed with ${name})`);
      return ByteLevelBpeTokenizer.fromFiles(readFileSync(v, 'utf8'), readFileSync(m, 'utf8'), `${v} + ${m}`);
    }
    case 'tokenizer.json':
      return fromTokenizerJson(read().toString('utf8'), file);
    default:
      throw new TokenizerError(`cannot tell what tokenizer ${file} is: expected vocab.txt, a .model, encoder.json / vocab.bpe, vocab.json / merges.txt or tokenizer.json (or pass kind)`);
  }
}

function detectKind(name: string): LoadOptions['kind'] | undefined {
  if (name === 'tokenizer.json') return 'tokenizer.json';
  if (name.endsWith('.model')) return 'sentencepiece';
  if (name.endsWith('.txt') && name !== 'merges.txt') return 'wordpiece';
  if (['encoder.json', 'vocab.bpe', 'vocab.json', 'merges.txt'].includes(name)) return 'byte-bpe';
  return undefined;
}
