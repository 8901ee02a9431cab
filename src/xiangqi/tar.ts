/**
 * Reads the files of a tar or tar.gz archive as a stream (node:zlib, no dependency), or of a
 * directory tree, in one interface. Handles ustar (name + prefix), GNU long names (`L`) and pax
 * `path` records; other entry types (directories, links) are skipped.
 *
 * Archives are untrusted: every size read from a header is checked (octal digits, a limit) before
 * anything is allocated, bytes are buffered in a chunk queue (linear, whatever the chunking), a file
 * over `maxFileBytes` is streamed past without being held, and inflation stops at `maxTotalBytes`.
 */
import { closeSync, createReadStream, fstatSync, lstatSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { FileError, assertRegularFile, openRegularFile } from '../util/files.ts';

export interface ArchiveFile {
  /** Path inside the archive or relative to the directory, with `/` separators. */
  path: string;
  data: Buffer;
}

/** A malformed archive: names the archive and the byte offset where reading stopped. */
export class TarError extends Error {
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'TarError';
  }
}

const BLOCK = 512;
const MiB = 1 << 20;
/** Long-name and pax records are a few hundred bytes; more is a corrupt or hostile header. */
const MAX_META_BYTES = MiB;

export interface ReadOptions {
  /** Called as input is consumed: bytes of the archive file (or of the directory's files) read so far, and in all. */
  onProgress?: (readBytes: number, totalBytes: number) => void;
  /** A file larger than this is not read (default 16 MiB; game records are a few kB). */
  maxFileBytes?: number;
  /** Stop with a TarError after this many archive bytes (after inflation; default 4 GiB): a gzip bomb ends here. */
  maxTotalBytes?: number;
  /**
   * Called for a file that is not read (too large; in a directory, not a regular file). Without it
   * such a file is an error.
   */
  onSkip?: (path: string, reason: string) => void;
}

/** Yields every regular file under `source` (a directory, a .tar or a .tar.gz / .tgz). */
export async function* readFiles(source: string, options: ReadOptions = {}): AsyncGenerator<ArchiveFile> {
  const o = { maxFileBytes: 16 * MiB, maxTotalBytes: 4 * 1024 * MiB, ...options };
  let st;
  try {
    st = statSync(source);
  } catch (e) {
    throw new FileError(source, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const skip = o.onSkip ?? ((path: string, reason: string) => { throw new FileError(st.isDirectory() ? join(source, path) : `${source}: ${path}`, reason); });
  if (st.isDirectory()) {
    yield* readDirectory(source, o.maxFileBytes, skip, o.onProgress);
    return;
  }
  const fd = openRegularFile(source); // a FIFO or device named as the archive is refused, not read forever
  const total = fstatSync(fd).size;
  let read = 0;
  const raw = createReadStream('', { fd });
  if (o.onProgress) raw.on('data', (chunk) => o.onProgress!((read += chunk.length), total));
  const gz = /\.(tgz|gz)$/i.test(source) ? createGunzip() : undefined;
  if (gz) {
    raw.on('error', (e) => gz.destroy(e));
    raw.pipe(gz);
  }
  try {
    yield* readTar(gz ?? raw, source, o.maxFileBytes, o.maxTotalBytes, skip);
  } catch (e) {
    if (e instanceof TarError || e instanceof FileError) throw e;
    throw new TarError(source, `${gz ? 'gzip' : 'read'} error: ${(e as Error).message}`);
  } finally {
    gz?.destroy();
    raw.destroy();
  }
}

/**
 * Walks the tree with an explicit stack (no recursion: depth is untrusted). Symlink policy: a
 * symlink to a regular file is read as that file; a symlink to a directory is not followed (no
 * cycles, no escaping the tree) and is reported; FIFOs, sockets and devices are reported and never opened.
 */
function* readDirectory(root: string, maxFileBytes: number, skip: (path: string, reason: string) => void, onProgress?: (read: number, total: number) => void): Generator<ArchiveFile> {
  const files: string[] = [];
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    const names = readdirSync(join(root, rel)).sort().reverse(); // reversed onto the stack: visited in order
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const lst = lstatSync(join(root, r));
      if (lst.isDirectory()) stack.push(r);
      else files.push(r);
    }
  }
  files.sort();
  const sizes = files.map((r) => {
    try {
      return statSync(join(root, r)).size;
    } catch {
      return 0; // a dangling symlink: reported when opened
    }
  });
  const total = sizes.reduce((a, b) => a + b, 0);
  let read = 0;
  for (const [i, r] of files.entries()) {
    const full = join(root, r);
    let data: Buffer;
    try {
      if (lstatSync(full).isSymbolicLink() && statSync(full).isDirectory()) { skip(r, 'a symlink to a directory, not followed'); continue; }
      data = readRegularFile(full, maxFileBytes);
    } catch (e) {
      if (!(e instanceof FileError)) throw e;
      skip(r, e.message.slice(full.length + 2));
      continue;
    }
    onProgress?.((read += sizes[i]!), total);
    yield { path: r, data };
  }
}

