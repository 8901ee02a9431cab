/**
 * Reads the files of a tar or tar.gz archive as a stream (node:zlib, no dependency), or of a
 * directory tree, in one interface. Handles ustar (name + prefix), GNU long names (`L`) and pax
 * `path` records; other entry types (directories, links) are skipped.
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createGunzip } from 'node:zlib';

export interface ArchiveFile {
  /** Path inside the archive or relative to the directory, with `/` separators. */
  path: string;
  data: Buffer;
}

const BLOCK = 512;

export interface ReadOptions {
  /** Called as input is consumed: bytes of the archive file (or of the directory's files) read so far, and in all. */
  onProgress?: (readBytes: number, totalBytes: number) => void;
}

/** Yields every regular file under `source` (a directory, a .tar or a .tar.gz / .tgz). */
export async function* readFiles(source: string, options: ReadOptions = {}): AsyncGenerator<ArchiveFile> {
  if (statSync(source).isDirectory()) {
    yield* readDirectory(source, options);
    return;
  }
  const total = statSync(source).size;
  let read = 0;
  const raw = createReadStream(source);
  if (options.onProgress) raw.on('data', (chunk) => options.onProgress!((read += chunk.length), total));
  const gz = /\.(tgz|gz)$/i.test(source);
  yield* readTar(gz ? raw.pipe(createGunzip()) : raw, source);
}

function* readDirectory(root: string, options: ReadOptions): Generator<ArchiveFile> {
  const walk = function* (dir: string): Generator<string> {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) yield* walk(full);
      else yield full;
    }
  };
  const files = [...walk(root)];
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  let read = 0;
  for (const full of files) {
    const data = readFileSync(full);
    options.onProgress?.((read += data.length), total);
    yield { path: relative(root, full).split(sep).join('/'), data };
  }
}

async function* readTar(stream: AsyncIterable<Buffer>, source: string): AsyncGenerator<ArchiveFile> {
  let pending: Buffer = Buffer.alloc(0);
  let longName: string | undefined;
  let paxPath: string | undefined;
  // State of the entry being read: its header fields, and how many bytes (padded) we still need.
  let entry: { name: string; type: string; size: number } | undefined;
  let sawEnd = false;
  for await (const chunk of stream) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    for (;;) {
      if (!entry) {
        if (pending.length - at < BLOCK) break;
        const header = pending.subarray(at, at + BLOCK);
        at += BLOCK;
        if (header.every((b) => b === 0)) { sawEnd = true; continue; }
        if (!verifyChecksum(header)) throw new Error(`${source}: corrupt tar header at byte ${at - BLOCK} (checksum mismatch); is this a tar archive?`);
        const name = cString(header, 0, 100);
        const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header, 345, 155) : '';
        const size = parseOctal(header.subarray(124, 136));
        const type = String.fromCharCode(header[156]! || 48);
        entry = { name: prefix ? `${prefix}/${name}` : name, type, size };
      }
      const padded = Math.ceil(entry.size / BLOCK) * BLOCK;
      if (pending.length - at < padded) break;
      const data = Buffer.from(pending.subarray(at, at + entry.size));
      at += padded;
      const { name, type } = entry;
      entry = undefined;
      if (type === 'L') { longName = cString(data, 0, data.length); continue; }
      if (type === 'x') { paxPath = paxRecord(data, 'path') ?? paxPath; continue; }
      if (type === 'g') continue;
      const path = paxPath ?? longName ?? name;
      paxPath = longName = undefined;
      if (type === '0' || type === '7') yield { path, data };
    }
    pending = pending.subarray(at);
  }
  if (entry) throw new Error(`${source}: archive ends inside "${entry.name}" (truncated download?)`);
  if (!sawEnd && pending.length) throw new Error(`${source}: ${pending.length} stray bytes at the end; truncated archive?`);
}

function cString(buf: Buffer, start: number, length: number): string {
  const slice = buf.subarray(start, start + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end < 0 ? slice.length : end).toString('utf8');
}

function parseOctal(field: Buffer): number {
  if (field[0]! & 0x80) { // GNU base-256 for sizes over 8 GB
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return s ? parseInt(s, 8) : 0;
}

function verifyChecksum(header: Buffer): boolean {
  const stored = parseOctal(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === stored;
}

function paxRecord(data: Buffer, key: string): string | undefined {
  // Records are "<len> <key>=<value>\n", len counting the whole record in bytes.
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(32, at);
    if (space < 0) break;
    const len = Number(data.subarray(at, space).toString('latin1'));
    if (!len) break;
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === key) return record.slice(eq + 1);
    at += len;
  }
  return undefined;
}
