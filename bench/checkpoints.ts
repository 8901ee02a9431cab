/**
 * Checkpoint write and read throughput: writes a ~1 GB random float32 checkpoint (BERT-like mix of
 * 1024x1024 matrices and 1024 vectors) to /tmp in each format, then reads every tensor back.
 * Reads come right after writing, so they run from the page cache: this measures our parsing,
 * copying and checksumming, not the disk. Peak RSS shows that reads go tensor by tensor.
 *
 *   npm run bench -- checkpoints [--mb 1024] [--dir /tmp]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openCheckpoint, writePytorchBin, writeSafetensors, writeTfCheckpoint } from '../src/checkpoint/index.ts';
import type { TensorInfo } from '../src/checkpoint/index.ts';
import type { HostTensor } from '../src/graph/dtype.ts';

const { values } = parseArgs({ args: process.argv.slice(2), options: { mb: { type: 'string', default: '1024' }, dir: { type: 'string', default: '/tmp' } } });
const targetBytes = Number(values.mb) * 2 ** 20;
const dim = 1024;

// Every fifth tensor a bias vector, the rest dim x dim matrices, up to the target size.
const infos: TensorInfo[] = [];
for (let i = 0, bytes = 0; bytes < targetBytes; i++) {
  const shape = i % 5 === 4 ? [dim] : [dim, dim];
  infos.push({ name: `bert/encoder/layer_${Math.floor(i / 5)}/tensor_${i % 5}`, dtype: 'float32', shape });
  bytes += 4 * shape.reduce((a, b) => a * b, 1);
}
const totalBytes = infos.reduce((s, i) => s + 4 * i.shape.reduce((a, b) => a * b, 1), 0);

/**
 * Random weights without holding 1 GB: a few random tensors of each shape, reused, so writers
 * stream and their timing is not mixed with data generation.
 */
const pool = new Map<string, HostTensor[]>();
function randomPool(shape: number[]): HostTensor[] {
  const key = shape.join('x');
  if (!pool.has(key)) {
    pool.set(key, [1, 2, 3].map((seed) => {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      let s = seed * 2654435761 >>> 0;
      for (let i = 0; i < data.length; i++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        data[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.04;
      }
      return { dtype: 'float32' as const, shape, data };
    }));
  }
  return pool.get(key)!;
}
const byName = new Map(infos.map((info, i) => [info.name, { info, i }]));
const source = {
  list: () => infos,
  read(name: string): HostTensor {
    const { info, i } = byName.get(name)!;
    const choices = randomPool(info.shape);
    return choices[i % choices.length]!;
  },
};
for (const info of infos) source.read(info.name); // build the pool before timing

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, (performance.now() - t0) / 1000];
}

const dir = mkdtempSync(join(values.dir!, 'bert4ts-bench-ckpt-'));
const figures: Record<string, number> = { total_mb: +(totalBytes / 1e6).toFixed(1), tensors: infos.length };
const mbps = (bytes: number, s: number) => +(bytes / 1e6 / s).toFixed(0);
const rows: string[] = [];
try {
  const formats: { name: string; path: string; write: () => void }[] = [
    { name: 'safetensors', path: join(dir, 'model.safetensors'), write: () => writeSafetensors(join(dir, 'model.safetensors'), source) },
    { name: 'tf', path: join(dir, 'model.ckpt'), write: () => writeTfCheckpoint(join(dir, 'model.ckpt'), source) },
    { name: 'pytorch', path: join(dir, 'pytorch_model.bin'), write: () => writePytorchBin(join(dir, 'pytorch_model.bin'), source) },
  ];
  for (const f of formats) {
    const [, writeSeconds] = time(f.write);
    const reads: [string, object][] = f.name === 'tf' ? [['tf', {}], ['tf_nocrc', { verifyChecksums: false }]] : [[f.name, {}]];
    for (const [label, options] of reads) {
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      // Two passes: the first is what loading a model costs (fresh memory: page faults, JIT
      // warm-up); the second shows the reader's own speed once memory is warm.
      const pass = () => time(() => {
        const r = openCheckpoint(f.path, options);
        let n = 0;
        for (const { name } of r.list()) {
          n += r.read(name).data.byteLength;
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        }
        r.close();
        return n;
      });
      const [[bytes, first], [, second]] = [pass(), pass()];
      if (bytes !== totalBytes) throw new Error(`${label}: read ${bytes} bytes, wrote ${totalBytes}`);
      figures[`${label}_read_mbps`] = mbps(bytes, first);
      figures[`${label}_read_warm_mbps`] = mbps(bytes, second);
      figures[`${label}_read_peak_rss_mb`] = Math.round(peakRss / 2 ** 20);
      rows.push(`${label.padEnd(12)} read  ${String(mbps(bytes, first)).padStart(6)} MB/s  (${first.toFixed(2)} s; second pass ${mbps(bytes, second)} MB/s; peak RSS ${Math.round(peakRss / 2 ** 20)} MB)`);
    }
    figures[`${f.name}_write_mbps`] = mbps(totalBytes, writeSeconds);
    rows.push(`${f.name.padEnd(12)} write ${String(mbps(totalBytes, writeSeconds)).padStart(6)} MB/s  (${writeSeconds.toFixed(2)} s, file ${Math.round(statSync(f.name === 'tf' ? f.path + '.data-00000-of-00001' : f.path).size / 1e6)} MB)`);
    rmSync(f.name === 'tf' ? join(dir, 'model.ckpt.data-00000-of-00001') : f.path, { force: true });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`checkpoint throughput, ${figures.total_mb} MB in ${infos.length} float32 tensors, warm page cache`);
for (const r of rows) console.log(r);
console.log(JSON.stringify(figures));
