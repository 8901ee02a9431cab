/** The `node:os` functions shared code uses, loaded at call time (see builtin.ts). */
import type * as os from 'node:os';
import { lazy } from './builtin.ts';

export const tmpdir = lazy<typeof os, 'tmpdir'>('node:os', 'tmpdir');
