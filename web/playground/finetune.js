// The fine-tuning demo's steps, written once against the library's public API and given the library as
// an argument: the page passes its browser build (/lib/bert4ts.js), test/browser/playground.test.ts
// passes the Node build, so both run the very same batches, graph and optimizer.

export const FINETUNE_DEFAULTS = Object.freeze({ seed: 1, batchSize: 16, maxlen: 48, learningRate: 1e-4, steps: 40 });

/**
 * A classifier on top of a saved model directory (`from`: a URL in the page, a path in Node) and its
 * trainer. `data` is sentiment.json's shape: `{ labels, train: [[text, label], ...] }`. Dropout is off:
 * its masks come from ORT's RandomUniformLike, whose draws need not match between onnxruntime-web and
 * onnxruntime-node, and the demo's losses are checked against Node's.
 */
export async function createFineTune(lib, from, data, options = {}) {
  const o = { ...FINETUNE_DEFAULTS, ...options };
  if (!Array.isArray(data?.train) || data.train.length < o.batchSize) throw new Error(`fine-tune: need at least ${o.batchSize} training rows, got ${data?.train?.length ?? 'none'}`);
  if (!Array.isArray(data.labels) || data.labels.length < 2) throw new Error('fine-tune: data.labels must name at least two classes');
  const bad = data.train.findIndex((r) => !Array.isArray(r) || typeof r[0] !== 'string' || !Number.isInteger(r[1]) || r[1] < 0 || r[1] >= data.labels.length);
  if (bad >= 0) throw new Error(`fine-tune: training row ${bad} is not [text, label id < ${data.labels.length}]`);
  const model = await lib.loadModel(from, { application: 'encoder', labels: data.labels, seed: o.seed, dropoutRate: 0, attentionDropoutRate: 0 });
  // The word embeddings stay frozen: a few hundred rows touch few of their rows, and freezing spares
  // the gradient and Adam update of half the model's parameters (3.4 M of chinese-small's 6.6 M).
  const trainer = await lib.Trainer.create({
    store: model.store, loss: (s) => model.loss(s), optimizer: lib.adamW(o.learningRate), clipNorm: 1,
    trainable: (name) => !name.endsWith('word_embeddings'),
  });
  const feeds = (rows, withLabels) => lib.toFeeds(model.tokenizer, rows.map((r) => r[0]), { maxlen: o.maxlen, ...(withLabels ? { labels: rows.map((r) => r[1]) } : {}) });
  // Epochs over a seeded shuffle of the rows; a short last batch is dropped so every step has batchSize rows.
  let order = [], at = 0, epoch = 0;
  const nextBatch = () => {
    if (at + o.batchSize > order.length) { order = lib.shuffle(data.train, o.seed + epoch++); at = 0; }
    at += o.batchSize;
    return order.slice(at - o.batchSize, at);
  };
  return {
    model, trainer, options: o,
    get epoch() { return epoch; },
    /** One training step on the next batch; its loss. */
    async step() { return (await trainer.trainStep(feeds(nextBatch(), true))).loss; },
    /** Class probabilities for each text. */
    async predict(texts) {
      const { logits } = await model.predict(feeds(texts.map((t) => [t]), false), { outputs: ['logits'] });
      const C = logits.shape[1];
      return texts.map((_, i) => softmax(Array.from(logits.data.subarray(i * C, (i + 1) * C))));
    },
  };
}

function softmax(row) {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}
