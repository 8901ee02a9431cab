// The task strategies with custom heads learn separable toy tasks, and a saved model scores the
// same after buildModel(dir) (the head is found again by its registered name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../../src/models/index.ts';
import { finetune, prepareModel, spanTask, tagTask, type SpanRow, type TagRow } from '../../src/tasks/finetune.ts';

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
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