/** Reads a regular file, refusing one larger than `limit` before reading it (checked again while reading: files grow). */
function readRegularFile(path: string, limit: number): Buffer {
  const fd = openRegularFile(path);
  try {
    const size = fstatSync(fd).size;
    if (size > limit) throw new FileError(path, tooLarge(size, limit));
    const buf = Buffer.allocUnsafe(size);
    let n = 0;
    while (n < size) {
      const got = readSync(fd, buf, n, size - n, null);
      if (got === 0) break;
      n += got;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

const tooLarge = (size: number, limit: number) => `${(size / MiB).toFixed(1)} MiB, over the ${(limit / MiB).toFixed(0)} MiB limit for one file`;

/** Chunks received but not consumed; `take` copies each byte once, so the whole read is linear. */
class ChunkQueue {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    if (b.length) { this.chunks.push(b); this.length += b.length; }
  }
  /** Removes `n` bytes (n <= length) and returns them, or drops them when `keep` is false. */
  take(n: number, keep = true): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const c = this.chunks[0]!;
      if (c.length <= left) { if (keep) parts.push(c); this.chunks.shift(); left -= c.length; }
      else { if (keep) parts.push(c.subarray(0, left)); this.chunks[0] = c.subarray(left); left = 0; }
    }
    this.length -= n;
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, keep ? n : 0);
  }
}

