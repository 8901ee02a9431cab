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
import { finetune, prepareModel, seq2seqTaskFor, spanTask, tagTask, type SpanRow, type TagRow } from '../../src/tasks/finetune.ts';

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

test('t5Seq2SeqTask: a tiny T5 learns a toy mapping, decodes it greedy and with beams, and reloads with the same scores', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-t5-task-'));
  try {
    const config = join(dir, 't5.json');
    writeFileSync(config, JSON.stringify({
      model_type: 't5', vocab_size: 1500, d_model: 32, d_kv: 8, d_ff: 64, num_layers: 1, num_decoder_layers: 1, num_heads: 4,
      relative_attention_num_buckets: 8, relative_attention_max_distance: 16, feed_forward_proj: 'relu', dropout_rate: 0,
      pad_token_id: 0, eos_token_id: 2, decoder_start_token_id: 0,
    }));
    const vocab = join(here, '../fixtures/tokenizers/bpe_tiny.model'); // </s> = 2
    const words = ['red', 'green', 'blue', 'black'], names = ['one', 'two', 'six', 'ten'];
    const rows = Array.from({ length: 32 }, (_, i) => ({ source: `${words[i % 4]} sky`, target: names[i % 4]! }));
    const { model, tokenizer, task } = await prepareModel({ config, vocab, corpus: rows.flatMap((r) => [r.source, r.target]), seed: 2, task: (t, family) => seq2seqTaskFor(family, t, { maxlen: 16, maxTarget: 6 }) });
    assert.equal(model.family, 't5');
    const batch = task.collate(rows.slice(0, 2));
    assert.deepEqual(Object.keys(batch).sort(), ['attention_mask', 'decoder_input_ids', 'input_ids', 'labels']);
    const r = await finetune({ model, task, train: rows, dev: rows, epochs: 60, batchSize: 8, lr: 1e-2, progress: false });
    assert.ok(r.dev['rouge-l']! > 0.999, JSON.stringify(r.evals)); // every title exact (ROUGE's F has an epsilon)
    const generate = (task as ReturnType<typeof seq2seqTaskFor>).generate;
    assert.deepEqual(await generate(model, ['blue sky', 'red sky'], 3), ['six', 'one']);
    model.save(join(dir, 'saved'), { tokenizer });
    const reloaded = buildModel(join(dir, 'saved'));
    assert.deepEqual(await task.evaluate(reloaded, rows), r.dev);
    await assert.rejects(generate(buildModel(join(here, '../fixtures/reference/bert-unilm/config.json'), { application: 'unilm' }), ['x']), /decodes a T5 \/ mT5 model, not bert/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("recordTaskSettings writes into the model's own config, never into the config object the caller built it from", async () => {
  const { recordTaskSettings } = await import('../../src/tasks/finetune.ts');
  const config: Record<string, unknown> = { model_type: 'bert', vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 };
  const model = buildModel(config, { application: 'encoder', numClasses: 2, seed: 1 });
  recordTaskSettings(model, { task: 'classify', maxlen: 12 });
  assert.equal(model.rawConfig.finetuning_task, 'classify');
  assert.deepEqual(model.rawConfig.task_specific_params, { classify: { maxlen: 12 } });
  assert.equal('finetuning_task' in config, false);
  assert.equal('task_specific_params' in config, false);
});
