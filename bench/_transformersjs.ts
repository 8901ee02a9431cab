/**
 * What the benches that compare with transformers.js share: our models lowered to the ONNX graphs
 * transformers.js feeds (Optimum's input and output names), written as the model directories it loads
 * from local files (config.json + onnx/<file>), and where its installed copy lives (bench/transformersjs,
 * apart from the root package.json: `npm --prefix bench/transformersjs ci`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { input } from '../src/graph/ops.ts';
import type { Tensor } from '../src/graph/tensor.ts';
import type { Model } from '../src/models/build.ts';
import { gpt2, type GPT2Config, type LayerCache } from '../src/models/gpt2.ts';
import { Scope } from '../src/nn/params.ts';
import { lower, type LoweredModel } from '../src/runtime/lower.ts';

/** bench/transformersjs/node_modules (transformers.js and the onnxruntime-web it depends on). */
export const TJS_MODULES = fileURLToPath(new URL('./transformersjs/node_modules/', import.meta.url));
/** transformers.js's self-contained browser ESM build (onnxruntime-web inside), or undefined when not installed. */
export function tjsBrowserFiles(): { dist: string; ortDist: string; version: string } | undefined {
  const dist = join(TJS_MODULES, '@huggingface/transformers/dist');
  const ortDist = join(TJS_MODULES, 'onnxruntime-web/dist');
  if (!existsSync(join(dist, 'transformers.min.js')) || !existsSync(join(ortDist, 'ort-wasm-simd-threaded.jsep.wasm'))) return undefined;
  const version = (JSON.parse(readFileSync(join(TJS_MODULES, '@huggingface/transformers/package.json'), 'utf8')) as { version: string }).version;
  return { dist, ortDist, version };
}

/** A transformers.js model directory `root/dirName`: config.json + onnx/<file> (weights inline). */
export function writeTjsDir(root: string, dirName: string, config: Record<string, unknown>, onnx: LoweredModel, file = 'model_quantized.onnx'): string {
  const dir = join(root, dirName);
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  onnx.writeFiles(join(dir, 'onnx', file), Infinity);
  return dirName;
}

/**
 * An encoder (BERT family) as transformers.js feeds it: the model's own graph (inputs input_ids /
 * attention_mask / token_type_ids, its head's outputs, e.g. logits), the training loss left out.
 */
export function tjsEncoderGraph(model: Model, name = 'bert'): LoweredModel {
  const outputs = Object.fromEntries(Object.entries(model.outputs).filter(([n]) => n !== 'loss')) as Record<string, Tensor>;
  return lower(outputs, { params: 'initializers', paramValue: (n) => model.store.get(n), name });
}

/**
 * The GPT-2 decoder graph transformers.js feeds: Optimum's names (input_ids, position_ids, attention_mask,
 * past_key_values.i.key|value in, logits and present.i.key|value out) and cache layout [batch, heads, past, head_dim].
 */
export function tjsGpt2Graph(model: Model, name = 'gpt2'): LoweredModel {
  const c = model.config as GPT2Config;
  const hd = c.hiddenSize / c.numHeads;
  const cache: LayerCache[] = Array.from({ length: c.numLayers }, (_, i) => ({
    k: input(`past_key_values.${i}.key`, 'float32', ['batch', c.numHeads, 'past', hd]),
    v: input(`past_key_values.${i}.value`, 'float32', ['batch', c.numHeads, 'past', hd]),
  }));
  const out = gpt2(new Scope(model.store), c, {
    ids: input('input_ids', 'int64', ['batch', 'seq']), positionIds: input('position_ids', 'int64', ['batch', 'seq']),
    attentionMask: input('attention_mask', 'int64', ['batch', 'past+seq']), cache, past: 'past',
  });
  const outputs: Record<string, Tensor> = { logits: out.logits };
  out.cache.forEach((l, i) => { outputs[`present.${i}.key`] = l.k; outputs[`present.${i}.value`] = l.v; });
  return lower(outputs, { params: 'initializers', paramValue: (n) => model.store.get(n), name });
}
