// The model server: every route against the library computing the same thing directly, dynamic
// batching, limits, cancellation, auth, and graceful shutdown of the real CLI process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { buildModel } from '../../src/models/build.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { decoderFor } from '../../src/generation/forModel.ts';
import { greedy } from '../../src/generation/decode.ts';
import { ServedModel } from '../../src/serving/models.ts';
import { createModelServer, type ModelServerOptions } from '../../src/serving/server.ts';
import { root, testModelDirs } from './helpers.ts';

let bertDir: string, gptDir: string, clsDir: string;

let models: ServedModel[];
const servers: Server[] = [];
async function start(options: Partial<ModelServerOptions> = {}): Promise<string> {
  const server = createModelServer({ models, ...options });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

before(async () => {
  ({ bertDir, gptDir, clsDir } = await testModelDirs());
  models = [await ServedModel.load(bertDir), await ServedModel.load(gptDir), await ServedModel.load(clsDir)];
});
after(() => {
  for (const s of servers) s.closeAllConnections(), s.close();
  rmSync(root, { recursive: true, force: true });
});

test('models and capabilities follow the family and the heads', async () => {
  const base = await start();
  const list = await (await fetch(`${base}/v1/models`)).json();
  const caps = Object.fromEntries(list.data.map((m: { id: string; capabilities: string[] }) => [m.id, m.capabilities]));
  assert.deepEqual(caps, { bert: ['tokenize', 'embeddings', 'fill-mask'], gpt: ['tokenize', 'completions'], cls: ['tokenize', 'embeddings', 'classify'] });
  assert.deepEqual(list.data[2].labels, ['negative', 'positive']);
  const wrong = await post(`${base}/v1/completions`, { model: 'bert', prompt: 'a' });
  assert.equal(wrong.status, 400);
  assert.match((await wrong.json()).error.message, /model 'bert' \(bert, mlm\) cannot do completions; it can: tokenize, embeddings, fill-mask/);
  assert.equal((await post(`${base}/v1/embeddings`, { model: 'nope', input: 'a' })).status, 404);
});

test('embeddings (OpenAI shape), fill-mask and classify equal the model run directly', async () => {
  const base = await start({ maxWaitMs: 0 });
  const tokenizer = await loadTokenizer(bertDir);
  const mlm = buildModel(bertDir, { checkpoint: bertDir, application: 'mlm' });
  const text = '我是你的', enc = tokenizer.encode(text);
  const direct = await mlm.predict({ input_ids: [enc.ids] });
  const [, T, H] = direct.last_hidden_state!.shape as number[];
  const mean = new Float64Array(H!);
  for (let t = 0; t < T!; t++) for (let k = 0; k < H!; k++) mean[k]! += (direct.last_hidden_state!.data as Float32Array)[t * H! + k]! / T!;
  const norm = Math.hypot(...mean);
  const emb = await (await post(`${base}/v1/embeddings`, { model: 'bert', input: [text, 'abc'] })).json();
  assert.equal(emb.object, 'list');
  assert.deepEqual(emb.data.map((d: { index: number }) => d.index), [0, 1]);
  assert.equal(emb.usage.prompt_tokens, enc.ids.length + tokenizer.encode('abc').ids.length);
  emb.data[0].embedding.forEach((v: number, k: number) => assert.ok(Math.abs(v - mean[k]! / norm) < 1e-5, `dim ${k}`));

  const masked = await (await post(`${base}/v1/fill-mask`, { model: 'bert', input: '我[MASK]你', top_k: 3 })).json();
  const ids = [2, tokenizer.tokenToId('我')!, 4, tokenizer.tokenToId('你')!, 3];
  const logits = (await mlm.predict({ input_ids: [ids] })).logits!;
  const V = logits.shape[2]!;
  const row = Array.from((logits.data as Float32Array).subarray(2 * V, 3 * V));
  const best = row.indexOf(Math.max(...row));
  assert.equal(masked.data[0].masks[0].position, 2);
  assert.equal(masked.data[0].masks[0].predictions.length, 3);
  assert.equal(masked.data[0].masks[0].predictions[0].id, best);

  const cls = buildModel(clsDir);
  const clsTok = await loadTokenizer(clsDir);
  const l = (await cls.predict({ input_ids: [clsTok.encode('他是我').ids] })).logits!.data as Float32Array;
  const out = await (await post(`${base}/v1/classify`, { model: 'cls', input: ['他是我'] })).json();
  assert.equal(out.data[0].label, l[1]! > l[0]! ? 'positive' : 'negative');
  const p = out.data[0].probabilities;
  assert.ok(Math.abs(p.positive - 1 / (1 + Math.exp(l[0]! - l[1]!))) < 1e-5);
});

test('completions: greedy equals the library; streaming sends the same text as server-sent events', async () => {
  const base = await start();
  const tokenizer = await loadTokenizer(gptDir);
  const model = buildModel(gptDir, { checkpoint: gptDir });
  const prompt = tokenizer.encode('我是', undefined, { addSpecialTokens: false }).ids;
  const [expected] = await greedy(decoderFor(model), [prompt], { maxNewTokens: 6, endIds: [79] });
  const want = tokenizer.decode(expected!.filter((t) => t !== 79));
  const r = await (await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我是', max_tokens: 6, temperature: 0 })).json();
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text, want);
  assert.equal(r.usage.prompt_tokens, prompt.length);
  const s = await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我是', max_tokens: 6, temperature: 0, stream: true });
  assert.match(s.headers.get('content-type')!, /text\/event-stream/);
  const events = (await s.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  assert.equal(chunks.map((c) => c.choices[0].text).join(''), want);
  assert.ok(chunks.length > 2, 'tokens arrive as they are generated');
  assert.ok(['length', 'stop'].includes(chunks.at(-1).choices[0].finish_reason));
  const sampled = await (await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我', max_tokens: 5, temperature: 1, top_p: 0.9, seed: 3 })).json();
  const again = await (await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我', max_tokens: 5, temperature: 1, top_p: 0.9, seed: 3 })).json();
  assert.equal(sampled.choices[0].text, again.choices[0].text, 'a seeded sample is reproducible');
  // no_repeat_ngram_size: the library's noRepeatNgramSize; out of range is a 400 that names it.
  const [noRepeat] = await greedy(decoderFor(model), [prompt], { maxNewTokens: 12, endIds: [79], noRepeatNgramSize: 2 });
  assert.notDeepEqual(noRepeat, (await greedy(decoderFor(model), [prompt], { maxNewTokens: 12, endIds: [79] }))[0], 'the fixture repeats itself when let');
  const nr = await (await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我是', max_tokens: 12, temperature: 0, no_repeat_ngram_size: 2 })).json();
  assert.equal(nr.choices[0].text, tokenizer.decode(noRepeat!.filter((t) => t !== 79)));
  const bad = await post(`${base}/v1/completions`, { model: 'gpt', prompt: '我是', no_repeat_ngram_size: 0 });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /no_repeat_ngram_size/);
});

test('concurrent requests are batched into one model call, and the metrics say so', async () => {
  const base = await start({ maxWaitMs: 50, maxBatch: 8 });
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => post(`${base}/v1/embeddings`, { model: 'bert', input: 'abcdefg'.slice(0, i + 1) })));
  assert.deepEqual(rs.map((r) => r.status), Array(8).fill(200));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const count = Number(/bert4ts_batch_size_count\{kind="encode",model="bert"\} (\d+)/.exec(metrics)![1]);
  assert.ok(count < 8, `8 requests ran in ${count} model calls`);
  assert.match(metrics, /bert4ts_requests_total\{route="\/v1\/embeddings",status="200"\} 8/);
  assert.match(metrics, /# TYPE bert4ts_request_duration_seconds histogram/);
  assert.match(metrics, /bert4ts_queue_depth\{kind="encode",model="bert"\} 0/);
});

test('concurrent completions decode as one batch; each answer equals the request made alone', async () => {
  const base = await start({ maxWaitMs: 100, maxBatch: 8 });
  const requests = [
    { model: 'gpt', prompt: '我是', max_tokens: 6, temperature: 0 },
    { model: 'gpt', prompt: '天', max_tokens: 3, temperature: 0 },
    { model: 'gpt', prompt: '你们在做什么', max_tokens: 8, temperature: 0.8, top_p: 0.9, seed: 7 },
    { model: 'gpt', prompt: '山水', max_tokens: 5, temperature: 1, seed: 2, stop: 'u' },
  ];
  const alone = [];
  for (const r of requests) alone.push((await (await post(`${base}/v1/completions`, r)).json()).choices[0]);
  const before = Number(/bert4ts_batch_size_count\{kind="completions",model="gpt"\} (\d+)/.exec(await (await fetch(`${base}/metrics`)).text())![1]);
  const together = await Promise.all(requests.map(async (r) => (await (await post(`${base}/v1/completions`, r)).json()).choices[0]));
  assert.deepEqual(together.map((c) => [c.text, c.finish_reason]), alone.map((c) => [c.text, c.finish_reason]));
  const after = Number(/bert4ts_batch_size_count\{kind="completions",model="gpt"\} (\d+)/.exec(await (await fetch(`${base}/metrics`)).text())![1]);
  assert.ok(after - before < requests.length, `${requests.length} concurrent completions ran in ${after - before} batches`);
});

test('a full queue answers 429; limits and bad input answer 4xx with a message, never 500', async () => {
  const base = await start({ maxQueue: 1, maxWaitMs: 200, maxBatch: 64, maxBodyBytes: 2000, maxInputTokens: 8 });
  const statuses = (await Promise.all(Array.from({ length: 4 }, () => post(`${base}/v1/embeddings`, { model: 'bert', input: 'ab' })))).map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 429, 429, 429]);
  const cases: [string, string, unknown, number, RegExp][] = [
    ['GET', '/%ff.js', undefined, 400, /malformed percent-encoding/],
    ['POST', '/v1/embeddings', '[' .repeat(500) + ']'.repeat(500), 400, /nested deeper than 32 levels/],
    ['POST', '/v1/embeddings', '{"input": ', 400, /not valid JSON/],
    ['POST', '/v1/embeddings', { model: 'bert', input: 'x'.repeat(3000) }, 413, /over the limit of 2000/],
    ['POST', '/v1/embeddings', { model: 'bert', input: '我你他她是的了不在有' }, 400, /has 12 tokens; this model takes at most 8/],
    ['POST', '/v1/embeddings', { model: 'bert', input: [[1, 2, 64]] }, 400, /token id 64 is outside the vocabulary \[0, 64\)/],
    ['POST', '/v1/embeddings', { model: 'bert', input: [] }, 400, /"input" is empty/],
    ['POST', '/v1/embeddings', { model: 'bert', input: { a: 1 } }, 400, /"input" must be/],
    ['POST', '/v1/completions', { model: 'gpt', prompt: 'a', top_p: 5 }, 400, /"top_p" must be a number > 0 <= 1, got 5/],
    ['POST', '/v1/completions', { model: 'gpt', prompt: 'a', max_tokens: 100000 }, 400, /"max_tokens" must be an integer >= 1 <= 512/],
    ['POST', '/v1/completions', { model: 'gpt', prompt: 'a', max_tokens: 30 }, 400, /exceeds the model's 24 positions/],
    ['GET', '/v1/embeddings', undefined, 405, /takes POST/],
    ['POST', '/v1/__proto__', {}, 404, /no route/],
    ['POST', '/v1/constructor', {}, 404, /no route/],
  ];
  for (const [method, path, body, status, message] of cases) {
    const r = await fetch(base + path, { method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    assert.equal(r.status, status, `${method} ${path}`);
    assert.match((await r.json()).error.message, message);
  }
});

test('a bearer token guards every route but /healthz', async () => {
  const base = await start({ token: 's3cret' });
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/v1/models`)).status, 401);
  assert.equal((await fetch(`${base}/v1/models`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);
  assert.equal((await fetch(`${base}/v1/models`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
});

test('a streaming client that disconnects stops its generation; a timed-out request gets 504', async () => {
  const base = await start({ maxNewTokens: 20 });
  const controller = new AbortController();
  const r = await post(`${base}/v1/completions`, { model: 'gpt', prompt: 'a', max_tokens: 20, temperature: 0, stream: true });
  const reader = r.body!.getReader();
  await reader.read(); // the first chunk
  await reader.cancel();
  controller.abort();
  await new Promise((res) => setTimeout(res, 300));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const made = Number(/bert4ts_generated_tokens_total\{model="gpt"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  assert.ok(made < 20, `generation stopped early (${made} of 20 tokens)`);
  const slow = await start({ timeoutMs: 1, maxWaitMs: 50 });
  const t = await post(`${slow}/v1/embeddings`, { model: 'bert', input: 'ab' });
  assert.equal(t.status, 504);
});

test('bert4ts serve --model DIR: SIGTERM lets the request in flight finish, then exits 0', async () => {
  const child = spawn(process.execPath, ['bin/bert4ts.js', 'serve', '--model', `gpt=${gptDir}`, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => { const m = /(http:\/\/\S+)\//.exec(String(d)); if (m) resolve(m[1]!); });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const inFlight = post(`${url}/v1/completions`, { model: 'gpt', prompt: '我', max_tokens: 20, temperature: 0 });
  await new Promise((res) => setTimeout(res, 30));
  child.kill('SIGTERM');
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal((await r.json()).object, 'text_completion');
  const code = await new Promise((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM: finishing requests in flight/);
  await assert.rejects(fetch(`${url}/healthz`), 'no new connections after shutdown');
});
