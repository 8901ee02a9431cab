// Run by save.test.ts in a fresh process: rebuild each saved directory from disk alone and print what
// it predicts (raw bytes), its weights (sha256) and its tokenizer, to compare bit for bit.
// argv: [--no-heads] JSON [{ dir, inputs, text? }]
import { createHash } from 'node:crypto';
import { buildModel } from '../../src/models/index.ts';
import { loadTokenizer } from '../../src/tokenizers/index.ts';
import type { HostTensor } from '../../src/graph/dtype.ts';

const args = process.argv.slice(2);
if (args[0] === '--no-heads') args.shift();
else await import('./save-heads.ts');
const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const result = [];
for (const { dir, inputs, text } of JSON.parse(args[0]!) as { dir: string; inputs: Record<string, number[][]>; text?: string }[]) {
  const model = buildModel(dir);
  const outputs = await model.predict(inputs);
  const tokenizer = text !== undefined ? await loadTokenizer(dir) : undefined;
  result.push({
    application: model.application, labels: model.labels, keptTokens: model.keptTokens, report: model.loadReport,
    outputs: Object.fromEntries(Object.entries(outputs).map(([n, t]) => [n, { shape: t.shape, sha: createHash('sha256').update(bytes(t)).digest('hex') }])),
    weights: Object.fromEntries(model.store.names().sort().map((n) => [n, createHash('sha256').update(bytes(model.store.get(n)!)).digest('hex')])),
    tokens: tokenizer?.encode(text!).ids, tokenizerKeep: tokenizer?.keepTokens,
  });
}
process.stdout.write(JSON.stringify(result));
