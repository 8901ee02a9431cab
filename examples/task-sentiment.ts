// Sentence classification on bert4keras's sentiment data (task_sentiment_albert.py): [CLS] text
// [SEP] -> 2 classes, trained with the dev accuracy picking the best epoch, the model saved and its
// test accuracy re-measured after reloading the saved directory in a fresh process.
//   npx tsx examples/task-sentiment.ts [--limit 200] [--epochs 3] [--out DIR] [--base models/chinese-small]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/models/index.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { classifyTask, labelSet, prepareModel, readTaskRows } from '../src/tasks/finetune.ts';
import { options, outDir, printReloaded, trainSaveReload, shared, tinyConfig, vocab, evalMaxlen } from './_task.ts';

const o = options({ epochs: 3, maxlen: 128 });
const maxlen = o.maxlen;
// The zip holds sentiment/sentiment.{train,valid,test}.data (text<TAB>label); unpacked outside the repo.
const data = join(tmpdir(), 'bert4ts-data');
if (!existsSync(join(data, 'sentiment/sentiment.test.data'))) {
  mkdirSync(data, { recursive: true });
  execFileSync('unzip', ['-o', '-q', join(shared, 'corpora/sentiment/sentiment.zip'), '-d', data]);
}
const split = (name: string) => readTaskRows('classify', join(data, `sentiment/sentiment.${name}.data`), {}, o.limit);
const test = split('test');

if (o.evalDir) {
  const tokenizer = await loadTokenizer(o.evalDir);
  const model = buildModel(o.evalDir);
  const task = classifyTask(tokenizer, model.labels!, evalMaxlen(o, o.evalDir));
  await printReloaded(o.evalDir, model, o.modes, task, test);
  process.exit(0);
}

const [train, dev] = [split('train'), split('valid')];
const labels = labelSet([{ file: 'train', labels: train.map((r) => r.label) }, { file: 'dev', labels: dev.map((r) => r.label) }, { file: 'test', labels: test.map((r) => r.label) }]).sort();
const { dir, done } = outDir(o.out);
const { model, tokenizer, task } = await prepareModel({
  base: o.base, config: tinyConfig(tmpdir(), o.layers, o.hidden), vocab, corpus: train.map((r) => r.text), seed: 1,
  task: (t) => classifyTask(t, labels, maxlen),
});
console.log(`${train.length} train, ${dev.length} dev, ${test.length} test rows; ${o.base ? `base ${o.base}` : `random init, ${o.layers} layers, hidden ${o.hidden}`}, vocabulary ${tokenizer.vocabSize}`);
await trainSaveReload(import.meta.url, { model, task, train, dev, test, epochs: o.epochs, batchSize: 32, lr: o.lr ?? (o.base ? 2e-4 : 5e-4), seed: 1, log: console.log }, tokenizer, dir);
done();
