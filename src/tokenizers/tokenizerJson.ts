/**
 * Hugging Face `tokenizer.json` (the fast-tokenizer file): each section is mapped onto the kinds
 * above, switching on its `type`, and anything this cannot reproduce is refused by name rather than
 * approximated silently.
 *   model WordPiece + BertNormalizer + BertPreTokenizer         → WordPieceTokenizer
 *   model BPE + ByteLevel pre-tokenizer                         → ByteLevelBpeTokenizer
 *   model Unigram + Precompiled normalizer + Metaspace          → SentencePieceTokenizer (unigram)
 *   post_processor BertProcessing / RobertaProcessing / TemplateProcessing → framing and cls/sep/eos
 * Not reproduced: added tokens are not split out of the input text before tokenizing, and
 * RobertaProcessing's pair framing (`</s></s>` between texts) is encoded as BERT's single `</s>`.
 */
import { ByteLevelBpeTokenizer } from './bytebpe.ts';
import { PieceType, SentencePieceTokenizer, type SpPiece } from './sentencepiece.ts';
import { WordPieceTokenizer } from './wordpiece.ts';
import { TokenizerError, type Framing, type SpecialName, type Tokenizer } from './types.ts';
import { preview, type BaseTokenizer } from './base.ts';

type Json = Record<string, any>;

/** The tokenizer.json text each tokenizer built from one came from, so it can be saved as it was. */
export const tokenizerJsonSource = new WeakMap<Tokenizer, string>();

export function fromTokenizerJson(text: string, what = 'tokenizer.json'): Tokenizer {
  let spec: Json;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`corrupt ${what}: not JSON (${(e as Error).message})`);
  }
  if (!spec || typeof spec !== 'object' || !spec.model || typeof spec.model !== 'object') throw new TokenizerError(`corrupt ${what}: no "model" section`);
  try {
    const tok = build(spec, what);
    tokenizerJsonSource.set(tok, text);
    return tok;
  } catch (e) {
    // A section of the wrong shape (a string where an object or list belongs) surfaces as a
    // TypeError or a base64 error somewhere below; report it as the corrupt file it is.
    if (e instanceof TypeError || (e instanceof Error && e.name === 'InvalidCharacterError')) throw new TokenizerError(`corrupt ${what}: a section has the wrong shape (${e.message})`);
    throw e;
  }
}

