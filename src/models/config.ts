/**
 * Strict reading of model config files: every key must be known (a typo or an unsupported feature
 * is an error, never silently ignored), but the bookkeeping keys real hub configs carry are accepted.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Keys of Hugging Face's PretrainedConfig (and common extras) that do not change the architecture. */
export const GENERIC_HF_KEYS = [
  'model_type', 'architectures', 'torch_dtype', 'transformers_version', '_name_or_path', 'name_or_path',
  'id2label', 'label2id', 'num_labels', 'finetuning_task', 'problem_type', 'tokenizer_class', 'prefix',
  'task_specific_params', 'output_hidden_states', 'output_attentions', 'return_dict', 'torchscript',
  'use_bfloat16', 'pruned_heads', 'tie_word_embeddings', 'chunk_size_feed_forward', 'is_encoder_decoder',
  'cross_attention_hidden_size', 'add_cross_attention', 'tie_encoder_decoder', 'max_length', 'min_length',
  'do_sample', 'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty', 'temperature', 'top_k',
  'top_p', 'typical_p', 'repetition_penalty', 'length_penalty', 'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'output_scores',
  'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values',
  'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens', 'sep_token_id',
  'decoder_start_token_id', 'bos_token_id', 'eos_token_id', 'pad_token_id', 'use_cache', 'gradient_checkpointing',
  'initializer_range', 'initializer_factor', 'classifier_dropout', 'is_decoder', 'keys_to_ignore_at_inference',
];

export interface ConfigReader {
  optional(key: string): unknown;
  int(key: string, fallback?: number): number;
  number(key: string, fallback?: number): number;
}

/** Check `raw` has only `known` (or generic) keys; return typed getters that name the file and key on error. */
export function readConfig(raw: Record<string, unknown>, known: readonly string[], source: string): ConfigReader {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: a config must be a JSON object`);
  const allowed = new Set([...known, ...GENERIC_HF_KEYS]);
  const unknown = Object.keys(raw).filter((k) => !allowed.has(k));
  if (unknown.length) throw new ConfigError(`${source}: unsupported config key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}`);
  const get = (key: string, fallback: number | undefined, integer: boolean): number => {
    const v = raw[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new ConfigError(`${source}: missing required key '${key}'`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new ConfigError(`${source}: '${key}' must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    }
    if (integer && v < 0) throw new ConfigError(`${source}: '${key}' must not be negative, got ${v}`);
    return v;
  };
  return {
    optional: (key) => raw[key] ?? undefined,
    int: (key, fallback) => get(key, fallback, true),
    number: (key, fallback) => get(key, fallback, false),
  };
}
