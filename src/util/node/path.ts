/**
 * The `node:path` functions shared code uses. In Node, node:path itself (loaded at call time, see
 * builtin.ts); elsewhere (a browser) plain POSIX string operations, since names such as a saved
 * model's weights file are still checked and joined there.
 */
import type * as path from 'node:path';
import { tryBuiltin } from './builtin.ts';

const node = () => tryBuiltin<typeof path>('node:path');

function normalizeParts(parts: string[], absolute: boolean): string {
  const out: string[] = [];
  for (const p of parts.join('/').split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..' && out.length && out[out.length - 1] !== '..') out.pop();
    else if (p !== '..' || !absolute) out.push(p);
  }
  const s = (absolute ? '/' : '') + out.join('/');
  return s || (absolute ? '/' : '.');
}

export const join: typeof path.join = (...parts) => node()?.join(...parts) ?? normalizeParts(parts, parts[0]?.startsWith('/') ?? false);

export const resolve: typeof path.resolve = (...parts) => {
  const n = node();
  if (n) return n.resolve(...parts);
  const start = parts.map((p) => p.startsWith('/')).lastIndexOf(true);
  return normalizeParts(parts.slice(Math.max(start, 0)), start >= 0);
};

export const basename: typeof path.basename = (p, suffix) => {
  const n = node();
  if (n) return n.basename(p, suffix);
  const base = p.replace(/\/+$/, '').split('/').pop() ?? '';
  return suffix && base.endsWith(suffix) && base !== suffix ? base.slice(0, -suffix.length) : base;
};

export const dirname: typeof path.dirname = (p) => {
  const n = node();
  if (n) return n.dirname(p);
  const trimmed = p.replace(/\/+$/, '');
  const i = trimmed.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : trimmed.slice(0, i);
};
