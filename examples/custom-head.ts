// A head you write yourself on a BERT encoder: registered by name, trained through model.loss,
// saved as a model directory, and rebuilt from that directory alone (config.json names the head).
//   npx tsx examples/custom-head.ts [out dir]     (default: a fresh directory under /tmp)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adamW, buildModel, dense, graph, loadTokenizer, registerHead, Trainer, WordPieceTokenizer } from '../src/index.ts';
const { cast, crossEntropy, div, input, mul, reduceSum, reshape } = graph;

// Masked mean of the last hidden state -> dense -> 2 logits. Any process that loads the saved model
// must run this registration first (import the module that holds it).
registerHead('mean-pool', {
  build: (scope, model) => {
    const h = model.outputs.last_hidden_state!; // (B, T, H)
    const [b, t] = h.shape;
    const mask = reshape(cast(model.inputs.attention_mask!, h.dtype), [b!, t!, 1]); // (B, T, 1)
    return { logits: dense(scope.child('out'), div(reduceSum(mul(h, mask), [1]), reduceSum(mask, [1])), 2) }; // (B, 2)
  },
  loss: (outputs) => {
    const labels = input('labels', 'int64', ['batch']);
    return { labels, loss: crossEntropy(outputs.logits!, labels) };
  },
});

const tokenizer = new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'good', 'bad', 'day', 'film', 'very']);
const config = { model_type: 'bert', vocab_size: 11, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 16 };
const model = buildModel(config, { head: 'mean-pool', labels: ['negative', 'positive'], tokenizer, seed: 1 });

// A few AdamW steps on a toy task: is the text good or bad?
const texts = ['a good day', 'a bad day', 'very good film', 'a very bad film', 'good', 'bad film'];
const batch = tokenizer.encodeBatch(texts);
const int64 = (rows: number[][]) => ({ dtype: 'int64' as const, shape: [rows.length, rows[0]!.length], data: BigInt64Array.from(rows.flat().map(BigInt)) });
const feeds = {
  input_ids: int64(batch.ids), attention_mask: int64(batch.attentionMask), token_type_ids: int64(batch.segments),
  labels: { dtype: 'int64' as const, shape: [texts.length], data: BigInt64Array.from(texts.map((t) => BigInt(t.includes('good')))) },
};
const trainer = await Trainer.create({ store: model.store, loss: (scope) => model.loss(scope), optimizer: adamW(3e-3) });
await trainer.fit({ batches: (function* () { for (;;) yield feeds; })(), steps: 40 });

const classify = async (m: typeof model, text: string) => {
  const { logits } = await m.predict({ input_ids: [tokenizer.encode(text).ids] }, { outputs: ['logits'] });
  const [n, p] = Array.from(logits!.data as Float32Array);
  const positive = 1 / (1 + Math.exp(n! - p!));
  return `${m.labels![positive > 0.5 ? 1 : 0]} (p = ${Math.max(positive, 1 - positive).toFixed(3)})`;
};
for (const text of ['a good film', 'a bad day']) console.log(`trained: '${text}' -> ${await classify(model, text)}`);

const dir = process.argv[2] ?? join(mkdtempSync(join(tmpdir(), 'bert4ts-head-')), 'model');
console.log(`saved ${model.save(dir).sort().join(', ')} to ${dir}`);
const back = buildModel(dir); // head, labels and weights from the directory; the tokenizer from loadTokenizer(dir)
const again = await loadTokenizer(dir);
console.log(`reloaded (head ${back.options.head}, tokenizer ${again.vocabSize} tokens): 'a good film' -> ${await classify(back, 'a good film')}`);
