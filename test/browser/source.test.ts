// io/source.ts: the loaders a browser uses (URL, bytes, Blob/File), exercised in Node against the
// path-based loaders: the same model directory must give the same weights, logits and tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, type Model } from '../../src/models/build.ts';
import { WordPieceTokenizer } from '../../src/tokenizers/wordpiece.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { fileSource, loadModel, loadTokenizerFrom, readSafetensors, SourceError } from '../../src/io/source.ts';
import { jiebaSegmenter } from '../../src/tokenizers/cpm.ts';
import { NodeOnlyError } from '../../src/util/node/builtin.ts';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'world', '##s', 'a', 'b', '你', '好'];
const CONFIG = { model_type: 'bert', vocab_size: VOCAB.length, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16 };

function savedDir(): { dir: string; files: Record<string, Uint8Array> } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-source-'));
  const tokenizer = WordPieceTokenizer.fromVocabText(VOCAB.join('\n'));
  const model = buildModel(CONFIG, { application: 'mlm', seed: 3, tokenizer });
  const out = join(dir, 'm');
  model.save(out);
  const files = Object.fromEntries(readdirSync(out).map((f) => [f, new Uint8Array(readFileSync(join(out, f)))]));
  return { dir: out, files };
}

async function logits(model: Model) {
  return Array.from((await model.predict({ input_ids: [[2, 5, 4, 6, 3]] })).logits!.data as Float32Array);
}

test('loadModel from in-memory files (bytes and Blobs) equals buildModel(dir): weights, logits, tokenizer', async () => {
  const { dir, files } = savedDir();
  try {
    const fromDisk = buildModel(dir);
    const asBlobs = Object.fromEntries(Object.entries(files).map(([n, b]) => [n, n.endsWith('.json') ? new Blob([b as Uint8Array<ArrayBuffer>]) : b]));
    const model = await loadModel(fileSource(asBlobs));
    assert.equal(model.family, 'bert');
    assert.equal(model.application, 'mlm');
    assert.deepEqual(model.store.names().sort(), fromDisk.store.names().sort());
    assert.deepEqual(await logits(model), await logits(fromDisk));
    assert.ok(model.tokenizer, 'the directory tokenizer is attached');
    assert.deepEqual(model.tokenizer!.encode('hello worlds').ids, (await loadTokenizer(dir)).encode('hello worlds').ids);
    const reader = await readSafetensors(new Blob([files['model.safetensors']! as Uint8Array<ArrayBuffer>]));
    assert.ok(reader.list().length > 0 && reader.path === 'bytes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a URL source fetches by name (404 = absent file) and loads the same model and tokenizer', async () => {
  const { dir, files } = savedDir();
  const requested: string[] = [];
  const server = createServer((req, res) => {
    const name = decodeURIComponent(req.url!.replace(/^\/models\/m\//, ''));
    requested.push(name);
    const body = files[name];
    if (!body) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/models/m`;
    const model = await loadModel(base);
    assert.deepEqual(await logits(model), await logits(buildModel(dir)));
    assert.ok(requested.includes('config.json') && requested.includes('model.safetensors') && requested.includes('vocab.txt'));
    assert.ok(!requested.includes('tokenizer.json'), 'stops probing at the first tokenizer found (vocab.txt)');
    const tok = await loadTokenizerFrom(fileSource(new URL(base + '/')));
    assert.deepEqual(tok.encode('你好 a').tokens, ['[CLS]', '你', '好', 'a', '[SEP]']);
    await assert.rejects(loadModel(base + '/nothing-here'), (e: Error) => e instanceof SourceError && /no config\.json/.test(e.message));
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad inputs: missing weights, non-file values, an empty source name what is wrong', async () => {
  const { dir, files } = savedDir();
  try {
    const { ['model.safetensors']: _, ...noWeights } = files;
    await assert.rejects(loadModel(fileSource(noWeights)), /missing model\.safetensors/);
    assert.throws(() => fileSource({ 'config.json': 'not bytes' as unknown as Uint8Array }), /config\.json: expected an ArrayBuffer/);
    await assert.rejects(loadTokenizerFrom(fileSource({})), /no tokenizer found/);
    await assert.rejects(loadModel(fileSource({ 'config.json': new TextEncoder().encode('{') })), /config\.json: not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without Node built-ins (as in a browser): file paths and jieba fail with errors that say what to use instead', async () => {
  const proc = process as { getBuiltinModule?: unknown };
  const saved = proc.getBuiltinModule;
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-nonode-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(CONFIG));
  proc.getBuiltinModule = undefined;
  try {
    assert.throws(() => buildModel(join(dir, 'config.json')), (e: Error) => e instanceof NodeOnlyError && /node:fs .*browser.*URL, ArrayBuffer, Blob or File/.test(e.message));
    await assert.rejects(jiebaSegmenter(), /jieba.*cannot run in a browser: construct new CpmTokenizer\(model, segmenter\)/);
    // Model building, lowering and hashing need no Node built-in.
    const model = buildModel(CONFIG, { application: 'mlm', seed: 1 });
    assert.ok(model.store.names().length > 0);
  } finally {
    proc.getBuiltinModule = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
