/** The `node:path` functions shared code uses, loaded at call time (see builtin.ts). */
import type * as path from 'node:path';
import { lazy } from './builtin.ts';

type M = typeof path;
const f = <K extends keyof M>(k: K) => lazy<M, K>('node:path', k);
export const basename = f('basename');
export const dirname = f('dirname');
export const join = f('join');
export const resolve = f('resolve');
