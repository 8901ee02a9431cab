/**
 * The server side of the playground (web/playground/): the library's browser bundle, onnxruntime-web's
 * WebAssembly beside it, and the models the demos load. Routes, mounted by the `bert4ts serve` page server:
 *
 *   GET /playground/                    -> /playground/index.html (web/playground/, served as static files;
 *                                       the page itself cross-origin isolated, so WebAssembly runs threaded)
 *   GET /lib/bert4ts.js                 src/browser.ts bundled (dist/browser.bundle.js in the package;
 *                                       in a clone, bundled on first request with esbuild)
 *   GET /lib/ort-wasm-simd-threaded*    onnxruntime-web's runtime files, which ORT fetches beside the bundle
 *   GET /models/<name>/<file>           a shipped model directory (config.json, model.safetensors, vocab.txt,
 *                                       MODEL_CARD.md, ...): chinese-small, tang-poems
 *
 * The page itself only uses the library: it loads the model with loadModel('/models/<name>/') as any
 * web app would.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { HttpError } from './http.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The package's models/ (beside src/ or dist/). */
export const MODELS_ROOT = join(HERE, '../../models');
/** Model directories the playground may serve, and the file kinds in them. */
export const PLAYGROUND_MODELS = ['chinese-small', 'tang-poems'];
const MODEL_FILE = /^[\w.-]+\.(json|txt|safetensors|model|md)$/;
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8' }; // .md as text, so a browser shows a model card instead of saving it

let bundle: Promise<Uint8Array> | undefined;

/** The browser bundle: prebuilt in the package, else built once from the sources (a clone has esbuild). */
export function browserBundle(): Promise<Uint8Array> {
  bundle ??= (async () => {
    const built = join(HERE, '../browser.bundle.js');
    if (existsSync(built)) return new Uint8Array(readFileSync(built));
    const entry = join(HERE, '../browser.ts');
    if (!existsSync(entry)) throw new HttpError(404, 'the browser bundle is missing: run npm run build');
    let esbuild: typeof import('esbuild');
    try {
      esbuild = await import('esbuild');
    } catch {
      throw new HttpError(404, 'the browser bundle is not built and esbuild is not installed: run npm run build');
    }
    const r = await esbuild.build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', minify: true, write: false, logLevel: 'silent' });
    return r.outputFiles[0]!.contents;
  })();
  bundle.catch(() => { bundle = undefined; });
  return bundle;
}

function send(res: ServerResponse, data: Uint8Array, type: string, head: boolean): void {
  // COEP on the bundle too: onnxruntime-web's threads are workers running it, and a cross-origin isolated
  // page's dedicated worker needs its own require-corp (harmless on pages that are not isolated).
  res.writeHead(200, { 'content-type': type, 'content-length': data.length, 'cache-control': 'no-cache', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' });
  res.end(head ? undefined : data);
}

/** Serves a playground route; false when `path` is not one (the caller goes on to its static files). */
export async function servePlayground(path: string, res: ServerResponse, head = false): Promise<boolean> {
  if (path === '/playground' || path === '/playground/') {
    res.writeHead(302, { location: '/playground/index.html' }).end();
    return true;
  }
  if (path === '/playground/index.html') {
    // COOP + COEP make the page cross-origin isolated, which onnxruntime-web needs for WebAssembly
    // threads; everything the page loads is same-origin, so nothing else needs a header.
    const html = await readFile(join(HERE, '../../web/playground/index.html'));
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8', 'content-length': html.length, 'cache-control': 'no-cache',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
    });
    res.end(head ? undefined : html);
    return true;
  }
  if (path === '/lib/bert4ts.js') {
    send(res, await browserBundle(), TYPES['.js']!, head);
    return true;
  }
  const ort = /^\/lib\/(ort-wasm-simd-threaded(\.jsep)?\.(wasm|mjs))$/.exec(path);
  if (ort) {
    const dir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
    send(res, await readFile(join(dir, ort[1]!)), TYPES[`.${ort[3]}`]!, head);
    return true;
  }
  const model = /^\/models\/([\w.-]+)\/([^/]+)$/.exec(path);
  if (model) {
    const [, name, file] = model as unknown as [string, string, string];
    if (!PLAYGROUND_MODELS.includes(name) || !MODEL_FILE.test(file)) throw new HttpError(404, `not found: ${path}`);
    const full = join(MODELS_ROOT, name, file);
    if (!existsSync(full)) throw new HttpError(404, `not found: ${path}`);
    const ext = file.slice(file.lastIndexOf('.'));
    send(res, await readFile(full), TYPES[ext] ?? 'application/octet-stream', head);
    return true;
  }
  return false;
}
