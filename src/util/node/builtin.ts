/**
 * Node's built-in modules without a static `node:` import, so that a module which only *sometimes*
 * touches the file system (a reader that also takes bytes, a Model that can also save) stays in the
 * browser build. `process.getBuiltinModule` (Node >= 20.16) loads a built-in synchronously; in a
 * browser there is none, and the first call says what needs Node instead of failing at import time.
 * Modules that are Node-only through and through (the CLI, the servers, corpus readers) keep plain
 * `node:` imports and are simply not reachable from `src/browser.ts`.
 */
export class NodeOnlyError extends Error {
  constructor(readonly module: string) {
    super(`${module} is not available here (a browser?): reading or writing files by path, temp files and the like need Node.js. In the browser, load models and tokenizers from a URL, ArrayBuffer, Blob or File (see 'bert4ts/browser': loadModel, loadTokenizer, fileSource)`);
    this.name = 'NodeOnlyError';
  }
}

type GetBuiltin = (id: string) => unknown;

/** The built-in module, or undefined outside Node. */
export function tryBuiltin<T>(id: `node:${string}`): T | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: GetBuiltin } }).process?.getBuiltinModule;
  return typeof get === 'function' ? (get(id) as T) : undefined;
}

export function builtin<T>(id: `node:${string}`): T {
  const m = tryBuiltin<T>(id);
  if (m === undefined) throw new NodeOnlyError(id);
  return m;
}

export const isNode = (): boolean => tryBuiltin('node:fs') !== undefined;

/** A function of the module, resolved at call time. */
export function lazy<M, K extends keyof M>(id: `node:${string}`, key: K): M[K] {
  return ((...args: unknown[]) => (builtin<M>(id)[key] as (...a: unknown[]) => unknown)(...args)) as M[K];
}
