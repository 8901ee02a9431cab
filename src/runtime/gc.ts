/**
 * onnxruntime-node hands every run's outputs back as fresh JS buffers (also when we gave it
 * preallocated ones); for multi-GB training steps those dead buffers would otherwise linger until
 * V8 happens to collect, raising peak memory by a whole model copy. Collect them right away.
 * In a browser there is no way to force a collection: a no-op.
 */
import type * as V8 from 'node:v8';
import type * as Vm from 'node:vm';
import { tryBuiltin } from '../util/node/builtin.ts';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    const v8 = tryBuiltin<typeof V8>('node:v8'), vm = tryBuiltin<typeof Vm>('node:vm');
    if (!v8 || !vm) return;
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  // Two passes: ArrayBuffer backing stores are released by finalisers that the first pass queues.
  gc();
  gc();
}
