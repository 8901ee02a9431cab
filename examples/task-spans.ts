// Span extraction with GlobalPointer, with labels taken from real text: in the CSL abstracts, the
// spans authors wrote in parentheses — (…) or （…） — mostly abbreviations and English terms after
// the Chinese ones ("…混合算法(PKAIN_spx)…"). The brackets are removed from the input and the model
// marks which character spans were bracketed; scored by span precision/recall/F1 (start and end
// exact) on the test abstracts, which are cut to maxlen - 2 characters (spans past the cut dropped).
//   npx tsx examples/task-spans.ts [--limit 64] [--epochs 4] [--out DIR]
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/models/index.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { prepareModel, readTaskRows, spanTask, type SpanRow } from '../src/tasks/finetune.ts';
import { options, outDir, printReloaded, trainSaveReload, shared, tinyConfig, vocab, evalMaxlen } from './_task.ts';

const o = options({ epochs: 4, maxlen: 128 });
const types = ['PAREN'];

/** The abstract without its brackets, and the character spans they enclosed (unbalanced brackets are just removed). */
function row(abstract: string): SpanRow {
  const chars: string[] = [], spans: SpanRow['spans'] = [], open: number[] = [];
  for (const c of abstract) {
    if (c === '(' || c === '（') open.push(chars.length);
    else if (c === ')' || c === '）') {
      const start = open.pop();
      if (start !== undefined && chars.length > start) spans.push({ start, end: chars.length, label: 'PAREN' });
    } else chars.push(c);
  }
  return { text: chars.join(''), spans };
}
const split = (name: string) => readTaskRows('seq2seq', join(shared, `corpora/csl/${name}.tsv`), { source: '1', target: '0' }, o.limit).map((r) => row(r.source));
const test = split('test');

if (o.evalDir) {
  const task = spanTask(await loadTokenizer(o.evalDir), types, { maxlen: evalMaxlen(o, o.evalDir) }); // registers the head before the build
  await printReloaded(o.evalDir, buildModel(o.evalDir), o.modes, task, test);
  process.exit(0);
}

const [train, dev] = [split('train'), split('dev')];
const { dir, done } = outDir(o.out);
const { model, tokenizer, task } = await prepareModel({
  base: o.base, config: tinyConfig(tmpdir(), o.layers, o.hidden), vocab, seed: 1, charLevel: true,
  corpus: train.map((r) => r.text), task: (t) => spanTask(t, types, { maxlen: o.maxlen }),
});
const count = (rs: SpanRow[]) => rs.reduce((n, r) => n + r.spans.filter((s) => s.end <= o.maxlen - 2).length, 0);
console.log(`${train.length} train, ${dev.length} dev, ${test.length} test abstracts (${count(train)} / ${count(dev)} / ${count(test)} spans within ${o.maxlen - 2} characters); ${o.base ? `base ${o.base}` : `random init, ${o.layers} layers, hidden ${o.hidden}`}, vocabulary ${tokenizer.vocabSize}`);
await trainSaveReload(import.meta.url, { model, task, train, dev, test, epochs: o.epochs, batchSize: 32, lr: o.lr ?? (o.base ? 2e-4 : 1e-3), seed: 1, log: console.log }, tokenizer, dir);
done();
