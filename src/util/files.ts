/**
 * File rules every reader and writer follows, in one place:
 * - inputs are regular files (a symlink is followed, but its target must be a regular file), so a
 *   FIFO, a device such as /dev/zero or a directory is refused instead of hanging or reading forever;
 * - outputs are written to a temp file in the target directory and renamed over the target only when
 *   complete, so a failure never leaves a truncated file over a good one;
 * - an output that is one of the inputs (after resolving symlinks and hard links) is refused before
 *   anything is written.
 */
import { closeSync, constants, type Stats, existsSync, fstatSync, openSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from './node/fs.ts';
import { basename, dirname, join, resolve } from './node/path.ts';

/** A file path that cannot be used as asked: names the path and says why. */
export class FileError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'FileError';
  }
}

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Throws a FileError unless `path` (after following symlinks) is an existing regular file. */
export function assertRegularFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw new FileError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw new FileError(path, `${kind(st)}, not a regular file; only regular files are read`);
}

/**
 * Opens a regular file for reading. The check is made on the opened descriptor, so a path swapped
 * for a FIFO between a check and the open cannot block us (O_NONBLOCK keeps the open itself from
 * waiting for a writer).
 */
export function openRegularFile(path: string): number {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer would otherwise block forever.
    fd = openSync(path, constants().O_RDONLY | (constants().O_NONBLOCK ?? 0));
  } catch (e) {
    throw new FileError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new FileError(path, `${kind(st)}, not a regular file; only regular files are read`);
  }
  return fd;
}

/** Identity of a path as the file system sees it (symlinks and hard links resolved), or undefined if absent. */
function identity(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Where `path` really points: the real path when it exists, else the real parent directory + its name. */
export function resolvedPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(resolve(path));
    try {
      return join(realpathSync(parent), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Refuses to write `outputs` when any of them is one of `inputs`: same resolved path, or the same
 * file through a symlink or hard link. Call it before the first byte is written.
 */
export function assertNotInput(inputs: string[], outputs: string[]): void {
  const inIds = new Map<string, string>();
  const inPaths = new Map<string, string>();
  for (const p of inputs) {
    const id = identity(p);
    if (id) inIds.set(id, p);
    inPaths.set(resolvedPath(p), p);
  }
  for (const out of outputs) {
    const id = identity(out);
    const hit = (id && inIds.get(id)) ?? inPaths.get(resolvedPath(out));
    if (hit !== undefined) throw new FileError(out, `output is the input ${hit}; writing it would destroy the input. Choose another output path`);
  }
}

let tempCounter = 0;

/** A temp path beside `target` (same directory, so the final rename is atomic). */
export function tempPathFor(target: string): string {
  return join(dirname(resolve(target)), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}-${tempCounter++}`);
}

/**
 * An output file written under a temp name and renamed over `target` by `commit()`. `abort()` (or
 * any failure before commit) removes the temp file and leaves whatever was at `target` untouched.
 */
export class AtomicFile {
  readonly tempPath: string;
  readonly fd: number;
  private done = false;
  constructor(readonly target: string) {
    this.tempPath = tempPathFor(target);
    try {
      this.fd = openSync(this.tempPath, 'wx');
    } catch (e) {
      throw new FileError(target, `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, Math.min(bytes.length - off, 1 << 30));
  }

  /** Closes and renames the temp file over the target. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    closeSync(this.fd);
    try {
      renameSync(this.tempPath, this.target);
    } catch (e) {
      try { unlinkSync(this.tempPath); } catch { /* already gone */ }
      throw new FileError(this.target, `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /** Closes and deletes the temp file; the target is left as it was. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      /* already gone */
    }
  }
}

/** Runs `write` against temp files for several outputs and renames them all only if it succeeds (in the given order). */
export function writeAtomically<T>(targets: string[], write: (files: AtomicFile[]) => T): T {
  const files: AtomicFile[] = [];
  try {
    for (const t of targets) files.push(new AtomicFile(t));
    const result = write(files);
    for (const f of files) f.commit();
    return result;
  } catch (e) {
    for (const f of files) f.abort();
    throw e;
  }
}

/** `writeFileSync`, but atomic: the target is replaced only by a complete file. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(target);
  try {
    writeFileSync(tmp, data, { flag: 'wx' });
    renameSync(tmp, target);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw new FileError(target, `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
