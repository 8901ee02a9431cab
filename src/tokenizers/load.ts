/**
 * `loadTokenizer(fileOrDir)`: finds and reads a tokenizer the way users have them.
 *   directory: vocab.txt (WordPiece) | *.model (SentencePiece; CPM when it has the ▂/▃ pieces) |
 *     encoder.json + vocab.bpe or vocab.json + merges.txt (byte-level BPE) | tokenizer.json;
 *     a keep_tokens.json beside them is attached as `keepTokens` (bert4keras's trimmed vocabularies),
 *     tokenizer_config.json / special_tokens_map.json are applied (hfConfig.ts).
 *   file: the same, by name; a BPE vocabulary or merges file finds its partner beside it.
 * Only this file and save.ts touch the file system (regular files only, through util/files.ts);
 * the tokenizers themselves also run in a browser.
 * The original files take precedence over tokenizer.json, whose support is partial (see
 * tokenizerJson.ts).
 */
import { closeSync, existsSync, fstatSync, readdirSync, readSync, statSync } from '../util/node/fs.ts';
import { basename, dirname, join } from '../util/node/path.ts';
import { FileError, openRegularFile } from '../util/files.ts';
import { ByteLevelBpeTokenizer } from './bytebpe.ts';
import { CpmTokenizer, jiebaSegmenter, looksLikeCpm } from './cpm.ts';
import { parseHfConfig, type HfConfig, type Kind } from './hfConfig.ts';
import { parseKeepTokens } from './keepTokens.ts';
import { SentencePieceTokenizer, parseSentencePieceModel } from './sentencepiece.ts';
import { fromTokenizerJson } from './tokenizerJson.ts';
import { WordPieceTokenizer, type WordPieceOptions } from './wordpiece.ts';
import { TokenizerError, type SpecialName, type Tokenizer } from './types.ts';

export interface LoadOptions extends WordPieceOptions {
  /** Force the kind instead of detecting it. 'sentencepiece' reads a CPM model as plain SentencePiece. */
  kind?: Kind;
  /** Attach keep_tokens.json from the directory when present. Default true. */
  keepTokens?: boolean;
}

const SP_PREFERRED = ['spiece.model', 'sentencepiece.bpe.model', 'sentencepiece.model', 'tokenizer.model'];
const BPE_PAIRS: [string, string][] = [['encoder.json', 'vocab.bpe'], ['vocab.json', 'merges.txt']];
const CONFIG_FILES = ['tokenizer_config.json', 'special_tokens_map.json'];

/**
 * The files a tokenizer is read from, by name: a directory on disk (`loadTokenizer(path)`), or files
 * already in memory (`fromFiles`: fetched or picked in a browser, see io/source.ts).
 */
export interface TokenizerFiles {
  /** Names present (for a source that cannot list, the ones fetched). */
  names(): Set<string>;
  text(name: string): string;
  bytes(name: string): Uint8Array;
  /** How errors show a file. */
  where(name: string): string;
}

/** Every name `loadTokenizerFrom` may read, in the order it tries them (for sources that cannot list a directory). */
export const TOKENIZER_FILE_NAMES = { configs: [...CONFIG_FILES, 'keep_tokens.json'], main: ['vocab.txt', ...SP_PREFERRED, ...BPE_PAIRS.flat(), 'tokenizer.json'] };

