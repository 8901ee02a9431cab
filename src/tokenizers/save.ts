/**
 * `saveTokenizer(tokenizer, dir)`: writes a tokenizer as files `loadTokenizer(dir)` reads back to
 * the same tokenizer (same ids, tokens, segments and offsets):
 *   tokenizer.json-backed → tokenizer.json as it was read;
 *   WordPiece → vocab.txt; SentencePiece and CPM → spiece.model (the original bytes, or the
 *     pieces re-serialized after trimming); byte-level BPE → vocab.json + merges.txt;
 *   always tokenizer_config.json (Hugging Face keys: special tokens, lower-casing, ALBERT
 *     preprocessing; plus `bert4ts_kind`), and keep_tokens.json when `keepTokens` is set.
 * Each file is written atomically. Other files in `dir` (weights, config.json) are left alone, but a
 * tokenizer file this would not overwrite (another kind's vocabulary, special_tokens_map.json, a
 * stale keep_tokens.json) is refused: it would change what loads back.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from '../util/node/fs.ts';
import { join } from '../util/node/path.ts';
import { FileError, writeFileAtomic } from '../util/files.ts';
import { ByteLevelBpeTokenizer } from './bytebpe.ts';
import { CpmTokenizer } from './cpm.ts';
import type { Kind } from './hfConfig.ts';
import { SentencePieceTokenizer, type SpModel } from './sentencepiece.ts';
import { tokenizerJsonSource } from './tokenizerJson.ts';
import { WordPieceTokenizer } from './wordpiece.ts';
import { TokenizerError, type Tokenizer } from './types.ts';

const TOKENIZER_FILES = /^(vocab\.txt|.*\.model|encoder\.json|vocab\.bpe|vocab\.json|merges\.txt|tokenizer\.json|keep_tokens\.json|tokenizer_config\.json|special_tokens_map\.json)$/;

/** Writes `tokenizer` to `dir` (created if needed); returns the file names written. */
export function saveTokenizer(tokenizer: Tokenizer, dir: string): string[] {
  const files = new Map<string, string | Uint8Array>();
  const config: Record<string, unknown> = Object.create(null);
  let kind: Kind;
  const json = tokenizerJsonSource.get(tokenizer);
  if (json !== undefined) {
    kind = 'tokenizer.json';
    files.set('tokenizer.json', json);
  } else if (tokenizer instanceof WordPieceTokenizer) {
    kind = 'wordpiece';
    const bad = tokenizer.tokens.findIndex((t) => t !== t.trim() || t.includes('\n'));
    if (bad >= 0) throw new TokenizerError(`saveTokenizer: WordPiece token ${bad} (${JSON.stringify(tokenizer.tokens[bad])}) cannot be written to vocab.txt (a newline or surrounding whitespace)`);
    files.set('vocab.txt', tokenizer.tokens.join('\n') + '\n');
    Object.assign(config, { tokenizer_class: 'BertTokenizer', do_lower_case: tokenizer.lowercase, strip_accents: tokenizer.stripAccents, max_input_chars_per_word: tokenizer.maxCharsPerWord, continuing_subword_prefix: tokenizer.continuingPrefix });
  } else if (tokenizer instanceof SentencePieceTokenizer) {
    kind = tokenizer instanceof CpmTokenizer ? 'cpm' : 'sentencepiece';
    files.set('spiece.model', tokenizer.model.source ?? serializeSentencePieceModel(tokenizer.model));
    const p = tokenizer.preprocess;
    if (p) Object.assign(config, { do_lower_case: p.lowercase, keep_accents: p.keepAccents, remove_space: p.removeSpace });
  } else if (tokenizer instanceof ByteLevelBpeTokenizer) {
    kind = 'byte-bpe';
    const entries = [...tokenizer.encoder].sort((a, b) => a[1] - b[1]);
    // Written by hand: JSON.stringify of an object would drop or mangle a "__proto__" token.
    files.set('vocab.json', '{' + entries.map(([t, id]) => `${JSON.stringify(t)}: ${id}`).join(',\n') + '}\n');
    const bad = tokenizer.merges.find((m) => m.some((s) => /[ \n\r]/.test(s) || s === ''));
    if (bad) throw new TokenizerError(`saveTokenizer: merge ${JSON.stringify(bad)} has a space or newline and cannot be written to merges.txt`);
    files.set('merges.txt', '#version: 0.2\n' + tokenizer.merges.map(([a, b]) => `${a} ${b}\n`).join(''));
  } else {
    throw new TokenizerError(`saveTokenizer: cannot save a ${tokenizer.kind} tokenizer (not one loadTokenizer builds)`);
  }
  config.bert4ts_kind = kind;
  for (const [name, t] of Object.entries(tokenizer.specialTokens)) if (t) config[`${name}_token`] = t.token;
  files.set('tokenizer_config.json', JSON.stringify(config, null, 2) + '\n');
  if (tokenizer.keepTokens) files.set('keep_tokens.json', JSON.stringify(tokenizer.keepTokens) + '\n');

  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new FileError(dir, 'exists and is not a directory');
  mkdirSync(dir, { recursive: true });
  const stale = readdirSync(dir).filter((f) => TOKENIZER_FILES.test(f) && !files.has(f));
  if (stale.length) throw new FileError(dir, `already holds tokenizer files this save would not replace (${stale.join(', ')}); they would change what loads back. Remove them or choose another directory`);
  for (const [name, data] of files) writeFileAtomic(join(dir, name), data);
  return [...files.keys()];
}

/** A SentencePiece ModelProto with what `parseSentencePieceModel` reads (pieces, trainer and normalizer specs). */
export function serializeSentencePieceModel(model: SpModel): Uint8Array {
  const out: number[] = [];
  const varint = (v: number) => {
    let x = BigInt.asUintN(64, BigInt(v)); // int32 -1 is ten bytes, as protobuf writes it
    do { const b = Number(x & 0x7fn); x >>= 7n; out.push(x ? b | 0x80 : b); } while (x);
  };
  const message = (field: number, write: () => void) => {
    const start = out.length;
    write();
    const body = out.splice(start);
    varint((field << 3) | 2); varint(body.length);
    for (const b of body) out.push(b);
  };
  const bytes = (field: number, data: Uint8Array) => { varint((field << 3) | 2); varint(data.length); for (const b of data) out.push(b); };
  const string = (field: number, s: string) => bytes(field, new TextEncoder().encode(s));
  const num = (field: number, v: number) => { varint(field << 3); varint(v); };
  const f32 = new DataView(new ArrayBuffer(4));
  for (const p of model.pieces) {
    message(1, () => {
      string(1, p.piece);
      f32.setFloat32(0, p.score, true);
      varint((2 << 3) | 5); for (let k = 0; k < 4; k++) out.push(f32.getUint8(k));
      num(3, p.type);
    });
  }
  message(2, () => {
    num(3, model.modelType === 'unigram' ? 1 : 2);
    num(35, model.byteFallback ? 1 : 0);
    num(40, model.unkId); num(41, model.bosId); num(42, model.eosId); num(43, model.padId);
    string(44, model.unkSurface);
  });
  const n = model.normalizer;
  message(3, () => {
    string(1, n.name);
    if (n.charsmap) bytes(2, n.charsmap);
    num(3, n.addDummyPrefix ? 1 : 0); num(4, n.removeExtraWhitespaces ? 1 : 0); num(5, n.escapeWhitespaces ? 1 : 0);
  });
  return Uint8Array.from(out);
}
