// A user-written head for the save tests: masked mean of the last hidden state -> dense -> logits [B, 3].
import { cast, div, mul, reduceSum, reshape } from '../../src/graph/ops.ts';
import { registerHead } from '../../src/models/index.ts';
import { dense } from '../../src/nn/layers.ts';

export const MEAN_HEAD = registerHead('mean-classifier', (scope, model) => {
  const h = model.outputs.last_hidden_state!; // (B, T, H)
  const [b, t] = h.shape;
  const mask = reshape(cast(model.inputs.attention_mask!, h.dtype), [b!, t!, 1]); // (B, T, 1)
  const pooled = div(reduceSum(mul(h, mask), [1]), reduceSum(mask, [1])); // (B, H)
  return { logits: dense(scope.child('out'), pooled, 3) }; // (B, 3)
});