export async function loadTokenizer(path: string, options: LoadOptions = {}): Promise<Tokenizer> {
  if (typeof path !== 'string' || !existsSync(path)) throw new TokenizerError(`tokenizer not found: ${path} does not exist`);
  let isDir: boolean;
  try { isDir = statSync(path).isDirectory(); } catch (e) { throw new FileError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  const dir = isDir ? path : dirname(path);
  const names = listDir(dir);
  const files: TokenizerFiles = { names: () => names, text: (f) => readText(join(dir, f)), bytes: (f) => readBytes(join(dir, f)), where: (f) => join(dir, f) };
  return loadTokenizerFiles(files, options, isDir ? undefined : basename(path), dir);
}

/**
 * The tokenizer in `files` (or the one `file` names), with its config files and keep_tokens.json
 * applied: what `loadTokenizer` does for a directory, over any TokenizerFiles.
 */
export async function loadTokenizerFiles(files: TokenizerFiles, options: LoadOptions = {}, file?: string, where = 'the given files'): Promise<Tokenizer> {
  const names = files.names();
  const config = parseHfConfig(CONFIG_FILES.filter((f) => names.has(f)).map((f) => [files.where(f), files.text(f)]));
  const opts: LoadOptions = { ...config.wordpiece, kind: config.kind, ...definedOnly(options) };
  const tok = file === undefined ? await loadFromDir(files, where, opts) : await loadFile(files, file, opts);
  applyConfig(tok, config);
  if ((options.keepTokens ?? true) && names.has('keep_tokens.json')) {
    const keepPath = files.where('keep_tokens.json');
    const keep = parseKeepTokens(files.text('keep_tokens.json'), keepPath);
    // A model may have more embedding rows than the vocabulary has tokens (mT5-chinese: 2 more).
    if (keep.length < tok.vocabSize) throw new TokenizerError(`${keepPath} lists ${keep.length} ids but the vocabulary has ${tok.vocabSize} tokens`);
    tok.keepTokens = keep;
  }
  return tok;
}

/** Reads a bert4keras keep_tokens.json (see parseKeepTokens). */
export function readKeepTokens(path: string): number[] {
  return parseKeepTokens(readText(path), path);
}

/** A whole regular file (a FIFO or device is refused, never waited on). */
export function readBytes(path: string): Buffer {
  const fd = openRegularFile(path);
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    let off = 0;
    for (let n; off < size && (n = readSync(fd, buf, off, size - off, off)) > 0;) off += n;
    return buf.subarray(0, off);
  } catch (e) {
    throw e instanceof FileError ? e : new FileError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

function readText(path: string): string {
  const bytes = readBytes(path);
  try {
    return bytes.toString('utf8');
  } catch (e) {
    throw new FileError(path, `cannot read as text (${bytes.length} bytes): ${(e as Error).message}`); // over V8's string limit
  }
}

function listDir(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir));
  } catch (e) {
    throw new FileError(dir, `cannot list: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const definedOnly = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

/** Special tokens named in the config (when the vocabulary has them); ALBERT-style preprocessing for SentencePiece. */
function applyConfig(tok: Tokenizer, config: HfConfig): void {
  const specials: Partial<Record<SpecialName, { token: string; id: number }>> = { ...tok.specialTokens };
  for (const [name, token] of config.specials) {
    const id = tok.tokenToId(token);
    if (id !== undefined) specials[name] = { token, id };
  }
  (tok as { specialTokens: typeof specials }).specialTokens = specials;
  if (config.preprocess && tok instanceof SentencePieceTokenizer && !(tok instanceof CpmTokenizer)) tok.preprocess = config.preprocess;
}

async function loadFromDir(files: TokenizerFiles, dir: string, options: LoadOptions): Promise<Tokenizer> {
  const names = files.names();
  const has = (f: string) => names.has(f);
  const models = [...names].filter((f) => f.endsWith('.model')).sort((a, b) => rank(a) - rank(b));
  const want = options.kind;
  if ((!want || want === 'wordpiece') && has('vocab.txt')) return loadFile(files, 'vocab.txt', options);
  if ((!want || want === 'sentencepiece' || want === 'cpm') && models.length) return loadFile(files, models[0]!, options);
  for (const [v, m] of BPE_PAIRS) if ((!want || want === 'byte-bpe') && has(v) && has(m)) return loadFile(files, v, options);
  if ((!want || want === 'tokenizer.json') && has('tokenizer.json')) return loadFile(files, 'tokenizer.json', options);
  throw new TokenizerError(`no tokenizer found in ${dir}${want ? ` for kind '${want}'` : ''}: looked for vocab.txt, *.model, encoder.json + vocab.bpe, vocab.json + merges.txt, tokenizer.json`);
}

const rank = (f: string) => (SP_PREFERRED.includes(f) ? SP_PREFERRED.indexOf(f) : SP_PREFERRED.length);

async function loadFile(files: TokenizerFiles, name: string, options: LoadOptions): Promise<Tokenizer> {
  const file = files.where(name);
  const kind = options.kind ?? detectKind(name);
  switch (kind) {
    case 'wordpiece':
      return WordPieceTokenizer.fromVocabText(files.text(name), options, file);
    case 'sentencepiece':
    case 'cpm': {
      const model = parseSentencePieceModel(files.bytes(name), file);
      if (kind === 'cpm' || (options.kind === undefined && looksLikeCpm(model))) return new CpmTokenizer(model, await jiebaSegmenter(), file);
      return new SentencePieceTokenizer(model, file);
    }
    case 'byte-bpe': {
      const names = files.names();
      const pair = BPE_PAIRS.find(([v, m]) => name === v || name === m) ?? BPE_PAIRS.find(([v, m]) => names.has(v) && names.has(m));
      if (!pair) throw new TokenizerError(`byte-level BPE needs encoder.json + vocab.bpe or vocab.json + merges.txt beside ${file}`);
      const [v, m] = pair;
      for (const f of pair) if (!names.has(f)) throw new TokenizerError(`byte-level BPE: ${files.where(f)} is missing (needed with ${name})`);
      return ByteLevelBpeTokenizer.fromFiles(files.text(v), files.text(m), `${files.where(v)} + ${files.where(m)}`);
    }
    case 'tokenizer.json':
      return fromTokenizerJson(files.text(name), file);
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
