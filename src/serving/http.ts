/**
 * HTTP plumbing shared by every server (the model server and the xiangqi page): typed HTTP errors,
 * bounded JSON bodies, safe static files, bearer tokens, and graceful shutdown. A client's mistake
 * is always a 4xx with a message; 500 is kept for our own bugs.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { timingSafeEqual } from 'node:crypto';
import { extname, join, normalize, sep } from 'node:path';

/** An error with the HTTP status to answer (4xx: the client's fault, 5xx: ours or overload). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.ico': 'image/x-icon', '.wasm': 'application/wasm',
  '.json': 'application/json; charset=utf-8', '.png': 'image/png',
};

/** The URL's path, percent-decoded; a malformed escape such as `/%ff.js` is a 400, not a crash. */
export function requestPath(req: IncomingMessage): string {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, `malformed URL ${JSON.stringify(req.url)}`);
  }
  try {
    return decodeURIComponent(url.pathname);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in ${JSON.stringify(url.pathname)}`);
  }
}

/** Deepest nesting of arrays/objects in a JSON text, without parsing it (strings skipped). */
function jsonDepth(text: string, limit: number): number {
  let depth = 0, max = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) { if (++depth > max && (max = depth) > limit) return max; }
    else if (c === 93 || c === 125) depth--;
  }
  return max;
}

export interface BodyLimits {
  /** Largest body in bytes (413 above). */
  maxBytes: number;
  /** Deepest JSON nesting (400 above); our requests need a handful of levels. */
  maxDepth?: number;
}

/** Reads a JSON object body within the limits: 413 when too big, 400 when not a JSON object or nested too deep. */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxBytes) throw new HttpError(413, `request body of ${declared} bytes is over the limit of ${limits.maxBytes}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limits.maxBytes) throw new HttpError(413, `request body over the limit of ${limits.maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const maxDepth = limits.maxDepth ?? 32;
  if (jsonDepth(text, maxDepth) > maxDepth) throw new HttpError(400, `the JSON body is nested deeper than ${maxDepth} levels`);
  let body: unknown;
  try {
    body = JSON.parse(text || '{}');
  } catch (e) {
    throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** Serves `path` from under `root` (never outside it, only known file types); 404 otherwise. */
export async function serveStatic(root: string, path: string, res: ServerResponse, head = false): Promise<void> {
  const rel = path === '/' ? 'index.html' : path.replace(/^\/+/, '');
  const file = normalize(join(root, rel));
  if (rel.includes('\0') || !file.startsWith(normalize(root + sep)) || !CONTENT_TYPES[extname(file)]) throw new HttpError(404, `not found: ${path}`);
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch {
    throw new HttpError(404, `not found: ${path}`);
  }
  res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)]!, 'content-length': data.length, 'cache-control': 'no-cache' });
  res.end(head ? undefined : data);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Answers an error: HttpError with its status, anything else as 500 (logged, since it is a bug). */
export function sendError(res: ServerResponse, e: unknown, log: (line: string) => void, what: string): void {
  const status = e instanceof HttpError ? e.status : 500;
  if (status === 500) log(`error on ${what}: ${(e as Error)?.stack ?? e}`);
  sendJson(res, status, { error: { message: e instanceof Error ? e.message : String(e), status } }, e instanceof HttpError ? e.headers : {});
}

/** Checks `Authorization: Bearer <token>` in constant time; 401 when a token is set and not given. */
export function checkBearer(req: IncomingMessage, token: string | undefined): void {
  if (!token) return;
  const given = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(given), b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new HttpError(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
}

/**
 * Runs `server` until SIGTERM or SIGINT, then shuts down gracefully: stop accepting connections,
 * let requests in flight finish (up to `graceMs`), then close what is left. Resolves when closed.
 */
export function runUntilSignal(server: Server, options: { graceMs?: number; onStop?: () => void; log?: (line: string) => void } = {}): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      options.log?.(`${signal}: finishing requests in flight, refusing new ones`);
      options.onStop?.();
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), options.graceMs ?? 10_000).unref();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // npm and npx do not forward SIGTERM to the script they run: they exit and leave it orphaned.
    // Started by them, the server follows its parent (a server started directly, e.g. under nohup, does not).
    if (process.env.npm_lifecycle_event || process.env.npm_command) {
      const parent = process.ppid;
      setInterval(() => { if (process.ppid !== parent) stop('parent npm process exited'); }, 500).unref();
    }
  });
}
