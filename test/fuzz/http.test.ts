// Property-based fuzzing of the HTTP endpoints: the model server and the xiangqi page's API get
// random paths, methods, headers and bodies (random JSON of any shape, mutations of valid requests,
// raw bytes). Every request must be answered within a time bound with 2xx, 4xx, 429 or 504 and a
// JSON error that says what is wrong, never a 500 or a dropped connection; the server keeps serving.
//
// Seeded; BERT4TS_FUZZ_RUNS=N runs every property N times (long mode, `npm run bench -- fuzz`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import fc from 'fast-check';
import { ServedModel } from '../../src/serving/models.ts';
import { createModelServer } from '../../src/serving/server.ts';
import { createPlayerServer } from '../../src/xiangqi/player/server.ts';
import { Player } from '../../src/xiangqi/player/player.ts';
import { tinyModel } from '../xiangqi-player/fixtures.ts';
import { root, testModelDirs } from '../serving/helpers.ts';
import { timeBound } from '../timeBound.ts';

const LONG = Number(process.env.BERT4TS_FUZZ_RUNS) || 0;
const params = (n: number, seed: number) => ({ numRuns: LONG > 0 ? LONG : n, seed, endOnFailure: true });
const TIME_LIMIT_MS = timeBound(5000);

let modelServer: Server, pageServer: Server, player: Player;
let modelBase: string, pageBase: string;
const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};

before(async () => {
  const { bertDir, gptDir, clsDir } = await testModelDirs();
  const models = [await ServedModel.load(bertDir), await ServedModel.load(gptDir), await ServedModel.load(clsDir)];
  modelServer = createModelServer({ models, maxBodyBytes: 64 * 1024, maxNewTokens: 8, timeoutMs: 4000 });
  modelBase = await listen(modelServer);
  player = await Player.create(tinyModel(2));
  pageServer = createPlayerServer({ player });
  pageBase = await listen(pageServer);
});
after(async () => {
  for (const s of [modelServer, pageServer]) s.closeAllConnections(), s.close();
  await player.release();
  rmSync(root, { recursive: true, force: true });
});

/** Sends one request; checks the answer is in time, not a 5xx (but 504), and that errors are JSON with a message. */
async function check(base: string, method: string, path: string, body: string | Uint8Array | undefined, headers: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(base + path, { method, body: method === 'GET' || method === 'HEAD' ? undefined : (body as BodyInit | undefined), headers });
  const text = await res.text();
  const ms = performance.now() - t0;
  assert.ok(ms < TIME_LIMIT_MS, `${method} ${path} took ${ms.toFixed(0)} ms`);
  assert.ok(res.status < 500 || res.status === 504 || res.status === 503, `${method} ${path} ${JSON.stringify(body)?.slice(0, 200)} -> ${res.status} ${text.slice(0, 300)}`);
  if (res.status >= 400 && method !== 'HEAD') {
    const err = JSON.parse(text).error;
    const message = typeof err === 'string' ? err : err.message;
    assert.ok(typeof message === 'string' && message.length > 0, `${res.status} without a message: ${text.slice(0, 200)}`);
  }
  return res.status;
}

const ROUTES = ['/v1/tokenize', '/v1/embeddings', '/v1/fill-mask', '/v1/classify', '/v1/completions', '/v1/models', '/healthz', '/metrics'];
const FIELDS = ['model', 'input', 'prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stop', 'stream', 'seed', 'pooling', 'normalize', 'encoding_format', 'repetition_penalty', 'add_special_tokens', '__proto__', 'constructor'];
const VALID: Record<string, Record<string, unknown>> = {
  '/v1/tokenize': { model: 'bert', input: '我是你' },
  '/v1/embeddings': { model: 'bert', input: ['我是', 'abc'] },
  '/v1/fill-mask': { model: 'bert', input: '我[MASK]你', top_k: 2 },
  '/v1/classify': { model: 'cls', input: '他是我' },
  '/v1/completions': { model: 'gpt', prompt: '我', max_tokens: 3, temperature: 0 },
};

const scalar = fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constantFrom('bert', 'gpt', 'cls', '[MASK]', -1, 0, 1, 1e9, -1e300, 2 ** 53));
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 5 }),
})).value;

test('model server: random requests on every route are answered in time, never with a 500', async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...ROUTES, '/v1/x', '/%ff', '/v1/%E0%A4%A', '/../etc/passwd', '/v1/__proto__'),
    fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'HEAD'),
    fc.oneof(
      jsonValue.map((v) => JSON.stringify(v) ?? ''),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(...Object.keys(VALID)), fc.constantFrom(...FIELDS), jsonValue).map(([route, field, v]) => JSON.stringify({ ...VALID[route], [field]: v })),
    ),
    async (path, method, body) => {
      await check(modelBase, method, path, body, { 'content-type': 'application/json' });
    },
  ), params(150, 23));
  assert.equal(await check(modelBase, 'POST', '/v1/embeddings', JSON.stringify(VALID['/v1/embeddings'])), 200, 'still serving');
});

test('model server: mutations of each valid request keep the right answer or a 4xx', async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...Object.keys(VALID)),
    fc.nat(), fc.integer({ min: 0, max: 3 }), fc.string({ minLength: 1, maxLength: 6 }),
    async (route, at, kind, junk) => {
      const text = JSON.stringify(VALID[route]);
      const i = at % (text.length + 1);
      const mutated = kind === 0 ? text.slice(0, i) : kind === 1 ? text.slice(0, i) + junk + text.slice(i) : kind === 2 ? text.slice(0, i) + text.slice(i + 1) : text.replace(/\d+/, String(at));
      await check(modelBase, 'POST', route, mutated, { 'content-type': 'application/json' });
    },
  ), params(150, 29));
});

test('model server: streaming completions with random options end with [DONE] or an error event', async () => {
  await fc.assert(fc.asyncProperty(
    fc.record({ max_tokens: fc.integer({ min: 1, max: 8 }), temperature: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 5, noNaN: true })), top_p: fc.double({ min: 0.01, max: 1, noNaN: true }), top_k: fc.integer({ min: 0, max: 100 }), seed: fc.integer(), stop: fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 4 }) }),
    fc.string({ minLength: 1, maxLength: 10 }),
    async (options, prompt) => {
      const res = await fetch(`${modelBase}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'gpt', prompt, stream: true, ...options }) });
      const text = await res.text();
      if (res.status !== 200) {
        assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${text}`);
        return;
      }
      const events = text.split('\n\n').filter(Boolean);
      assert.equal(events.at(-1), 'data: [DONE]', text.slice(-300));
      const pieces = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)).choices[0].text as string).join('');
      for (const s of options.stop) assert.ok(!pieces.includes(s), `stop string ${JSON.stringify(s)} in ${JSON.stringify(pieces)}`);
    },
  ), params(40, 31));
});

test('xiangqi page API: random bodies and paths are answered in time, never with a 500', async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('/api/state', '/api/reply', '/api/info', '/api/model.onnx', '/api/x', '/', '/app.js', '/%ff.js', '/vendor/ort/x', '/%2e%2e/package.json'),
    fc.constantFrom('POST', 'GET', 'PUT'),
    fc.oneof(
      jsonValue.map((v) => JSON.stringify(v) ?? ''),
      fc.array(fc.constantFrom('h2e2', 'h9g7', 'b0c2', 'zz', 'a0a1', 'i9i8', 'e0e1'), { maxLength: 8 }).map((moves) => JSON.stringify({ moves })),
      fc.uint8Array({ maxLength: 200 }),
    ),
    async (path, method, body) => {
      await check(pageBase, method, path, body);
    },
  ), params(120, 37));
});
