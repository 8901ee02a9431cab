/**
 * The task heads bert4keras's labelling examples use, as registered heads whose names carry their
 * sizes, so a saved model that uses one rebuilds in any process (`bert4ts predict`, `serve`, a
 * user's script) from its config alone:
 *
 *   crf-<maxlen>x<labels>         CRF transitions over a tagger's emissions (outputs crf_trans); its
 *                                 loss unrolls the forward algorithm over a static maxlen
 *   global-pointer-<types>x<size> GlobalPointer span scores [B, types, T, T] over the last hidden state
 */
import { globalPointerCrossEntropy } from '../graph/composite.ts';
import { input, mul, reshape } from '../graph/ops.ts';
import { crfLoss, crfTransitions } from '../nn/crf.ts';
import { globalPointer } from '../nn/globalPointer.ts';
import { registerHead, registerHeadFamily } from './heads.ts';

/** A CRF over the tagger's emissions; the forward algorithm is unrolled, so every training batch is padded to `maxlen`. */
export function crfHead(maxlen: number, numLabels: number): string {
  return once(`crf-${maxlen}x${numLabels}`, (name) => registerHead(name, {
    build: (scope) => ({ crf_trans: mul(crfTransitions(scope, numLabels), 1) }), // an output, so the loss sees it
    loss: (outputs, model) => {
      const labels = input('labels', 'int64', ['batch', 'seq']);
      const emissions = reshape(outputs.logits!, ['batch', maxlen, numLabels]);
      return { labels, loss: crfLoss(emissions, outputs.crf_trans!, reshape(labels, ['batch', maxlen]), reshape(model.inputs.attention_mask!, ['batch', maxlen])) };
    },
  }));
}

/** GlobalPointer over the last hidden state: span scores [B, types, T, T]. */
export function globalPointerHead(types: number, headSize = 64): string {
  return once(`global-pointer-${types}x${headSize}`, (name) => registerHead(name, {
    build: (scope, model) => ({ logits: globalPointer(scope, model.outputs.last_hidden_state!, model.inputs.attention_mask!, { heads: types, headSize }) }),
    loss: (outputs) => {
      const labels = input('labels', 'int64', ['batch', types, 'seq', 'seq']);
      return { labels, loss: globalPointerCrossEntropy(reshape(labels, outputs.logits!.shape), outputs.logits!) };
    },
  }));
}

// Each sized head is registered once per process: a second tagTask, or a saved model's head rebuilt from
// its name before the task is made, must find the same definition, not a "different head" clash.
const registered = new Set<string>();
function once(name: string, register: (name: string) => string): string {
  if (!registered.has(name)) register(name);
  registered.add(name);
  return name;
}

/** The CRF head of a saved model: its transitions' weight name. */
export const crfTransitionsWeight = (head: string) => `heads/${head}/trans`;
export const isCrfHead = (head: string | undefined): head is string => head !== undefined && /^crf-\d+x\d+$/.test(head);
export const isGlobalPointerHead = (head: string | undefined): head is string => head !== undefined && /^global-pointer-\d+x\d+$/.test(head);

registerHeadFamily(/^crf-([1-9]\d{0,5})x([1-9]\d{0,5})$/, (m) => crfHead(Number(m[1]), Number(m[2])));
registerHeadFamily(/^global-pointer-([1-9]\d{0,5})x([1-9]\d{0,4})$/, (m) => globalPointerHead(Number(m[1]), Number(m[2])));
