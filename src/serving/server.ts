/**
 * `bert4ts serve --model DIR`: an HTTP server for fine-tuned and pretrained models, stateless so
 * that any load balancer can put several behind one address.
 *
 *   POST /v1/tokenize      {model, input}                      -> tokens, ids, offsets
 *   POST /v1/embeddings    OpenAI request {model, input, ...}  -> OpenAI response (mean or CLS pooling)
 *   POST /v1/fill-mask     {model, input, top_k}               -> top predictions at each mask
 *   POST /v1/classify      {model, input}                      -> label + probabilities per input
 *   POST /v1/completions   OpenAI request (stream: true = server-sent events)
 *   GET  /v1/models, /healthz, /metrics (Prometheus text)
 *
 * Embeddings, fill-mask and classify requests are batched dynamically per model (up to maxBatch
 * rows, waiting at most maxWaitMs); completions waiting together decode together as one batch of
 * rows (static batching: a batch runs until its last row ends). Every queue is bounded
 * (429 when full), every request has a timeout (504), and a streaming client that disconnects stops
 * its generation.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { banRepeatedNgrams, runSteps, sampleToken } from '../generation/decode.ts';
import type { IncrementalLM } from '../generation/causalLM.ts';
import { Random } from '../util/random.ts';
import { Batcher } from './batcher.ts';
import { checkBearer, HttpError, readJsonBody, requestPath, sendError, sendJson } from './http.ts';
import { Counter, Gauge, Histogram, Registry } from './metrics.ts';
import type { EncodedRow, ServedModel } from './models.ts';
import { GPT2_FAMILIES } from '../models/gpt2Family.ts';

export interface ModelServerOptions {
  models: ServedModel[];
  /** Bearer token every request but /healthz must carry. */
  token?: string;
  maxBatch?: number;
  maxWaitMs?: number;
  /** Requests waiting per model and kind before 429. */
  maxQueue?: number;
  /** Per-request time limit in ms (504 after it). */
  timeoutMs?: number;
  maxBodyBytes?: number;
  /** Most inputs in one request (embeddings, fill-mask, classify). */
  maxInputs?: number;
  /** Most tokens per input. */
  maxInputTokens?: number;
  /** Largest max_tokens a completion may ask for. */
  maxNewTokens?: number;
  log?: (line: string) => void;
}

type Row = EncodedRow;

/** One completion request as a row of a decoding batch. */
interface GenerationJob {
  lm: IncrementalLM;
  prompt: number[];
  endIds: number[];
  maxTokens: number;
  /** Rows of other requests to the same model can share this job's decoder (causal LMs). */
  shared: boolean;
  finished: boolean;
  /** The row's next token, by its request's options. */
  choose(logits: Float32Array, offset: number, history: number[]): number;
  /** Takes the row's new token (streams it, checks stop strings and limits). */
  accept(token: number): void;
  finish(reason: string): void;
  fail(e: unknown): void;
}

function argmax(logits: Float32Array, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[offset + v]! > logits[offset + best]!) best = v;
  return best;
}
type Job = { kind: 'embeddings' | 'fill-mask' | 'classify'; row: Row };

const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string') throw new HttpError(400, `"${name}" must be a string`);
  return v;
};

function optNumber(body: Record<string, unknown>, name: string, rule: { min?: number; max?: number; integer?: boolean; above?: number }): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  const ok = typeof v === 'number' && Number.isFinite(v) && (!rule.integer || Number.isInteger(v)) && (rule.min === undefined || v >= rule.min) && (rule.above === undefined || v > rule.above) && (rule.max === undefined || v <= rule.max);
  if (!ok) throw new HttpError(400, `"${name}" must be ${rule.integer ? 'an integer' : 'a number'}${rule.min !== undefined ? ` >= ${rule.min}` : ''}${rule.above !== undefined ? ` > ${rule.above}` : ''}${rule.max !== undefined ? ` <= ${rule.max}` : ''}, got ${JSON.stringify(v)}`);
  return v as number;
}

/** `input` as a list: a string, a list of strings, a list of ids, or a list of id lists (OpenAI's forms). */
function inputList(v: unknown, maxInputs: number): (string | number[])[] {
  let list: unknown[];
  if (typeof v === 'string') list = [v];
  else if (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number')) list = [v];
  else if (Array.isArray(v)) list = v;
  else throw new HttpError(400, '"input" must be a string, a list of strings, a list of token ids or a list of id lists');
  if (list.length === 0) throw new HttpError(400, '"input" is empty');
  if (list.length > maxInputs) throw new HttpError(413, `"input" has ${list.length} items; at most ${maxInputs} per request`);
  return list.map((x, i) => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x) && x.every((id) => typeof id === 'number')) return x as number[];
    throw new HttpError(400, `"input"[${i}] must be a string or a list of token ids`);
  });
}

