// Title generation on CSL (bert4keras task_seq2seq_autotitle_csl.py) with UniLM on BERT: the
// abstract is the source ([CLS] abstract [SEP], segment 0), the title the target (segment 1, under
// the UniLM mask); with --t5 (or a T5 / mT5 --base) an encoder-decoder reads the abstract and writes
// the title (task_seq2seq_autotitle_csl_mt5.py). The dev ROUGE-L of greedy titles picks the best epoch; test titles are decoded
// greedily, greedily without repeating a generated trigram, and with beam search (4) and scored with bert4keras's character-level ROUGE-1/2/L and
// BLEU; the saved model is reloaded in a fresh process and scored again.
//   npx tsx examples/task-csl-title.ts [--limit 64] [--epochs 6] [--out DIR] [--base models/chinese-small | --t5]
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, type Model } from '../src/models/index.ts';
import { generationScores } from '../src/metrics/index.ts';
import { loadTokenizer, type Tokenizer } from '../src/tokenizers/index.ts';
import { finetune, formatMetrics, prepareModel, readTaskRows, seq2seqTaskFor, type Seq2SeqRow } from '../src/tasks/finetune.ts';
import { options, outDir, printReloaded, reloadInFreshProcess, shared, tinyConfig, vocab, evalMaxlen } from './_task.ts';

const o = options({ epochs: 6, maxlen: 192 });
const maxTarget = 32;
// --t5: mT5-shaped, 2 + 2 layers, d_model 128, as bert4keras's mT5 example but from random weights.
const t5Config = fileURLToPath(new URL('configs/mt5-csl-small.json', import.meta.url));
const t5Vocab = join(shared, 'tokenizers/mt5-chinese/sentencepiece_cn.model');
const split = (name: string) => readTaskRows('seq2seq', join(shared, `corpora/csl/${name}.tsv`), { source: '1', target: '0' }, o.limit);
const test = split('test');

/** Greedy, greedy without a repeated trigram, and beam-4 scores on the test rows; the first sample titles. */
async function score(model: Model, tokenizer: Tokenizer, rows: Seq2SeqRow[]): Promise<string[]> {
  const lines: string[] = [];
  for (const [name, beam, noRepeatNgram] of [['greedy', 1, undefined], ['greedy, no repeated trigram', 1, 3], ['beam 4', 4, undefined]] as const) {
    const task = seq2seqTaskFor(model.family, tokenizer, { maxlen: o.maxlen, maxTarget, noRepeatNgram });
    const titles = await task.generate(model, rows.map((r) => r.source), beam);
    lines.push(`test ${name}: ${formatMetrics({ ...generationScores(titles, rows.map((r) => r.target)) })}`);
    if (name === 'greedy') for (let i = 0; i < 3; i++) lines.push(`  ${rows[i]!.target} -> ${titles[i]}`);
  }
  return lines;
}

if (o.evalDir) {
  const [model, tokenizer] = [buildModel(o.evalDir), await loadTokenizer(o.evalDir)];
  if (o.modes) { // greedy titles only: each mode decodes the whole test set
    const task = seq2seqTaskFor(model.family, tokenizer, { maxlen: evalMaxlen(o, o.evalDir), maxTarget });
    await printReloaded(o.evalDir, model, o.modes, task, test);
  } else console.log(`reloaded ${o.evalDir}:\n${(await score(model, tokenizer, test)).join('\n')}`);
  process.exit(0);
}

const [train, dev] = [split('train'), split('dev')];
const { dir, done } = outDir(o.out);
const { model, tokenizer, task } = await prepareModel({
  base: o.base, config: o.t5 ? t5Config : tinyConfig(tmpdir(), o.layers, o.hidden), vocab: o.t5 ? t5Vocab : vocab, seed: 1,
  corpus: train.flatMap((r) => [r.source, r.target]), task: (t, family) => seq2seqTaskFor(family, t, { maxlen: o.maxlen, maxTarget }),
});
console.log(`${train.length} train, ${dev.length} dev, ${test.length} test rows; ${o.base ? `base ${o.base}` : o.t5 ? `random init, ${t5Config}` : `random init, ${o.layers} layers, hidden ${o.hidden}`}, vocabulary ${tokenizer.vocabSize}, maxlen ${o.maxlen}`);
const r = await finetune({ model, task, train, dev, epochs: o.epochs, batchSize: 32, lr: o.lr ?? (o.base ? 1e-4 : 1e-3), seed: 1, devLimit: 100, log: console.log });
console.log(`dev greedy: ${formatMetrics(r.dev)}`);
console.log(`trained in ${r.seconds.toFixed(0)} s`);
console.log((await score(model, tokenizer, test)).join('\n'));
model.save(dir, { tokenizer });
console.log(`saved ${dir}`);
process.stdout.write(reloadInFreshProcess(fileURLToPath(import.meta.url), dir));
done();
