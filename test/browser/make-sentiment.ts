// Writes web/playground/data/sentiment.json, the playground's fine-tuning data: a few hundred short rows of bojone/bert4keras's
// Chinese sentiment set (Apache-2.0; ../shared/data/corpora/sentiment/sentiment.zip), balanced by label.
// Train rows come from sentiment.train.data, held-out rows from sentiment.valid.data (chinese-small was
// pretrained on the train texts, never on their labels nor on valid).
//   npx tsx test/browser/make-sentiment.ts [--train 160] [--test 50] [--max-chars 40]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { train: { type: 'string', default: '160' }, test: { type: 'string', default: '50' }, 'max-chars': { type: 'string', default: '40' } } });
const ZIP = fileURLToPath(new URL('../../../shared/data/corpora/sentiment/sentiment.zip', import.meta.url));
const maxChars = Number(values['max-chars']);

/** The first `perLabel` rows of each label (file order) whose text has 6..maxChars characters; duplicates dropped. */
function take(member: string, perLabel: number): [string, number][] {
  const text = execFileSync('unzip', ['-p', ZIP, `sentiment/${member}`], { encoding: 'utf8', maxBuffer: 1 << 27 });
  const seen = new Set<string>();
  const byLabel: [string, number][][] = [[], []];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line) continue;
    const [t, l, ...rest] = line.split('\t');
    if (rest.length || (l !== '0' && l !== '1')) throw new Error(`${member}:${i + 1}: expected text<TAB>0|1`);
    const s = t!.trim(), n = [...s].length;
    if (n < 6 || n > maxChars || seen.has(s)) continue;
    seen.add(s);
    if (byLabel[Number(l)]!.length < perLabel) byLabel[Number(l)]!.push([s, Number(l)]);
  }
  if (byLabel.some((rows) => rows.length < perLabel)) throw new Error(`${member}: fewer than ${perLabel} short rows per label`);
  return byLabel[0]!.flatMap((row, i) => [row, byLabel[1]![i]!]); // alternate the labels
}

const out = {
  source: 'bojone/bert4keras examples/datasets/sentiment (sentiment.train.data, sentiment.valid.data)',
  licence: 'Apache-2.0',
  labels: ['negative', 'positive'],
  train: take('sentiment.train.data', Number(values.train)),
  test: take('sentiment.valid.data', Number(values.test)),
};
const file = fileURLToPath(new URL('../../web/playground/data/sentiment.json', import.meta.url));
writeFileSync(file, JSON.stringify(out).replace(/\],\[/g, '],\n[') + '\n');
console.log(`${file}: ${out.train.length} train, ${out.test.length} test rows`);
