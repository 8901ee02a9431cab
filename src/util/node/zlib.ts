/** The `node:zlib` functions shared code uses, loaded at call time (see builtin.ts). */
import type * as zlib from 'node:zlib';
import { lazy } from './builtin.ts';

type M = typeof zlib;
const f = <K extends keyof M>(k: K) => lazy<M, K>('node:zlib', k);
export const crc32 = f('crc32');
export const inflateRawSync = f('inflateRawSync');
export const gunzipSync = f('gunzipSync');
export const createGunzip = f('createGunzip');
