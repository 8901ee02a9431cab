/**
 * onnxruntime-node hands every run's outputs back as fresh JS buffers (also when we gave it
 * preallocated ones); for multi-GB training steps those dead buffers would otherwise linger until
 * V8 happens to collect, raising peak memory by a whole model copy. Collect them right away.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  // Two passes: ArrayBuffer backing stores are released by finalisers that the first pass queues.
  gc();
  gc();
}