async function* readTar(stream: AsyncIterable<Buffer>, source: string, maxFileBytes: number, maxTotalBytes: number, skip: (path: string, reason: string) => void): AsyncGenerator<ArchiveFile> {
  const queue = new ChunkQueue();
  let offset = 0; // archive bytes consumed, for error messages
  let received = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  // The entry being read: header fields, bytes of data still to come (padded), and whether they are kept.
  let entry: { name: string; type: string; size: number; left: number; keep: boolean } | undefined;
  let sawEnd = false;
  for await (const chunk of stream) {
    received += chunk.length;
    if (received > maxTotalBytes) throw new TarError(source, `more than ${(maxTotalBytes / MiB).toFixed(0)} MiB of archive data (a gzip bomb?); stopped`);
    queue.push(chunk);
    for (;;) {
      if (!entry) {
        if (queue.length < BLOCK) break;
        const header = queue.take(BLOCK);
        offset += BLOCK;
        if (header.every((b) => b === 0)) { sawEnd = true; continue; }
        const at = offset - BLOCK;
        if (!verifyChecksum(header)) throw new TarError(source, `corrupt tar header at byte ${at} (checksum mismatch); is this a tar archive?`);
        const size = parseNumber(header.subarray(124, 136));
        if (size === undefined) throw new TarError(source, `corrupt tar header at byte ${at}: the size field "${header.subarray(124, 136).toString('latin1').replace(/[^\x20-\x7e]/g, '?')}" is not an octal number`);
        const name = cString(header, 0, 100);
        const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header, 345, 155) : '';
        const type = String.fromCharCode(header[156]! || 48);
        const meta = type === 'L' || type === 'x' || type === 'g';
        if (meta && size > MAX_META_BYTES) throw new TarError(source, `tar header at byte ${at} declares a ${size}-byte ${type === 'L' ? 'long name' : 'pax header'}; over the ${MAX_META_BYTES}-byte limit`);
        const full = prefix ? `${prefix}/${name}` : name;
        const file = type === '0' || type === '7';
        const path = file ? paxPath ?? longName ?? full : full;
        if (file && size > maxFileBytes) skip(path, tooLarge(size, maxFileBytes));
        entry = { name: path, type, size, left: Math.ceil(size / BLOCK) * BLOCK, keep: meta || (file && size <= maxFileBytes) };
      }
      if (!entry.keep) {
        // Data nobody reads (directories' payloads, oversized files) is dropped as it arrives.
        const n = Math.min(entry.left, queue.length);
        queue.take(n, false);
        offset += n;
        entry.left -= n;
        if (entry.left > 0) break;
      } else {
        if (queue.length < entry.left) break;
        const data = queue.take(entry.left).subarray(0, entry.size);
        offset += entry.left;
        entry.left = 0;
        const { name, type } = entry;
        entry = undefined;
        if (type === 'L') { longName = cString(data, 0, data.length); continue; }
        if (type === 'x') { paxPath = paxRecord(data, 'path', source, offset) ?? paxPath; continue; }
        if (type === 'g') continue;
        paxPath = longName = undefined;
        yield { path: name, data };
        continue;
      }
      paxPath = longName = undefined; // only data entries are dropped, and names apply to the next one
      entry = undefined;
    }
  }
  if (entry) throw new TarError(source, `archive ends inside "${entry.name}" (truncated download?)`);
  if (!sawEnd && queue.length) throw new TarError(source, `${queue.length} stray bytes at the end; truncated archive?`);
}

function cString(buf: Buffer, start: number, length: number): string {
  const slice = buf.subarray(start, start + length);
  const end = slice.indexOf(0);
  return slice.subarray(0, end < 0 ? slice.length : end).toString('utf8');
}

/** A numeric header field: octal digits padded with spaces or NULs, or GNU base-256; undefined if malformed. */
function parseNumber(field: Buffer): number | undefined {
  if (field[0] === 0x80) { // GNU base-256, positive, for sizes over 8 GB
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return Number.isSafeInteger(n) ? n : undefined;
  }
  const m = /^[ \0]*([0-7]*)[ \0]*$/.exec(field.toString('latin1'));
  return m ? (m[1] ? parseInt(m[1], 8) : 0) : undefined;
}

function verifyChecksum(header: Buffer): boolean {
  const stored = parseNumber(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return sum === stored;
}

/** The value of `key` in pax records "<len> <key>=<value>\n" (len counts the whole record in bytes). */
function paxRecord(data: Buffer, key: string, source: string, offset: number): string | undefined {
  const bad = (why: string) => new TarError(source, `corrupt pax header before byte ${offset}: ${why}`);
  let found: string | undefined;
  for (let at = 0; at < data.length;) {
    if (data[at] === 0) break; // NUL padding after the last record
    const space = data.indexOf(32, at);
    const lenText = space < 0 ? '' : data.subarray(at, space).toString('latin1');
    if (!/^[1-9][0-9]{0,8}$/.test(lenText)) throw bad(`record length "${lenText.slice(0, 20)}" at ${at} is not a positive decimal number`);
    const len = Number(lenText);
    if (at + len > data.length || len < lenText.length + 3 || data[at + len - 1] !== 10) throw bad(`record at ${at} of length ${len} does not fit the ${data.length}-byte header or does not end in a newline`);
    const record = data.subarray(space + 1, at + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq < 0) throw bad(`record at ${at} has no "="`);
    if (record.slice(0, eq) === key) found = record.slice(eq + 1);
    at += len;
  }
  return found;
}
