// bert4ts generate on a saved UniLM model: the source is framed as [CLS] source [SEP] (as
// seq2seqTask trains it), [SEP] ends the answer by default, --max-source-len cuts the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../../src/models/build.ts';
import { decoderFor } from '../../src/generation/forModel.ts';
import { greedy } from '../../src/generation/decode.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/bert4ts.js', 'generate', ...args], { encoding: 'utf8' });
const chars = [...'今天天气很好我们去公园散步吧标题摘要'];

async function saved(sepBias = 0): Promise<{ dir: string; cls: number; sep: number; ids: (s: string) => number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-unilm-cli-'));
  writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...chars].join('\n') + '\n');
  const tokenizer = await loadTokenizer(join(dir, 'vocab.txt'));
  const model = buildModel({
    model_type: 'bert', vocab_size: tokenizer.vocabSize, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
    intermediate_size: 32, max_position_embeddings: 64, type_vocab_size: 2,
  }, { application: 'unilm', seed: 3, tokenizer });
  const sep = tokenizer.specialTokens.sep!.id;
  if (sepBias) {
    const name = model.store.names().find((n) => n.endsWith('mlm/output_bias'))!;
    const bias = model.store.get(name)!;
    (bias.data as Float32Array)[sep] = sepBias; // [SEP] always wins: generation must stop at once
    model.store.set(name, bias);
  }
  model.save(join(dir, 'model'), { tokenizer });
  return { dir, cls: tokenizer.specialTokens.cls!.id, sep, ids: (s) => tokenizer.encode(s, undefined, { addSpecialTokens: false }).ids };
}

test('bert4ts generate (UniLM): the source is framed as [CLS] source [SEP] and --max-source-len cuts it, as the API decodes it', async () => {
  const { dir, cls, sep, ids } = await saved();
  try {
    const model = buildModel(join(dir, 'model'));
    assert.equal(model.application, 'unilm');
    for (const [source, cut] of [['今天天气很好', undefined], ['我们去公园散步吧', 3]] as const) {
      const src = ids(source).slice(0, cut ?? Infinity);
      const [expected] = await greedy(decoderFor(model), [[cls, ...src, sep]], { maxNewTokens: 6, endIds: [sep] });
      const r = run('--model', join(dir, 'model'), '--prompt', source, '--max-new-tokens', '6', '--json', ...(cut ? ['--max-source-len', String(cut)] : []));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).ids, expected, `${source} (cut ${cut})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bert4ts generate (UniLM): [SEP] ends the answer by default, for --prompt and for --prompt-ids', async () => {
  const { dir, cls, sep, ids } = await saved(1e4);
  try {
    const r = run('--model', join(dir, 'model'), '--prompt', '今天天气很好', '--max-new-tokens', '8', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { ids: [sep], text: '' });
    const framed = [cls, ...ids('今天'), sep].join(',');
    const beam = run('--model', join(dir, 'model'), '--prompt-ids', framed, '--max-new-tokens', '8', '--beam', '2', '--json');
    assert.equal(beam.status, 0, beam.stderr);
    assert.deepEqual(JSON.parse(beam.stdout).ids, [sep]);
    const bad = run('--model', join(dir, 'model'), '--prompt', '今天', '--max-source-len', '0');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--max-source-len must be an integer >= 1, got "0"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
