/**
 * The contract every model family implements, so `buildModel` can treat them alike (bert4keras's
 * build_transformer_model): parse its config (Google or Hugging Face keys), build the graph for an
 * application, and map its weights to checkpoint names in each naming convention.
 */
import type { DType } from '../graph/dtype.ts';
import type { Tensor } from '../graph/tensor.ts';
import type { AttentionSpec } from '../nn/attention.ts';
import type { Scope } from '../nn/params.ts';

/** Options shared by all families (what buildModel passes through). */
export interface BuildOptions {
  /** Trimmed vocabulary: original ids of the tokens to keep, in new-id order (bert4keras keep_tokens). */
  keepTokens?: number[];
  /** Extend n learned positions to n^2: true = alpha 0.4, or the alpha. */
  hierarchicalPosition?: boolean | number;
  maxPosition?: number;
  dropoutRate?: number;
  attentionDropoutRate?: number;
  attentionKeySize?: number;
  /** Add a pooler (+ optional classifier with this many classes). */
  withPool?: boolean;
  numClasses?: number;
  withNsp?: boolean;
  dtype?: DType;
  /** The attention kind: softmax (default), performer (FAVOR+ random features) or linear (elu + 1). Weights are the same for every kind. */
  attention?: AttentionSpec;
}

/** Graph inputs a family reads, named as Hugging Face names them. */
export type ModelInputs = Record<string, Tensor>;
/** Outputs such as last_hidden_state, pooler_output, logits, nsp_logits, loss. */
export type ModelOutputs = Record<string, Tensor>;

export interface BuiltGraph {
  inputs: ModelInputs;
  outputs: ModelOutputs;
  /**
   * The output head (same weights as `outputs.logits`) applied to gathered rows (N, H) -> (N, V), so a
   * loss can run it only where there are labels. Set by language-model applications.
   */
  logitsAt?: (rows: Tensor) => Tensor;
}

/** How one of our weights is found in a checkpoint. */
export interface WeightMapping {
  /** Our parameter name (the Scope path). */
  ours: string;
  /** The checkpoint tensor name. */
  theirs: string;
  /** Checkpoint stores [out, in] (PyTorch Linear) where we store [in, out]. */
  transpose?: boolean;
  /** Ours is a slice of theirs: e.g. GPT-2's fused c_attn split into q, k, v along `axis`. */
  slice?: { axis: number; start: number; end: number };
  /** Reshape the checkpoint tensor to our shape (e.g. TF's [hidden, heads, size] kernels). */
  reshape?: boolean;
  /** Rows of a vocabulary-sized tensor to keep (keepTokens), axis 0. */
  rows?: number[];
  /** Optional tensors (e.g. a pooler absent from an MLM checkpoint) only warn when missing. */
  optional?: boolean;
}

export type Naming = 'hf' | 'google';

export interface FamilyDefinition<C = any> {
  /** e.g. 'bert', 'roberta', 'albert', 'albert_unshared', 'electra', 'gpt2', 't5', 't5.1.1', 'mt5'. */
  names: readonly string[];
  applications: string[];
  parseConfig(raw: Record<string, unknown>, family: string): C;
  /**
   * `given` tensors stand in for the graph inputs of the same name (so a graph can be built twice
   * over the same inputs, as TeaForN's passes are); an `inputs_embeds` (T5: `decoder_inputs_embeds`)
   * among them replaces the token-embedding lookup.
   */
  build(scope: Scope, config: C, application: string, options: BuildOptions, given?: ModelInputs): BuiltGraph;
  /** Every parameter the built graph declares must appear here. */
  weightMap(config: C, application: string, naming: Naming, options: BuildOptions): WeightMapping[];
}
