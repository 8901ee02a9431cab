// Load a real Google-format TensorFlow BERT checkpoint (bert_config.json + bert_model.ckpt.* +
// vocab.txt), tokenize, and predict the [MASK]ed word; then export the model as ONNX.
//   npx tsx examples/bert-mlm.ts [model dir]     (default: ../shared/data/checkpoints/tf/keras_bert_tiny)
import { buildModel, loadTokenizer } from '../src/index.ts';

const dir = process.argv[2] ?? '../shared/data/checkpoints/tf/keras_bert_tiny';
const model = buildModel(`${dir}/bert_config.json`, { checkpoint: `${dir}/bert_model.ckpt`, application: 'mlm' });
console.log(`loaded ${model.loadReport?.loaded} weights (${model.loadReport?.naming} naming); unused: ${model.loadReport?.unexpected.join(', ') || 'none'}`);
const tokenizer = await loadTokenizer(`${dir}/vocab.txt`);
const enc = tokenizer.encode('all work and no play');
const at = enc.tokens.indexOf('no');
const ids = [...enc.ids];
ids[at] = tokenizer.specialTokens.mask!.id; // mask one word
const { logits } = await model.predict({ input_ids: [ids] }); // [1, T, V]
const V = logits!.shape[2]!;
const row = Array.from((logits!.data as Float32Array).subarray(at * V, (at + 1) * V));
const best = row.indexOf(Math.max(...row));
console.log(`all work and [MASK] play -> [MASK] = '${tokenizer.idToToken(best)}' (the tiny test checkpoint was barely trained)`);
const files = model.exportOnnx('/tmp/bert-mlm.onnx');
console.log(`exported ${files.modelPath} (inputs ${files.inputs.join(', ')})`);
