// bert4ts evaluate: a saved fine-tuned model's test metric, fp32 and int8 side by side. The fp32
// figure equals what the task scored in training, for every kind of model finetune makes (classifier,
// softmax and CRF taggers, GlobalPointer spans, UniLM and T5 seq2seq), with the settings finetune
// recorded in config.json; the CRF tagger's length comes from its head; bad modes, bad --maxlen values,
// models that are no task model and records that contradict the model are errors naming them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel } from '../../src/models/index.ts';
import { loadTokenizer } from '../../src/tokenizers/index.ts';
import {
  classifyTask, finetune, prepareModel, recordedTaskSettings, seq2seqTaskFor, spanTask, tagTask,
  type ClassifyRow, type Seq2SeqRow, type SpanRow, type TagRow, type Task,
} from '../../src/tasks/finetune.ts';
import { evaluateModes, parseEvalModes, readRowsFor, taskForModel } from '../../src/tasks/evaluate.ts';

const bin = join(dirname(fileURLToPath(import.meta.url)), '../../bin/bert4ts.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, 'evaluate', ...args], { encoding: 'utf8' });

function files(): { dir: string; config: string; vocab: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-evaluate-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...'我们在北京上海公园人好坏电影'].join('\n') + '\n');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 19, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64, type_vocab_size: 2 }));
  return { dir, config: join(dir, 'config.json'), vocab: join(dir, 'vocab.txt') };
}

test('parseEvalModes: lists, all, and unknown modes named', () => {
  assert.deepEqual(parseEvalModes('fp32, dynamic-int8,fp32'), ['fp32', 'dynamic-int8']);
  assert.deepEqual(parseEvalModes('all'), ['fp32', 'dynamic-int8', 'weight-only-int8', 'int4']);
  assert.throws(() => parseEvalModes('fp32,int2'), /unknown mode 'int2' \(valid: fp32, dynamic-int8, weight-only-int8, int4, or all\)/);
  assert.throws(() => parseEvalModes(' , '), /give one or more of/);
});

