// The task strategies with custom heads learn separable toy tasks, and a saved model scores the
// same after buildModel(dir) (the head is found again by its name), and `bert4ts predict` in a fresh
// process decodes their spans (Viterbi for the CRF, scores > 0 for GlobalPointer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/index.ts';
import { finetune, prepareModel, spanTask, tagTask, type SpanRow, type TagRow } from '../../src/tasks/finetune.ts';

const here = dirname(fileURLToPath(import.meta.url));

function files(): { dir: string; config: string; vocab: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-tasks-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'我们在北京上海公园人'].join('\n') + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 15, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64, type_vocab_size: 2 }));
  return { dir, config: join(dir, 'config.json'), vocab: join(dir, 'vocab.txt') };
}

test('spanTask (GlobalPointer) and tagTask with a CRF learn toy spans, and reload with the same scores', async () => {
  const { dir, config, vocab } = files();
  try {
    const spans: SpanRow[] = Array.from({ length: 32 }, (_, i) => (i % 2 ? { text: '我们在北京公园', spans: [{ start: 3, end: 5, label: 'LOC' }] } : { text: '人在上海公园', spans: [{ start: 2, end: 4, label: 'LOC' }] }));
    const tags: TagRow[] = spans.map((r) => ({ text: r.text, tags: [...r.text].map((_, i) => (i === r.spans[0]!.start ? 'B-LOC' : i === r.spans[0]!.start + 1 ? 'I-LOC' : 'O')) }));
    const runs = [
      { rows: spans, make: (t: never) => spanTask(t, ['LOC'], { maxlen: 16 }), metric: 'f1' },
      { rows: tags, make: (t: never) => tagTask(t, ['O', 'B-LOC', 'I-LOC'], { maxlen: 16, crf: true }), metric: 'span_f1' },
    ];
    for (const [i, run] of runs.entries()) {
      const { model, tokenizer, task } = await prepareModel({ config, vocab, charLevel: true, seed: 1, task: run.make as never });
      const r = await finetune({ model, task, train: run.rows as never[], dev: run.rows as never[], epochs: 10, batchSize: 8, lr: 3e-3, progress: false });
      assert.equal(r.dev[run.metric], 1, JSON.stringify(r.evals));
      model.save(join(dir, `m${i}`), { tokenizer });
      assert.deepEqual(await task.evaluate(buildModel(join(dir, `m${i}`)), run.rows as never[]), r.dev);
      // `bert4ts predict` in a fresh process (nothing registered there) rebuilds the head from its name and decodes its spans.
      const cli = spawnSync(process.execPath, [join(here, '../../bin/bert4ts.js'), 'predict', '--model', join(dir, `m${i}`), '我们在北京公园', '人在上海公园'], { encoding: 'utf8' });
      assert.equal(cli.status, 0, cli.stderr);
      const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { spans: { start: number; end: number; label: string; text: string }[] });
      assert.deepEqual(lines.map((l) => l.spans.map((s) => [s.label, s.text, s.start, s.end])), [[['LOC', '北京', 3, 5]], [['LOC', '上海', 2, 4]]], cli.stdout);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
