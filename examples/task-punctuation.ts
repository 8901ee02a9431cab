// Sequence labelling with real labels: punctuation restoration on the CSL abstracts. The marks
// ，,。、；;： are stripped from the text and each remaining character is tagged with the mark that
// followed it (COMMA, PERIOD, DUN, SEMI, COLON) or O; the model puts them back. Trained with a
// softmax per character, or with --crf a CRF over the same emissions (Viterbi decoding); scored by
// micro precision/recall/F1 over the marks (O excluded) on the test abstracts.
//   npx tsx examples/task-punctuation.ts [--crf] [--limit 64] [--epochs 2] [--out DIR]
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../src/models/index.ts';
import { loadTokenizer } from '../src/tokenizers/index.ts';
import { prepareModel, readTaskRows, tagTask, type TagRow } from '../src/tasks/finetune.ts';
import { options, outDir, printReloaded, trainSaveReload, shared, tinyConfig, vocab, evalMaxlen } from './_task.ts';

const o = options({ epochs: 2, maxlen: 128 });
const crf = o.crf;
const MARKS: Record<string, string> = { '，': 'COMMA', ',': 'COMMA', '。': 'PERIOD', '、': 'DUN', '；': 'SEMI', ';': 'SEMI', '：': 'COLON' };
const labels = ['O', 'COMMA', 'PERIOD', 'DUN', 'SEMI', 'COLON'];

/** An abstract without its marks, each character tagged with the mark after it, cut into rows of maxlen - 2 characters. */
function rows(abstract: string): TagRow[] {
  const chars: string[] = [], tags: string[] = [];
  for (const c of abstract) {
    if (MARKS[c]) { if (chars.length && tags[tags.length - 1] === 'O') tags[tags.length - 1] = MARKS[c]!; continue; }
    chars.push(c);
    tags.push('O');
  }
  const n = o.maxlen - 2;
  return Array.from({ length: Math.ceil(chars.length / n) }, (_, i) => ({ text: chars.slice(i * n, (i + 1) * n).join(''), tags: tags.slice(i * n, (i + 1) * n) }));
}
const split = (name: string) => readTaskRows('seq2seq', join(shared, `corpora/csl/${name}.tsv`), { source: '1', target: '0' }, o.limit).flatMap((r) => rows(r.source));
const test = split('test');

if (o.evalDir) {
  const task = tagTask(await loadTokenizer(o.evalDir), labels, { maxlen: evalMaxlen(o, o.evalDir), crf }); // registers the CRF head before the build
  await printReloaded(o.evalDir, buildModel(o.evalDir), o.modes, task, test);
  process.exit(0);
}

const [train, dev] = [split('train'), split('dev')];
const { dir, done } = outDir(o.out);
const { model, tokenizer, task } = await prepareModel({
  base: o.base, config: tinyConfig(tmpdir(), o.layers, o.hidden), vocab, seed: 1, charLevel: true,
  corpus: train.map((r) => r.text), task: (t) => tagTask(t, labels, { maxlen: o.maxlen, crf }),
});
const marks = (rs: TagRow[]) => rs.reduce((n, r) => n + r.tags.filter((t) => t !== 'O').length, 0);
console.log(`${train.length} train, ${dev.length} dev, ${test.length} test rows (${marks(test)} test marks); ${crf ? 'CRF' : 'softmax'}; ${o.base ? `base ${o.base}` : `random init, ${o.layers} layers, hidden ${o.hidden}`}, vocabulary ${tokenizer.vocabSize}`);
await trainSaveReload(import.meta.url, { model, task, train, dev, test, epochs: o.epochs, batchSize: 32, lr: o.lr ?? (o.base ? 2e-4 : 1e-3), seed: 1, log: console.log }, tokenizer, dir);
done();
