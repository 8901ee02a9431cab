// A BERT trained with 128 positions reads 2,048 tokens at once (post 7947's hierarchical
// decomposition), measured with nothing but the public API, independently of the position-extension
// bench: other text (the CSL dev abstracts, which no pretraining here has seen), other masking (15% of
// the characters replaced by [MASK], seeded), another forward (model.predict over every position).
// Prints MLM accuracy on the same masked characters read L tokens at a time (hierarchical positions)
// and at the model's own length (128 for chinese-small: the truncation baseline).
//   npx tsx examples/long-context-mlm.ts [model dir] [--length 2048] [--alpha 0.4] [--rows N] [--text csl/dev.tsv]
// Both figures count the [MASK]ed characters only; the pretraining's held-out figure (BERT's
// masked_lm_accuracy) also counts the chosen characters left unchanged or replaced, and reads higher.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildModel, loadTokenizer } from '../src/index.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  length: { type: 'string', default: '2048' }, alpha: { type: 'string', default: '0.4' },
  rows: { type: 'string' }, text: { type: 'string', default: '../shared/data/corpora/csl/dev.tsv' },
} });
const dir = positionals[0] ?? 'models/chinese-small';
const length = Number(values.length);
const alpha = Number(values.alpha);
const csl = values.text;

if (!(alpha > 0 && alpha < 1)) throw new Error(`--alpha must be between 0 and 1, got ${values.alpha}`);
if (values.rows !== undefined && !(Number.isInteger(Number(values.rows)) && Number(values.rows) > 0)) throw new Error(`--rows must be a whole number above 0, got ${values.rows}`);

const tokenizer = await loadTokenizer(dir);
const special = (name: 'cls' | 'sep' | 'mask') => {
  const t = tokenizer.specialTokens[name];
  if (!t) throw new Error(`${dir}: the tokenizer has no [${name.toUpperCase()}] token`);
  return t.id;
};
const [CLS, SEP, MASK] = [special('cls'), special('sep'), special('mask')];
const short = buildModel(dir, { application: 'mlm' });
const own = short.maxTokens; // the model's own length (128 for chinese-small): the truncation baseline reads this many
if (own === undefined) throw new Error(`${dir}: its positions are unbounded, there is nothing to extend`);
if (!Number.isInteger(length) || length <= own) throw new Error(`--length must be a whole number above the model's ${own} positions, got ${values.length}`);

// The abstracts as one stream of documents, each followed by [SEP], cut into rows of [CLS] + L − 1 tokens.
const stream: number[] = [];
for (const line of readFileSync(csl, 'utf8').split('\n')) {
  const text = line.split('\t').join('。'); // title。abstract
  if (text) stream.push(...tokenizer.encode(text, undefined, { addSpecialTokens: false }).ids, SEP);
}
const rows: number[][] = [];
const maxRows = values.rows === undefined ? Infinity : Number(values.rows);
for (let i = 0; i + length - 1 <= stream.length && rows.length < maxRows; i += length - 1) rows.push([CLS, ...stream.slice(i, i + length - 1)]);

if (!rows.length) throw new Error(`${csl}: ${stream.length} tokens, fewer than one row of ${length}`);

// Mask 15% of the non-special tokens (a small seeded LCG, so every run masks the same characters).
let state = 12345;
const uniform = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
const masked = rows.map((row) => row.map((id, i) => (i > 0 && id !== SEP && uniform() < 0.15 ? MASK : id)));

/** Hits and count of the top-1 prediction at the masked positions of `input` against `target`. */
async function score(model: ReturnType<typeof buildModel>, input: number[], target: number[]): Promise<[number, number]> {
  const { logits } = await model.predict({ input_ids: [input] });
  const V = logits!.shape[2]!;
  const data = logits!.data as Float32Array;
  let hits = 0, count = 0;
  input.forEach((id, t) => {
    if (id !== MASK) return;
    let best = 0;
    for (let v = 1; v < V; v++) if (data[t * V + v]! > data[t * V + best]!) best = v;
    hits += best === target[t] ? 1 : 0;
    count++;
  });
  return [hits, count];
}

const long = buildModel(dir, { application: 'mlm', hierarchicalPosition: alpha, maxPosition: length });
let [longHits, shortHits, count, shortCount] = [0, 0, 0, 0];
for (let r = 0; r < rows.length; r++) {
  const [h, n] = await score(long, masked[r]!, rows[r]!);
  longHits += h;
  count += n;
  // The same masked tokens read at the model's own length: [CLS] + own − 1 tokens per piece.
  for (let i = 1; i < length; i += own - 1) {
    const [hs, ns] = await score(short, [CLS, ...masked[r]!.slice(i, i + own - 1)], [CLS, ...rows[r]!.slice(i, i + own - 1)]);
    shortHits += hs;
    shortCount += ns;
  }
  process.stderr.write(`\rrow ${r + 1}/${rows.length}`);
}
process.stderr.write('\n');
if (shortCount !== count) throw new Error(`internal: the short reading scored ${shortCount} positions, the long one ${count}`);
const pct = (h: number) => `${(100 * h / count).toFixed(2)}%`;
console.log(`${dir}: ${rows.length} rows of ${length} tokens from ${csl}, ${count} masked characters`);
console.log(`read ${length} at a time, hierarchical positions (alpha ${alpha}): MLM accuracy ${pct(longHits)}`);
console.log(`read ${own} at a time (the truncation baseline):        MLM accuracy ${pct(shortHits)}`);