function build(spec: Json, what: string): Tokenizer {
  const model: Json = spec.model;
  if (spec.added_tokens != null && !Array.isArray(spec.added_tokens)) throw new TokenizerError(`corrupt ${what}: added_tokens must be a list`);
  const unsupported = (section: string, value: Json | null | undefined) => new TokenizerError(`unsupported ${what}: ${section} type ${preview(value?.type)} with model ${model.type}`);
  const specialContents = new Set<string>((spec.added_tokens ?? []).filter((t: Json) => t.special).map((t: Json) => t.content));
  let tok: BaseTokenizer;

  if (model.type === 'WordPiece') {
    const norm = spec.normalizer;
    // Only BERT's own pipeline is reproduced: other splitters differ on punctuation and CJK.
    if (norm?.type !== 'BertNormalizer') throw unsupported('normalizer', norm);
    if (norm.clean_text === false || norm.handle_chinese_chars === false) throw new TokenizerError(`unsupported ${what}: BertNormalizer with clean_text or handle_chinese_chars off`);
    if (spec.pre_tokenizer?.type !== 'BertPreTokenizer') throw unsupported('pre_tokenizer', spec.pre_tokenizer);
    const lowercase = norm.lowercase !== false;
    tok = new WordPieceTokenizer(vocabArray(model.vocab, what), {
      lowercase,
      stripAccents: norm?.strip_accents ?? lowercase,
      maxCharsPerWord: model.max_input_chars_per_word ?? 100,
      unkToken: model.unk_token ?? '[UNK]',
      continuingPrefix: model.continuing_subword_prefix ?? '##',
    });
  } else if (model.type === 'BPE') {
    if (spec.pre_tokenizer?.type !== 'ByteLevel') throw unsupported('pre_tokenizer', spec.pre_tokenizer);
    if (spec.pre_tokenizer.add_prefix_space) throw new TokenizerError(`unsupported ${what}: ByteLevel add_prefix_space`);
    if (spec.normalizer) throw unsupported('normalizer', spec.normalizer);
    if (model.merges != null && !Array.isArray(model.merges)) throw new TokenizerError(`corrupt ${what}: BPE merges must be a list`);
    const merges: [string, string][] = (model.merges ?? []).map((m: string | string[], i: number) => {
      const pair = typeof m === 'string' ? m.split(' ') : m;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') throw new TokenizerError(`corrupt ${what}: merge ${i} is not a pair: ${preview(m)}`);
      return pair as [string, string];
    });
    if (!model.vocab || typeof model.vocab !== 'object' || Array.isArray(model.vocab)) throw new TokenizerError(`corrupt ${what}: BPE model has no vocab object`);
    tok = new ByteLevelBpeTokenizer(new Map(Object.entries(model.vocab)), merges);
  } else if (model.type === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw new TokenizerError(`corrupt ${what}: Unigram vocab must be a list of [piece, score]`);
    const byteFallback = Boolean(model.byte_fallback);
    if (model.unk_id != null && !(Number.isInteger(model.unk_id) && model.unk_id >= 0 && model.unk_id < model.vocab.length)) throw new TokenizerError(`corrupt ${what}: unk_id ${preview(model.unk_id)} is not an id of the vocabulary`);
    const pieces: SpPiece[] = model.vocab.map((entry: unknown, id: number) => {
      const [piece, score] = Array.isArray(entry) ? entry : [];
      if (typeof piece !== 'string' || typeof score !== 'number') throw new TokenizerError(`corrupt ${what}: Unigram vocab entry ${id} is not [piece, score]: ${preview(entry)}`);
      return {
      piece, score,
      type: id === model.unk_id ? PieceType.Unknown
        : specialContents.has(piece) ? PieceType.Control
          : byteFallback && /^<0x[0-9A-F]{2}>$/.test(piece) ? PieceType.Byte : PieceType.Normal,
      };
    });
    const normalizers: Json[] = spec.normalizer?.type === 'Sequence' ? spec.normalizer.normalizers : spec.normalizer ? [spec.normalizer] : [];
    let charsmap: Uint8Array | undefined;
    for (const n of normalizers) {
      if (n.type === 'Precompiled') charsmap = n.precompiled_charsmap ? Uint8Array.from(atob(n.precompiled_charsmap), (c) => c.charCodeAt(0)) : undefined;
      else if (!(n.type === 'Replace' && n.pattern?.Regex === ' {2,}')) throw unsupported('normalizer', n);
    }
    const pres: Json[] = spec.pre_tokenizer?.type === 'Sequence' ? spec.pre_tokenizer.pretokenizers : spec.pre_tokenizer ? [spec.pre_tokenizer] : [];
    const meta = pres.find((p) => p.type === 'Metaspace');
    if (!meta || pres.some((p) => p.type !== 'Metaspace' && p.type !== 'WhitespaceSplit')) throw unsupported('pre_tokenizer', spec.pre_tokenizer);
    const addDummyPrefix = meta.prepend_scheme ? meta.prepend_scheme !== 'never' : meta.add_prefix_space !== false;
    if (!normalizers.every((n) => n && typeof n === 'object') || !pres.every((n) => n && typeof n === 'object')) throw new TokenizerError(`corrupt ${what}: normalizer and pre_tokenizer entries must be objects`);
    const id = (t: string) => pieces.findIndex((p) => p.piece === t);
    tok = new SentencePieceTokenizer({
      pieces, modelType: 'unigram', byteFallback, unkSurface: ' \u2047 ',
      unkId: model.unk_id ?? -1, bosId: id('<s>'), eosId: id('</s>'), padId: id('<pad>'),
      normalizer: { name: 'tokenizer.json', charsmap, addDummyPrefix, removeExtraWhitespaces: true, escapeWhitespaces: true },
    }, what);
  } else {
    throw new TokenizerError(`unsupported ${what}: model type ${preview(model.type)} (supported: WordPiece, BPE, Unigram)`);
  }
  applyPostProcessor(tok, spec.post_processor, what);
  return tok;
}

function vocabArray(vocab: unknown, what: string): string[] {
  if (!vocab || typeof vocab !== 'object') throw new TokenizerError(`corrupt ${what}: model has no vocab`);
  const entries = Object.entries(vocab as Record<string, number>);
  const out: string[] = [];
  for (const [token, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= entries.length) throw new TokenizerError(`corrupt ${what}: token ${preview(token)} has id ${preview(id)} (ids must be 0..${entries.length - 1})`);
    out[id] = token;
  }
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) throw new TokenizerError(`corrupt ${what}: no token has id ${i}`);
  return out;
}

function applyPostProcessor(tok: BaseTokenizer, post: Json | null | undefined, what: string): void {
  if (!post) return;
  const set = (name: SpecialName, token: string) => {
    const id = tok.tokenToId(token);
    if (id === undefined) throw new TokenizerError(`corrupt ${what}: post_processor token ${preview(token)} is not in the vocabulary`);
    tok.specialTokens = { ...tok.specialTokens, [name]: { token, id } };
  };
  let framing: Framing = 'none';
  if (post.type === 'BertProcessing' || post.type === 'RobertaProcessing') {
    set('cls', post.cls[0]); set('sep', post.sep[0]);
    framing = 'bert';
  } else if (post.type === 'TemplateProcessing') {
    const single: Json[] = post.single ?? [];
    const special = (x: Json | undefined) => x?.SpecialToken?.id as string | undefined;
    const isA = (x: Json | undefined) => x?.Sequence?.id === 'A';
    if (single.length === 3 && special(single[0]) && isA(single[1]) && special(single[2])) {
      set('cls', special(single[0])!); set('sep', special(single[2])!);
      framing = 'bert';
    } else if (single.length === 2 && isA(single[0]) && special(single[1])) {
      set('eos', special(single[1])!);
      framing = 'eos';
    } else if (!(single.length === 1 && isA(single[0]))) {
      throw new TokenizerError(`unsupported ${what}: TemplateProcessing ${preview(single)}`);
    }
  } else if (post.type !== 'ByteLevel') {
    throw new TokenizerError(`unsupported ${what}: post_processor type ${preview(post.type)}`);
  }
  tok.framing = framing;
}