function softmax(logits: Float32Array, offset: number, n: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[offset + i]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp(logits[offset + i]! - max);
  for (let i = 0; i < n; i++) p[i]! /= sum;
  return p;
}

function topK(p: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (best.length < k || p[i]! > p[best[best.length - 1]!]!) {
      best.push(i);
      best.sort((a, b) => p[b]! - p[a]!);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

export function createModelServer(o: ModelServerOptions): Server & { stopping: boolean } {
  const log = o.log ?? (() => {});
  const limits = {
    maxBatch: o.maxBatch ?? 16, maxWaitMs: o.maxWaitMs ?? 5, maxQueue: o.maxQueue ?? 256, timeoutMs: o.timeoutMs ?? 60_000,
    maxBodyBytes: o.maxBodyBytes ?? 1 << 20, maxInputs: o.maxInputs ?? 256, maxInputTokens: o.maxInputTokens ?? 512, maxNewTokens: o.maxNewTokens ?? 512,
  };
  if (!o.models.length) throw new Error('no models to serve');
  const byId = new Map<string, ServedModel>();
  for (const m of o.models) {
    if (byId.has(m.id)) throw new Error(`two models are named '${m.id}'; name them with --model NAME=DIR`);
    byId.set(m.id, m);
  }

  const registry = new Registry();
  const requests = registry.add(new Counter('bert4ts_requests_total', 'HTTP requests by route and status.'));
  const latency = registry.add(new Histogram('bert4ts_request_duration_seconds', 'Request latency by route.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]));
  const batchSizes = registry.add(new Histogram('bert4ts_batch_size', 'Rows per model call, by model.', [1, 2, 4, 8, 16, 32, 64, 128]));
  const queueDepth = registry.add(new Gauge('bert4ts_queue_depth', 'Requests waiting, by model and kind.'));
  const inFlight = registry.add(new Gauge('bert4ts_requests_in_flight', 'Requests being handled.'));
  const generated = registry.add(new Counter('bert4ts_generated_tokens_total', 'Tokens generated by completions, by model.'));
  const rss = registry.add(new Gauge('bert4ts_resident_memory_bytes', 'Resident set size of the server process.'));
  rss.track(() => process.memoryUsage.rss());
  let active = 0;
  inFlight.track(() => active);

  // One batcher per model for the encoder kinds; they share the model's one session.
  const batchers = new Map<string, Batcher<Job, unknown>>();
  // Completions: requests waiting together decode together, one row each (static batches).
  const generators = new Map<string, Batcher<GenerationJob, void>>();
  for (const m of o.models) {
    const batcher = new Batcher<Job, unknown>((jobs) => runJobs(m, jobs), { maxBatch: limits.maxBatch, maxWaitMs: limits.maxWaitMs, maxQueue: limits.maxQueue, onBatch: (n) => batchSizes.observe(n, { model: m.id, kind: 'encode' }) });
    batchers.set(m.id, batcher);
    queueDepth.track(() => batcher.depth, { model: m.id, kind: 'encode' });
    const generator = new Batcher<GenerationJob, void>((jobs) => runGeneration(jobs), { maxBatch: limits.maxBatch, maxWaitMs: limits.maxWaitMs, maxQueue: limits.maxQueue, onBatch: (n) => batchSizes.observe(n, { model: m.id, kind: 'completions' }) });
    generators.set(m.id, generator);
    queueDepth.track(() => generator.depth, { model: m.id, kind: 'completions' });
  }

  /** One padded ORT call for a mixed batch of jobs; each job gets its own result. */
  async function runJobs(m: ServedModel, jobs: Job[]): Promise<unknown[]> {
    const wanted = new Set<string>();
    for (const j of jobs) wanted.add(j.kind === 'embeddings' ? 'last_hidden_state' : 'logits');
    const out = await m.run(jobs.map((j) => j.row), [...wanted]);
    return jobs.map((j, b) => {
      if (j.kind === 'embeddings') return { hidden: out.last_hidden_state!, b, length: j.row.ids.length };
      return { logits: out.logits!, b, length: j.row.ids.length };
    });
  }

  /**
   * Decodes a batch of completion jobs. Causal LMs share one decoder, so their rows run together
   * (grouped so that every prompt fits the batch's longest answer); a T5 job has its own encoded
   * input and runs alone. A finished row (its own max_tokens, a stop string, a client gone) is ended
   * by choosing an end id; with no end id it runs on with its tokens ignored.
   */
  async function runGeneration(jobs: GenerationJob[]): Promise<void[]> {
    const groups: GenerationJob[][] = [];
    for (const j of jobs) {
      const g = groups.find((grp) => grp[0]!.shared && j.shared && Math.max(j.prompt.length, ...grp.map((x) => x.prompt.length)) + Math.max(j.maxTokens, ...grp.map((x) => x.maxTokens)) <= j.lm.maxPosition);
      if (g) g.push(j);
      else groups.push([j]);
    }
    for (const group of groups) {
      const lm = group[0]!.lm, V = lm.vocabSize, end = group[0]!.endIds[0];
      const maxNewTokens = Math.max(...group.map((j) => j.maxTokens)) + (end === undefined ? 0 : 1);
      try {
        const steps = runSteps(lm, group.map((j) => j.prompt), { maxNewTokens, endIds: group[0]!.endIds }, (logits, r, history) => {
          const j = group[r]!;
          return j.finished && end !== undefined ? end : j.choose(logits, r * V, history);
        });
        for await (const tokens of steps) for (const { row, token } of tokens) if (!group[row]!.finished) group[row]!.accept(token);
        for (const j of group) j.finish('length');
      } catch (e) {
        for (const j of group) j.fail(e);
      }
    }
    return jobs.map(() => undefined);
  }

  function modelFor(body: Record<string, unknown>): ServedModel {
    if (body.model === undefined && byId.size === 1) return o.models[0]!;
    const id = str(body.model, 'model');
    const m = byId.get(id);
    if (!m) throw new HttpError(404, `no model '${id}'; models: ${[...byId.keys()].join(', ')}`);
    return m;
  }

  async function encodeJobs(m: ServedModel, kind: Job['kind'], inputs: (string | number[])[], signal: AbortSignal) {
    const rows = inputs.map((x, i) => m.encode(x, limits.maxInputTokens, `"input"[${i}]`));
    const results = await Promise.all(rows.map((row) => batchers.get(m.id)!.submit({ kind, row }, signal)));
    return { rows, results: results as { hidden?: { data: unknown; shape: number[] }; logits?: { data: unknown; shape: number[] }; b: number; length: number }[] };
  }

  async function embeddings(body: Record<string, unknown>, signal: AbortSignal) {
    const m = modelFor(body);
    m.require('embeddings');
    const pooling = body.pooling ?? 'mean';
    if (pooling !== 'mean' && pooling !== 'cls') throw new HttpError(400, `"pooling" must be "mean" or "cls", got ${JSON.stringify(pooling)}`);
    if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') throw new HttpError(400, '"encoding_format" must be "float" or "base64"');
    const normalize = body.normalize ?? true;
    if (typeof normalize !== 'boolean') throw new HttpError(400, '"normalize" must be true or false');
    const { rows, results } = await encodeJobs(m, 'embeddings', inputList(body.input, limits.maxInputs), signal);
    let tokens = 0;
    const data = results.map((r, index) => {
      const [, T, H] = r.hidden!.shape as [number, number, number];
      const h = r.hidden!.data as Float32Array;
      const v = new Float32Array(H);
      const n = pooling === 'cls' ? 1 : r.length;
      for (let t = 0; t < n; t++) for (let k = 0; k < H; k++) v[k]! += h[(r.b * T + t) * H + k]! / n;
      if (normalize) {
        let sq = 0;
        for (let k = 0; k < H; k++) sq += v[k]! * v[k]!;
        const norm = Math.sqrt(sq) || 1;
        for (let k = 0; k < H; k++) v[k]! /= norm;
      }
      tokens += rows[index]!.ids.length;
      const embedding = body.encoding_format === 'base64' ? Buffer.from(v.buffer).toString('base64') : Array.from(v);
      return { object: 'embedding', index, embedding };
    });
    return { object: 'list', data, model: m.id, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }

  async function fillMask(body: Record<string, unknown>, signal: AbortSignal) {
    const m = modelFor(body);
    m.require('fill-mask');
    const k = optNumber(body, 'top_k', { integer: true, min: 1, max: 100 }) ?? 5;
    const maskId = m.tokenizer.specialTokens.mask?.id;
    if (maskId === undefined) throw new HttpError(400, `model '${m.id}' has no mask token`);
    const inputs = inputList(body.input, limits.maxInputs);
    const { rows, results } = await encodeJobs(m, 'fill-mask', inputs, signal);
    const data = results.map((r, index) => {
      const [, T, V] = r.logits!.shape as [number, number, number];
      const masks = rows[index]!.ids.flatMap((id, t) => (id === maskId ? [t] : []));
      if (!masks.length) throw new HttpError(400, `"input"[${index}] has no ${m.tokenizer.specialTokens.mask!.token} token`);
      return {
        index,
        masks: masks.map((t) => {
          const p = softmax(r.logits!.data as Float32Array, (r.b * T + t) * V, V);
          return { position: t, predictions: topK(p, k).map((id) => ({ id, token: m.tokenizer.idToToken(id), text: m.tokenizer.decode([id]), score: p[id]! })) };
        }),
      };
    });
    return { object: 'list', model: m.id, data };
  }

  async function classify(body: Record<string, unknown>, signal: AbortSignal) {
    const m = modelFor(body);
    m.require('classify');
    const { results } = await encodeJobs(m, 'classify', inputList(body.input, limits.maxInputs), signal);
    const labels = m.labels!;
    const data = results.map((r, index) => {
      const C = r.logits!.shape[1]!;
      const p = softmax(r.logits!.data as Float32Array, r.b * C, C);
      const best = topK(p, 1)[0]!;
      return { index, label: labels[best], score: p[best], probabilities: Object.fromEntries(labels.map((l, i) => [l, p[i]])) };
    });
    return { object: 'list', model: m.id, data };
  }

  function tokenize(body: Record<string, unknown>) {
    const m = modelFor(body);
    const text = str(body.input, 'input');
    if (text.length > limits.maxBodyBytes) throw new HttpError(413, '"input" is too long');
    const e = m.tokenizer.encode(text, undefined, { addSpecialTokens: body.add_special_tokens !== false });
    return { model: m.id, tokens: e.tokens, ids: e.ids, offsets: e.offsets };
  }

  async function completions(body: Record<string, unknown>, res: ServerResponse, signal: AbortSignal): Promise<unknown> {
    const m = modelFor(body);
    m.require('completions');
    const prompt = body.prompt;
    if (typeof prompt !== 'string' && !(Array.isArray(prompt) && prompt.length > 0 && prompt.every((x) => typeof x === 'number'))) {
      throw new HttpError(400, '"prompt" must be a string or a list of token ids (one prompt per request)');
    }
    const maxTokens = optNumber(body, 'max_tokens', { integer: true, min: 1, max: limits.maxNewTokens }) ?? 16;
    const temperature = optNumber(body, 'temperature', { min: 0, max: 10 }) ?? 1;
    const topP = optNumber(body, 'top_p', { above: 0, max: 1 });
    const topK = optNumber(body, 'top_k', { integer: true, min: 0 });
    const repetitionPenalty = optNumber(body, 'repetition_penalty', { above: 0, max: 10 });
    const noRepeatNgram = optNumber(body, 'no_repeat_ngram_size', { integer: true, min: 1, max: 64 });
    const seed = optNumber(body, 'seed', { integer: true }) ?? 0;
    optNumber(body, 'n', { integer: true, min: 1, max: 1 }); // one choice per request; more choices are more requests
    const stops = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    if (!Array.isArray(stops) || stops.length > 4 || stops.some((s) => typeof s !== 'string' || s === '')) throw new HttpError(400, '"stop" must be a non-empty string or a list of up to 4');
    if (body.stream !== undefined && typeof body.stream !== 'boolean') throw new HttpError(400, '"stream" must be true or false');
    const row = m.encode(typeof prompt === 'string' ? m.tokenizer.encode(prompt, undefined, { addSpecialTokens: false }).ids : prompt, limits.maxInputTokens, '"prompt"');
    const g = await m.generator(row.ids);
    if (g.prompt.length + maxTokens > g.lm.maxPosition) throw new HttpError(400, `prompt (${g.prompt.length} tokens) + max_tokens ${maxTokens} exceeds the model's ${g.lm.maxPosition} positions`);
    const id = `cmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (text: string, finish: string | null) => ({ id, object: 'text_completion', created, model: m.id, choices: [{ text, index: 0, logprobs: null, finish_reason: finish }] });
    const sampling = { temperature, topP, topK, repetitionPenalty, maxNewTokens: maxTokens };
    const rng = new Random(seed);
    const ids: number[] = [];
    let text = '', sent = 0, finish = 'length', failure: unknown;
    const holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
    const job: GenerationJob = {
      lm: g.lm, prompt: g.prompt, endIds: g.endIds, maxTokens, shared: GPT2_FAMILIES.includes(m.model.family), finished: false,
      choose: (logits, offset, history) => {
        if (noRepeatNgram !== undefined) banRepeatedNgrams(logits, offset, noRepeatNgram, history);
        return temperature === 0 ? argmax(logits, offset, g.lm.vocabSize) : sampleToken(logits, offset, g.lm.vocabSize, sampling, rng, g.prompt, history);
      },
      accept(token) {
        if (signal.aborted) return this.finish('cancelled'); // client gone or timed out: the row ends
        if (g.endIds.includes(token)) return this.finish('stop');
        ids.push(token);
        text = m.tokenizer.decode(ids);
        const at = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        if (at.length) {
          text = text.slice(0, Math.min(...at));
          return this.finish('stop');
        }
        // Stream what can no longer become part of a stop string (nor of a multi-byte character).
        if (body.stream && !text.endsWith('\uFFFD') && text.length - holdBack > sent) {
          if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
          res.write(`data: ${JSON.stringify(chunk(text.slice(sent, text.length - holdBack), null))}\n\n`);
          sent = text.length - holdBack;
        }
        if (ids.length >= maxTokens) this.finish('length');
      },
      finish(reason) {
        if (this.finished) return;
        this.finished = true;
        finish = reason;
      },
      fail(e) {
        this.finished = true;
        failure ??= e;
      },
    };
    await generators.get(m.id)!.submit(job, signal);
    generated.inc({ model: m.id }, ids.length);
    if (failure !== undefined) throw failure;
    if (signal.aborted) throw signal.reason;
    if (body.stream) {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(`data: ${JSON.stringify(chunk(text.slice(sent), finish))}\n\n`);
      res.end('data: [DONE]\n\n');
      return undefined;
    }
    const usage = { prompt_tokens: row.ids.length, completion_tokens: ids.length, total_tokens: row.ids.length + ids.length };
    return { ...chunk(text, finish), usage };
  }

  const server = createServer(async (req, res) => {
    const started = performance.now();
    let route = 'other';
    active++;
    // Aborts when the client goes away or the time limit passes; queued work is dropped, generation stops.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new HttpError(504, `request took longer than ${limits.timeoutMs} ms`)), limits.timeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) controller.abort(new HttpError(499, 'client closed the connection'));
      active--;
      requests.inc({ route, status: String(res.statusCode) });
      latency.observe((performance.now() - started) / 1000, { route });
    });
    try {
      const path = requestPath(req);
      route = /^\/(v1\/[\w-]+|healthz|metrics)$/.test(path) ? path : 'other';
      if (server.stopping) throw new HttpError(503, 'server is shutting down', { connection: 'close' });
      if (path === '/healthz') return sendJson(res, 200, { status: 'ok', models: [...byId.keys()] });
      checkBearer(req, o.token);
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        return void res.end(registry.render());
      }
      if (path === '/v1/models') {
        return sendJson(res, 200, { object: 'list', data: o.models.map((m) => ({ id: m.id, object: 'model', owned_by: 'bert4ts', family: m.model.family, application: m.model.application, capabilities: [...m.capabilities], labels: m.labels })) });
      }
      const handlers: Record<string, (body: Record<string, unknown>) => unknown> = {
        '/v1/tokenize': tokenize,
        '/v1/embeddings': (b) => embeddings(b, controller.signal),
        '/v1/fill-mask': (b) => fillMask(b, controller.signal),
        '/v1/classify': (b) => classify(b, controller.signal),
        '/v1/completions': (b) => completions(b, res, controller.signal),
      };
      const handler = Object.hasOwn(handlers, path) ? handlers[path] : undefined;
      if (!handler) throw new HttpError(404, `no route ${path}; routes: /v1/models, ${Object.keys(handlers).join(', ')}, /healthz, /metrics`);
      if (req.method !== 'POST') throw new HttpError(405, `${path} takes POST with a JSON body`, { allow: 'POST' });
      const body = await readJsonBody(req, { maxBytes: limits.maxBodyBytes });
      const result = await handler(body);
      if (result !== undefined) sendJson(res, 200, result);
    } catch (e) {
      if (res.headersSent) {
        // Mid-stream failure: tell the client in the stream, then close it.
        if (!res.destroyed) res.end(`data: ${JSON.stringify({ error: { message: (e as Error).message } })}\n\n`);
        if (!(e instanceof HttpError)) log(`error on ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      } else sendError(res, e, log, `${req.method} ${req.url}`);
    }
  }) as Server & { stopping: boolean };
  server.stopping = false;
  server.requestTimeout = limits.timeoutMs + 5_000;
  server.headersTimeout = 30_000;
  return server;
}