test('evaluate: a CRF tagger and a classifier, fp32 as trained and int8 beside it; errors name the problem', async () => {
  const { dir, config, vocab } = files();
  try {
    const tags: TagRow[] = Array.from({ length: 32 }, (_, i) => (i % 2 ? { text: '我们在北京公园', tags: ['O', 'O', 'O', 'B-LOC', 'I-LOC', 'O', 'O'] } : { text: '人在上海公园', tags: ['O', 'O', 'B-LOC', 'I-LOC', 'O', 'O'] }));
    const t = await prepareModel({ config, vocab, charLevel: true, seed: 1, task: (tok) => tagTask(tok, ['O', 'B-LOC', 'I-LOC'], { maxlen: 16, crf: true }) });
    const r = await finetune({ model: t.model, task: t.task, train: tags, dev: tags, epochs: 3, batchSize: 8, lr: 3e-3, progress: false });
    t.model.save(join(dir, 'tagger'), { tokenizer: t.tokenizer });
    writeFileSync(join(dir, 'tags.jsonl'), tags.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const e = cli('--model', join(dir, 'tagger'), '--test', join(dir, 'tags.jsonl'), '--quantize', 'all');
    assert.equal(e.status, 0, e.stderr);
    const out = JSON.parse(e.stdout.trim().split('\n').at(-1)!);
    assert.equal(out.task, 'tag-crf');
    assert.equal(out.rows, 32);
    assert.deepEqual(out.scores.map((s: { mode: string }) => s.mode), ['fp32', 'dynamic-int8', 'weight-only-int8', 'int4']);
    assert.deepEqual(out.scores[0].metrics, r.dev);
    for (const s of out.scores) assert.ok(Math.abs(s.metrics.f1 - r.dev.f1!) <= 0.1, JSON.stringify(out));
    for (const s of out.scores.slice(1)) assert.ok(s.agreement.items >= 0.9 && s.agreement.rows <= s.agreement.items + 1e-9, JSON.stringify(out));
    assert.match(e.stderr, /^dynamic-int8 +f1 .*same prediction as fp32 on [\d.]+% of rows, [\d.]+% of characters/m);
    const bad = cli('--model', join(dir, 'tagger'), '--test', join(dir, 'tags.jsonl'), '--maxlen', '32');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /CRF tagger \(crf-16x3\) is unrolled over 16 tokens/);

    // The library path the CLI runs: the same model in each mode, fp32 first.
    const rows: ClassifyRow[] = Array.from({ length: 24 }, (_, i) => ({ text: i % 2 ? '电影好' : '电影坏', label: i % 2 ? 'pos' : 'neg' }));
    const c = await prepareModel({ config, vocab, seed: 1, task: (tok) => classifyTask(tok, ['neg', 'pos'], 16) });
    const trained = await finetune({ model: c.model, task: c.task, train: rows, dev: rows, epochs: 4, batchSize: 8, lr: 3e-3, progress: false });
    c.model.save(join(dir, 'classifier'), { tokenizer: c.tokenizer });
    const scores = await evaluateModes(buildModel(join(dir, 'classifier')), ['fp32', 'dynamic-int8'], c.task, rows);
    assert.deepEqual(scores[0]!.metrics, trained.dev);
    assert.equal(scores[1]!.mode, 'dynamic-int8');
    assert.equal(scores[0]!.agreement, undefined);
    assert.ok(scores[1]!.agreement!.rows >= 0.9 && scores[1]!.agreement!.items === undefined, JSON.stringify(scores));
    writeFileSync(join(dir, 'rows.tsv'), rows.map((x) => `${x.text}\t${x.label}`).join('\n') + '\n');
    const mode = cli('--model', join(dir, 'classifier'), '--test', join(dir, 'rows.tsv'), '--quantize', 'fp32,int2');
    assert.equal(mode.status, 2);
    assert.match(mode.stderr, /unknown mode 'int2'/);
    writeFileSync(join(dir, 'other.tsv'), '电影好\tmaybe\n');
    const label = cli('--model', join(dir, 'classifier'), '--test', join(dir, 'other.tsv'));
    assert.equal(label.status, 1);
    assert.match(label.stderr, /other\.tsv: row 1: label 'maybe' is not in the label set \(neg, pos\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('evaluate scores every kind of model finetune makes as its task scored it, with the recorded maxlen', async () => {
  const { dir, config, vocab } = files();
  try {
    // Texts longer than the maxlen each model is fine-tuned with, so a wrong maxlen (the old default 128) changes the rows.
    const texts = ['我们在北京公园人好电影', '人在上海公园我们好电影', '我们在上海电影公园人坏', '人在北京我们公园电影坏'];
    const span = (t: string) => { const i = t.indexOf('北京') >= 0 ? t.indexOf('北京') : t.indexOf('上海'); return { start: i, end: i + 2, label: 'LOC' }; };
    const spans: SpanRow[] = Array.from({ length: 16 }, (_, i) => ({ text: texts[i % 4]!, spans: [span(texts[i % 4]!)] }));
    const tags: TagRow[] = spans.map((r) => ({ text: r.text, tags: [...r.text].map((_, i) => (i === r.spans[0]!.start ? 'B-LOC' : i === r.spans[0]!.start + 1 ? 'I-LOC' : 'O')) }));
    const labelled: ClassifyRow[] = spans.map((r) => ({ text: r.text, label: r.text.endsWith('好') ? 'pos' : 'neg' }));
    const pairs: Seq2SeqRow[] = spans.map((r) => ({ source: r.text, target: r.text.slice(r.spans[0]!.start, r.spans[0]!.end) }));
    const t5config = join(dir, 't5.json');
    writeFileSync(t5config, JSON.stringify({
      model_type: 't5', vocab_size: 1500, d_model: 32, d_kv: 8, d_ff: 64, num_layers: 1, num_decoder_layers: 1, num_heads: 4,
      relative_attention_num_buckets: 8, relative_attention_max_distance: 16, feed_forward_proj: 'relu', dropout_rate: 0, pad_token_id: 0, eos_token_id: 2, decoder_start_token_id: 0,
    }));
    const words = ['red', 'green', 'blue', 'black'], names = ['one', 'two', 'six', 'ten'];
    const english: Seq2SeqRow[] = Array.from({ length: 16 }, (_, i) => ({ source: `${words[i % 4]} sky over the ${words[(i + 1) % 4]} sea`, target: names[i % 4]! }));
    const line = (x: object) => JSON.stringify(x);
    const kinds: { name: string; kind: string; rows: object[]; file: string; maxlen: number; make: (t: never, family: string) => Task<never>; cfg?: string; vocab?: string; corpus?: string[]; epochs: number; args?: string[] }[] = [
      { name: 'classifier', kind: 'classify', rows: labelled, file: 'classify.tsv', maxlen: 8, make: (t) => classifyTask(t, ['neg', 'pos'], 8) as never, epochs: 2 },
      { name: 'tagger', kind: 'tag', rows: tags, file: 'tags.jsonl', maxlen: 9, make: (t) => tagTask(t, ['O', 'B-LOC', 'I-LOC'], { maxlen: 9 }) as never, epochs: 2 },
      { name: 'crf', kind: 'tag-crf', rows: tags, file: 'tags.jsonl', maxlen: 10, make: (t) => tagTask(t, ['O', 'B-LOC', 'I-LOC'], { maxlen: 10, crf: true }) as never, epochs: 2 },
      { name: 'spans', kind: 'spans', rows: spans, file: 'spans.tsv', maxlen: 9, make: (t) => spanTask(t, ['LOC'], { maxlen: 9 }) as never, epochs: 6, args: ['--quantize', 'fp32,dynamic-int8'] },
      { name: 'unilm', kind: 'seq2seq', rows: pairs, file: 'pairs.jsonl', maxlen: 10, make: (t, f) => seq2seqTaskFor(f, t, { maxlen: 10, maxTarget: 3 }) as never, corpus: pairs.flatMap((r) => [r.source, r.target]), epochs: 2 },
      { name: 't5', kind: 'seq2seq', rows: english, file: 'english.jsonl', maxlen: 6, make: (t, f) => seq2seqTaskFor(f, t, { maxlen: 6, maxTarget: 2, beam: 2, noRepeatNgram: 2 }) as never, cfg: t5config, vocab: join(dirname(fileURLToPath(import.meta.url)), '../fixtures/tokenizers/bpe_tiny.model'), corpus: english.flatMap((r) => [r.source, r.target]), epochs: 2 },
    ];
    writeFileSync(join(dir, 'classify.tsv'), labelled.map((r) => `${r.text}\t${r.label}`).join('\n') + '\n');
    writeFileSync(join(dir, 'tags.jsonl'), tags.map(line).join('\n') + '\n');
    writeFileSync(join(dir, 'spans.tsv'), spans.map((r) => `${r.text}\t${r.spans.map((s) => `${s.label}:${s.start}:${s.end}`).join(' ')}`).join('\n') + '\n');
    writeFileSync(join(dir, 'spans.jsonl'), spans.map(line).join('\n') + '\n');
    writeFileSync(join(dir, 'pairs.jsonl'), pairs.map(line).join('\n') + '\n');
    writeFileSync(join(dir, 'english.jsonl'), english.map(line).join('\n') + '\n');
    for (const k of kinds) {
      const charLevel = k.kind !== 'classify' && k.kind !== 'seq2seq';
      const t = await prepareModel({ config: k.cfg ?? config, vocab: k.vocab ?? vocab, charLevel, corpus: k.corpus, seed: 1, task: k.make as never });
      const r = await finetune({ model: t.model, task: t.task as Task<object>, train: k.rows, dev: k.rows, test: k.rows, epochs: k.epochs, batchSize: 8, lr: 3e-3, progress: false });
      const saved = join(dir, k.name);
      t.model.save(saved, { tokenizer: t.tokenizer });
      const e = cli('--model', saved, '--test', join(dir, k.file), ...(k.args ?? []));
      assert.equal(e.status, 0, `${k.name}: ${e.stderr}`);
      const out = JSON.parse(e.stdout.trim().split('\n').at(-1)!);
      assert.equal(out.task, k.kind, k.name);
      assert.equal(out.settings.maxlen, k.maxlen, k.name);
      assert.deepEqual(out.scores[0].metrics, r.test, `${k.name}: ${JSON.stringify(out)}`);
      assert.doesNotMatch(e.stderr, /^note:/m, k.name);
      if (k.name === 't5') {
        assert.deepEqual(out.settings, { maxlen: 6, maxTarget: 2, beam: 2, noRepeatNgram: 2 }, 'the decoding settings are recorded and reused');
        assert.throws(() => seq2seqTaskFor('t5', t.tokenizer, { maxlen: 6, noRepeatNgram: 0 }), /noRepeatNgram must be an integer >= 1/);
        const bad = cli('--model', saved, '--test', join(dir, k.file), '--no-repeat-ngram', '0');
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /--no-repeat-ngram must be an integer >= 1/);
      }
      if (k.name === 'spans') {
        assert.ok(r.test!.f1! > 0, JSON.stringify(r.test)); // a model that finds spans, so int8 is compared on some
        assert.equal(out.scores[1].mode, 'dynamic-int8');
        assert.ok(out.scores[1].agreement.rows >= 0.5, JSON.stringify(out));
        // The library path, rows as JSONL objects: the same metric.
        const m = buildModel(saved), mt = taskForModel(m, await loadTokenizer(saved), { where: saved });
        assert.deepEqual(mt.settings, { task: 'spans', maxlen: 9 });
        assert.deepEqual((await evaluateModes(m, ['fp32'], mt.task, readRowsFor(m, mt.kind, join(dir, 'spans.jsonl'))))[0]!.metrics, r.test);
      }
    }
    assert.deepEqual(recordedTaskSettings(buildModel(join(dir, 'crf'))), { task: 'tag', maxlen: 10, outside: 'O' });

    // Settings given override the record; values the model cannot take are usage errors.
    const classifier = join(dir, 'classifier');
    const given = cli('--model', classifier, '--test', join(dir, 'classify.tsv'), '--maxlen', '16');
    assert.equal(given.status, 0, given.stderr);
    assert.equal(JSON.parse(given.stdout).settings.maxlen, 16);
    const long = cli('--model', classifier, '--test', join(dir, 'classify.tsv'), '--maxlen', '100');
    assert.equal(long.status, 2);
    assert.match(long.stderr, /--maxlen 100: this model has 64 positions; give --maxlen 64 or less/);
    for (const bad of ['0', '3', '12.5', 'x']) {
      const b = cli('--model', classifier, '--test', join(dir, 'classify.tsv'), '--maxlen', bad);
      assert.equal(b.status, 2, bad);
      assert.match(b.stderr, /--maxlen must be an integer/, bad);
    }
    const room = cli('--model', join(dir, 'unilm'), '--test', join(dir, 'pairs.jsonl'), '--max-target-len', '8');
    assert.equal(room.status, 2);
    assert.match(room.stderr, /max target length 8 leaves no room for the source in maxlen 10 \(recorded in config\.json\)/);
    const badSpan = join(dir, 'bad-spans.tsv');
    writeFileSync(badSpan, '我们在北京\tLOC:3:9\n');
    const sp = cli('--model', join(dir, 'spans'), '--test', badSpan);
    assert.equal(sp.status, 1);
    assert.match(sp.stderr, /bad-spans\.tsv: row 1: '1' \(spans\): span "LOC:3:9" must have integer 0 <= start < end <= 5/);

    // A directory saved before finetune recorded its settings: the default, said on stderr.
    const raw = JSON.parse(readFileSync(join(classifier, 'config.json'), 'utf8'));
    assert.equal(raw.finetuning_task, 'classify');
    assert.deepEqual(raw.task_specific_params, { classify: { maxlen: 8 } });
    const { finetuning_task: _, task_specific_params: __, ...old } = raw;
    writeFileSync(join(classifier, 'config.json'), JSON.stringify(old));
    const unrecorded = cli('--model', classifier, '--test', join(dir, 'classify.tsv'));
    assert.equal(unrecorded.status, 0, unrecorded.stderr);
    assert.equal(JSON.parse(unrecorded.stdout).settings.maxlen, 64);
    assert.match(unrecorded.stderr, /^note: .*records no fine-tuning settings .*using maxlen 64, the model's positions: give --maxlen/m);
    // A record that contradicts the model, or is malformed, is an error naming the key.
    writeFileSync(join(classifier, 'config.json'), JSON.stringify({ ...old, finetuning_task: 'spans', task_specific_params: { spans: { maxlen: 8 } } }));
    const wrong = cli('--model', classifier, '--test', join(dir, 'classify.tsv'));
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /records finetuning_task 'spans', but the model is a classifier \(bert encoder\)/);
    writeFileSync(join(classifier, 'config.json'), JSON.stringify({ ...old, finetuning_task: 'classify', task_specific_params: { classify: { maxlen: 'long' } } }));
    const malformed = cli('--model', classifier, '--test', join(dir, 'classify.tsv'));
    assert.equal(malformed.status, 1);
    assert.match(malformed.stderr, /config\.json: task_specific_params\.classify\.maxlen must be an integer >= 4, got "long"/);
    // Another library's finetuning_task name is not ours: no record, no error.
    writeFileSync(join(classifier, 'config.json'), JSON.stringify({ ...old, finetuning_task: 'sst-2' }));
    assert.equal(cli('--model', classifier, '--test', join(dir, 'classify.tsv')).status, 0);

    // Models that are no task model, and no model at all.
    const mlm = buildModel(config, { application: 'mlm', seed: 1 });
    mlm.save(join(dir, 'mlm'), { tokenizer: await loadTokenizer(vocab) });
    const none = cli('--model', join(dir, 'mlm'), '--test', join(dir, 'classify.tsv'));
    assert.equal(none.status, 1);
    assert.match(none.stderr, /mlm: a bert mlm model is none of the models bert4ts fine-tunes \(a classifier, a softmax or CRF tagger, a GlobalPointer span model, a UniLM or T5 seq2seq model\); nothing to score/);
    const missing = cli('--model', join(dir, 'nowhere'), '--test', join(dir, 'classify.tsv'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--model .*nowhere: not a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
