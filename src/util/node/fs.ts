/** The `node:fs` functions shared code uses, loaded at call time (see builtin.ts). */
import type * as fs from 'node:fs';
import { builtin, lazy } from './builtin.ts';

type M = typeof fs;
const f = <K extends keyof M>(k: K) => lazy<M, K>('node:fs', k);
export const closeSync = f('closeSync');
export const existsSync = f('existsSync');
export const fstatSync = f('fstatSync');
export const mkdirSync = f('mkdirSync');
export const mkdtempSync = f('mkdtempSync');
export const openSync = f('openSync');
export const readdirSync = f('readdirSync');
export const readFileSync = f('readFileSync');
export const readSync = f('readSync');
export const realpathSync = f('realpathSync');
export const renameSync = f('renameSync');
export const rmSync = f('rmSync');
export const statSync = f('statSync');
export const unlinkSync = f('unlinkSync');
export const writeFileSync = f('writeFileSync');
export const writeSync = f('writeSync');
export const createReadStream = f('createReadStream');
/** `fs.constants` (open flags). */
export const constants = (): M['constants'] => builtin<M>('node:fs').constants;
export type Stats = fs.Stats;
