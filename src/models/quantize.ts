/**
 * `quantize(model, options)`: the same model with int8 weights. Nothing is copied or changed: the
 * returned Model shares the fp32 weight store, and every session it makes (predict, decoders from
 * `decoderFor`/`generatorFor`, `exportOnnx`, Triton export) runs runtime/quantize.ts's rewrite of the
 * lowered graph. `model.save(dir)` records the quantization in config.json (`bert4ts.quantize`), so
 * `buildModel(dir)` gives the quantized model back. The weights file stays fp32 (or the build's dtype):
 * the int8 weights are derived when a session is made, and `quantize(model, null)` is the fp32 model again.
 *
 *   const int8 = quantize(model, { mode: 'dynamic-int8' });          // model itself is unchanged
 *   const { logits } = await int8.predict({ input_ids: [[101, 2769, 103, 102]] });
 *
 * Other graphs (the xiangqi player, your own `compile` calls) take the same options as
 * `runtime: { quantize: { mode: 'dynamic-int8' } }`.
 */
import { checkQuantizeOptions, type QuantizeOptions } from '../runtime/quantize.ts';
import type { Model } from './build.ts';

export function quantize(model: Model, options: QuantizeOptions | null): Model {
  if (options === null) return model.withQuantization(undefined);
  checkQuantizeOptions(options);
  return model.withQuantization({ ...options });
}
