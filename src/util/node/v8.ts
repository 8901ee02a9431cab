/** The `node:v8` functions shared code uses, loaded at call time (see builtin.ts). */
import type * as v8 from 'node:v8';
import { lazy } from './builtin.ts';

export const getHeapStatistics = lazy<typeof v8, 'getHeapStatistics'>('node:v8', 'getHeapStatistics');
