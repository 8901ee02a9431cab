/**
 * Hugging Face `tokenizer_config.json` and `special_tokens_map.json`, read as plain data (no file
 * system here). What is honoured:
 *   - SentencePiece (AlbertTokenizer, XLNetTokenizer): `do_lower_case`, `keep_accents`,
 *     `remove_space`, as those classes' `preprocess_text` applies them (with `` and '' → ") before
 *     SentencePiece; missing keys take the class's defaults (ALBERT: lower-case, strip accents,
 *     squeeze spaces; XLNet: the same but cased). Without a tokenizer_class, any of those keys
 *     turns the preprocessing on (missing ones off); other classes (T5...) get none.
 *   - WordPiece (BertTokenizer): `do_lower_case`, `strip_accents`, `unk_token`, and the
 *     tokenizer.json names `max_input_chars_per_word`, `continuing_subword_prefix`.
 *   - `<name>_token` (cls sep pad unk mask bos eos eod; a string or {content}) for every kind, when
 *     the vocabulary has that token (Hugging Face would add a missing one as a new token; we cannot).
 *   - `bert4ts_kind`: the kind `saveTokenizer` wrote, so a CPM-like model saved as plain
 *     SentencePiece loads back as one.
 * Keys are looked up as own properties only, so "__proto__" or "constructor" in a file is just an
 * unknown key.
 */
import { preview } from './base.ts';
import type { SpPreprocess } from './sentencepiece.ts';
import type { WordPieceOptions } from './wordpiece.ts';
import { TokenizerError, type SpecialName } from './types.ts';

export const SPECIAL_NAMES: readonly SpecialName[] = ['cls', 'sep', 'pad', 'unk', 'mask', 'bos', 'eos', 'eod'];
export const KINDS = ['wordpiece', 'sentencepiece', 'cpm', 'byte-bpe', 'tokenizer.json'] as const;
export type Kind = (typeof KINDS)[number];

export interface HfConfig {
  tokenizerClass?: string;
  kind?: Kind;
  preprocess?: SpPreprocess;
  wordpiece: WordPieceOptions;
  specials: Map<SpecialName, string>;
}

const PREPROCESS_DEFAULTS = new Map<string, SpPreprocess>([
  ['AlbertTokenizer', { lowercase: true, keepAccents: false, removeSpace: true }],
  ['XLNetTokenizer', { lowercase: false, keepAccents: false, removeSpace: true }],
]);
const NEUTRAL: SpPreprocess = { lowercase: false, keepAccents: true, removeSpace: false };

/** `files`: [name, text] of tokenizer_config.json then special_tokens_map.json (later ones win for special tokens). */
export function parseHfConfig(files: [string, string][]): HfConfig {
  const out: HfConfig = { wordpiece: {}, specials: new Map() };
  for (const [name, text] of files) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TokenizerError(`corrupt ${name}: not JSON (${(e as Error).message})`);
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new TokenizerError(`corrupt ${name}: expected a JSON object`);
    const obj = json as Record<string, unknown>;
    const get = (key: string): unknown => (Object.hasOwn(obj, key) ? obj[key] : undefined);
    const typed = <T>(key: string, type: string, allowNull = false): T | undefined => {
      const v = get(key);
      if (v === undefined || (allowNull && v === null)) return undefined;
      if (typeof v !== type) throw new TokenizerError(`corrupt ${name}: "${key}" must be a ${type}, got ${preview(v, 60)}`);
      return v as T;
    };
    for (const special of SPECIAL_NAMES) {
      const v = get(`${special}_token`);
      if (v === undefined || v === null) continue;
      const token = typeof v === 'object' && Object.hasOwn(v, 'content') ? (v as { content: unknown }).content : v;
      if (typeof token !== 'string') throw new TokenizerError(`corrupt ${name}: "${special}_token" must be a string or {"content": string}`);
      out.specials.set(special, token);
    }
    if (name.endsWith('special_tokens_map.json')) continue;
    const cls = typed<string>('tokenizer_class', 'string');
    if (cls !== undefined) out.tokenizerClass = cls.replace(/Fast$/, '');
    const kind = typed<string>('bert4ts_kind', 'string');
    if (kind !== undefined) {
      if (!(KINDS as readonly string[]).includes(kind)) throw new TokenizerError(`corrupt ${name}: "bert4ts_kind" must be one of ${KINDS.join(', ')}, got ${preview(kind)}`);
      out.kind = kind as Kind;
    }
    const lower = typed<boolean>('do_lower_case', 'boolean');
    const keepAccents = typed<boolean>('keep_accents', 'boolean');
    const removeSpace = typed<boolean>('remove_space', 'boolean');
    // Only ALBERT and XLNet preprocess (their class, or no class but their keys); T5 and others do not.
    const base = PREPROCESS_DEFAULTS.get(out.tokenizerClass ?? '');
    if (base || (out.tokenizerClass === undefined && (lower !== undefined || keepAccents !== undefined || removeSpace !== undefined))) {
      const p = { ...(base ?? NEUTRAL) }; // even with all three off, `` and '' still become "
      if (lower !== undefined) p.lowercase = lower;
      if (keepAccents !== undefined) p.keepAccents = keepAccents;
      if (removeSpace !== undefined) p.removeSpace = removeSpace;
      out.preprocess = p;
    }
    const wp = out.wordpiece;
    if (lower !== undefined) wp.lowercase = lower;
    const strip = typed<boolean>('strip_accents', 'boolean', true);
    if (strip !== undefined) wp.stripAccents = strip;
    const maxChars = typed<number>('max_input_chars_per_word', 'number');
    if (maxChars !== undefined) wp.maxCharsPerWord = maxChars;
    const prefix = typed<string>('continuing_subword_prefix', 'string');
    if (prefix !== undefined) wp.continuingPrefix = prefix;
  }
  const unk = out.specials.get('unk');
  if (unk !== undefined) out.wordpiece.unkToken = unk;
  return out;
}
