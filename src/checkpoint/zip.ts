/**
 * Just enough ZIP for PyTorch checkpoints: read the central directory (zip64 too) and locate each
 * entry's data in the file, so a storage is read straight from disk; write stored (uncompressed)
 * entries with 64-byte aligned data, as torch.save does, streaming each entry as it comes.
 */
import { crc32 as zlibCrc32, inflateRawSync } from '../util/node/zlib.ts';
import { AtomicFile } from '../util/files.ts';
import { CheckpointError, FileSink, RandomAccessFile } from './io.ts';

const SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50, SIG_EOCD64 = 0x06064b50, SIG_LOCATOR64 = 0x07064b50;
const U32_MAX = 0xffffffff, U16_MAX = 0xffff;
const METHOD_STORED = 0, METHOD_DEFLATED = 8;
/** Deflate cannot expand data more than ~1032 times. */
const MAX_DEFLATE_RATIO = 1032;
/**
 * What all deflated entries of one archive may inflate to: 64 times the file plus 256 MB. torch.save
 * never compresses; a re-zipped checkpoint of weights compresses little, while a zip bomb is refused.
 */
const inflateBudget = (fileSize: number) => 64 * fileSize + (256 << 20);

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localHeaderOffset: number;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function readU64(dv: DataView, at: number): number {
  return Number(dv.getBigUint64(at, true));
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<string, number>();
  /** Deflated entries, inflated once (tensors of one storage read from the same bytes). */
  private readonly inflated = new Map<string, Uint8Array>();

  constructor(readonly file: RandomAccessFile) {
    const path = file.path;
    const tailLen = Math.min(file.size, 22 + 65535);
    const tail = file.read(file.size - tailLen, tailLen, 'zip end record');
    const tv = view(tail);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) if (tv.getUint32(i, true) === SIG_EOCD) { eocd = i; break; }
    if (eocd < 0) throw new CheckpointError(path, 'not a zip file or truncated: no end-of-central-directory record');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
      const locAt = file.size - tailLen + eocd - 20;
      const loc = view(file.read(locAt, 20, 'zip64 locator'));
      if (loc.getUint32(0, true) !== SIG_LOCATOR64) throw new CheckpointError(path, 'zip64 end record locator missing (corrupt zip)');
      const rec = view(file.read(readU64(loc, 8), 56, 'zip64 end record'));
      if (rec.getUint32(0, true) !== SIG_EOCD64) throw new CheckpointError(path, 'zip64 end record missing (corrupt zip)');
      count = readU64(rec, 32);
      cdSize = readU64(rec, 40);
      cdOffset = readU64(rec, 48);
    }
    if (count * 46 > cdSize) throw new CheckpointError(path, `corrupt zip: ${count} entries cannot fit a central directory of ${cdSize} bytes`);
    const cd = file.read(cdOffset, cdSize, 'zip central directory');
    let budget = inflateBudget(file.size);
    const cv = view(cd);
    let p = 0;
    const decoder = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) throw new CheckpointError(path, `corrupt zip central directory at entry ${i}`);
      const nameLen = cv.getUint16(p + 28, true), extraLen = cv.getUint16(p + 30, true), commentLen = cv.getUint16(p + 32, true);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new CheckpointError(path, `corrupt zip central directory: entry ${i} runs past its end`);
      const e: ZipEntry = {
        name: decoder.decode(cd.subarray(p + 46, p + 46 + nameLen)),
        method: cv.getUint16(p + 10, true),
        crc: cv.getUint32(p + 16, true),
        compressedSize: cv.getUint32(p + 20, true),
        size: cv.getUint32(p + 24, true),
        localHeaderOffset: cv.getUint32(p + 42, true),
      };
      // zip64 extra field: only the fields whose 32-bit slot is 0xFFFFFFFF, in this order.
      for (let x = p + 46 + nameLen, xEnd = x + extraLen; x + 4 <= xEnd;) {
        const id = cv.getUint16(x, true), len = cv.getUint16(x + 2, true);
        if (x + 4 + len > xEnd) break; // a damaged extra field: the sizes checks below still apply
        if (id === 1) {
          let q = x + 4;
          // A field missing from a short record stays 0xFFFFFFFF, which the checks below refuse for small files.
          const field = (at: number) => (at + 8 <= x + 4 + len ? readU64(cv, at) : U32_MAX);
          if (e.size === U32_MAX) { e.size = field(q); q += 8; }
          if (e.compressedSize === U32_MAX) { e.compressedSize = field(q); q += 8; }
          if (e.localHeaderOffset === U32_MAX) { e.localHeaderOffset = field(q); q += 8; }
        }
        x += 4 + len;
      }
      if (e.compressedSize > file.size || e.localHeaderOffset > file.size) throw new CheckpointError(path, `corrupt zip: entry '${e.name}' lies past the end of the file`);
      if (e.method === METHOD_STORED && e.size !== e.compressedSize) throw new CheckpointError(path, `corrupt zip: stored entry '${e.name}' has sizes ${e.size} and ${e.compressedSize}`);
      if (e.method === METHOD_DEFLATED) {
        if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 1024) throw new CheckpointError(path, `corrupt zip: entry '${e.name}' declares ${e.size} bytes from ${e.compressedSize} compressed, more than deflate can produce`);
        if ((budget -= e.size) < 0) {
          throw new CheckpointError(path, `zip entry '${e.name}' would inflate to ${e.size} bytes, past the limit for a ${file.size}-byte archive (a zip bomb?); save the checkpoint uncompressed, as torch.save does`);
        }
      }
      this.entries.set(e.name, e);
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** Absolute file offset of an entry's (possibly compressed) data. */
  dataOffset(name: string): number {
    let at = this.dataOffsets.get(name);
    if (at !== undefined) return at;
    const e = this.entry(name);
    const h = view(this.file.read(e.localHeaderOffset, 30, `zip entry '${name}'`));
    if (h.getUint32(0, true) !== SIG_LOCAL) throw new CheckpointError(this.file.path, `corrupt zip: bad local header for '${name}'`);
    at = e.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
    if (at + e.compressedSize > this.file.size) throw new CheckpointError(this.file.path, `truncated: zip entry '${name}' needs bytes up to ${at + e.compressedSize}, file has ${this.file.size}`);
    this.dataOffsets.set(name, at);
    return at;
  }

  entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(this.file.path, `zip entry '${name}' is missing`);
    return e;
  }

  /**
   * Bytes from `start` within an entry's uncompressed data, into `into` (or a new array of
   * `length`). Stored entries are read in place; deflated ones (rare for torch) are inflated whole.
   */
  readRange(name: string, start: number, length: number, into: Uint8Array = new Uint8Array(length)): Uint8Array {
    const e = this.entry(name);
    if (into.length !== length) throw new RangeError('readRange: target length differs');
    if (start + length > e.size) throw new CheckpointError(this.file.path, `zip entry '${name}' has ${e.size} bytes, needed ${start + length}`);
    const at = this.dataOffset(name);
    if (e.method === METHOD_STORED) return this.file.readInto(into, at + start, `zip entry '${name}'`);
    if (e.method === METHOD_DEFLATED) {
      into.set(this.inflate(e, at).subarray(start, start + length));
      return into;
    }
    throw new CheckpointError(this.file.path, `zip entry '${name}' uses unsupported compression method ${e.method}`);
  }

  /** Inflate an entry once, to at most its declared size, and check the size and crc. */
  private inflate(e: ZipEntry, at: number): Uint8Array {
    let out = this.inflated.get(e.name);
    if (out) return out;
    const path = this.file.path;
    try {
      out = inflateRawSync(this.file.read(at, e.compressedSize, `zip entry '${e.name}'`), { maxOutputLength: Math.max(1, e.size) });
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError(path, `zip entry '${e.name}' does not inflate to its declared ${e.size} bytes (${(err as Error).message})`);
    }
    if (out.length !== e.size) throw new CheckpointError(path, `zip entry '${e.name}' inflates to ${out.length} bytes, declared ${e.size}`);
    if (crc32(out) !== e.crc) throw new CheckpointError(path, `zip entry '${e.name}' fails its crc32 check (corrupt)`);
    this.inflated.set(e.name, out);
    return out;
  }

  readAll(name: string): Uint8Array {
    return this.readRange(name, 0, this.entry(name).size);
  }
}

export function crc32(bytes: Uint8Array, previous = 0): number {
  return zlibCrc32(bytes, previous) >>> 0;
}

/** Streaming writer of stored entries; zip64 records appear only when sizes or offsets need them. */
export class ZipWriter {
  private readonly file: AtomicFile;
  private readonly sink: FileSink;
  private readonly central: Uint8Array[] = [];
  private count = 0;

  /** Writes to a temp file beside `path`, renamed over it by `finish()`; `abort()` removes it. */
  constructor(readonly path: string, private readonly alignment = 64) {
    this.file = new AtomicFile(path);
    this.sink = new FileSink(this.file);
  }

  /** Add one entry; `parts` are concatenated (so a tensor is written without copying it). */
  add(name: string, parts: Uint8Array[]): void {
    const nameBytes = new TextEncoder().encode(name);
    let size = 0, crc = 0;
    for (const p of parts) { size += p.length; crc = crc32(p, crc); }
    const offset = this.sink.position;
    const big = size >= U32_MAX;
    const zip64Local = big ? 20 : 0;
    // Pad with an extra field so the data starts aligned (torch mmaps storages).
    const unpadded = offset + 30 + nameBytes.length + zip64Local;
    let pad = (this.alignment - (unpadded % this.alignment)) % this.alignment;
    if (pad > 0 && pad < 4) pad += this.alignment;
    const local = new Uint8Array(30 + nameBytes.length + zip64Local + pad);
    const lv = view(local);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint16(8, METHOD_STORED, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? U32_MAX : size, true);
    lv.setUint32(22, big ? U32_MAX : size, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, zip64Local + pad, true);
    local.set(nameBytes, 30);
    let x = 30 + nameBytes.length;
    if (big) {
      lv.setUint16(x, 1, true); lv.setUint16(x + 2, 16, true);
      lv.setBigUint64(x + 4, BigInt(size), true); lv.setBigUint64(x + 12, BigInt(size), true);
      x += 20;
    }
    if (pad) { lv.setUint16(x, 0x4246, true); lv.setUint16(x + 2, pad - 4, true); } // 'FB' padding field, as torch writes
    this.sink.write(local);
    for (const p of parts) this.sink.write(p);

    const z64: bigint[] = [];
    if (big) z64.push(BigInt(size), BigInt(size));
    if (offset >= U32_MAX) z64.push(BigInt(offset));
    const extraLen = z64.length ? 4 + 8 * z64.length : 0;
    const c = new Uint8Array(46 + nameBytes.length + extraLen);
    const cv = view(c);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, z64.length ? 45 : 20, true);
    cv.setUint16(6, z64.length ? 45 : 20, true);
    cv.setUint16(10, METHOD_STORED, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? U32_MAX : size, true);
    cv.setUint32(24, big ? U32_MAX : size, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, extraLen, true);
    cv.setUint32(42, offset >= U32_MAX ? U32_MAX : offset, true);
    c.set(nameBytes, 46);
    if (z64.length) {
      const at = 46 + nameBytes.length;
      cv.setUint16(at, 1, true); cv.setUint16(at + 2, 8 * z64.length, true);
      z64.forEach((v, i) => cv.setBigUint64(at + 4 + 8 * i, v, true));
    }
    this.central.push(c);
    this.count++;
  }

  finish(): void {
    const cdOffset = this.sink.position;
    for (const c of this.central) this.sink.write(c);
    const cdSize = this.sink.position - cdOffset;
    const need64 = this.count >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
    if (need64) {
      const eocd64At = this.sink.position;
      const r = new Uint8Array(56 + 20);
      const rv = view(r);
      rv.setUint32(0, SIG_EOCD64, true);
      rv.setBigUint64(4, 44n, true);
      rv.setUint16(12, 45, true); rv.setUint16(14, 45, true);
      rv.setBigUint64(24, BigInt(this.count), true); rv.setBigUint64(32, BigInt(this.count), true);
      rv.setBigUint64(40, BigInt(cdSize), true); rv.setBigUint64(48, BigInt(cdOffset), true);
      rv.setUint32(56, SIG_LOCATOR64, true);
      rv.setBigUint64(56 + 8, BigInt(eocd64At), true);
      rv.setUint32(56 + 16, 1, true);
      this.sink.write(r);
    }
    const e = new Uint8Array(22);
    const ev = view(e);
    ev.setUint32(0, SIG_EOCD, true);
    ev.setUint16(8, Math.min(this.count, U16_MAX), true);
    ev.setUint16(10, Math.min(this.count, U16_MAX), true);
    ev.setUint32(12, Math.min(cdSize, U32_MAX), true);
    ev.setUint32(16, Math.min(cdOffset, U32_MAX), true);
    this.sink.write(e);
    this.sink.flush();
    this.file.commit();
  }

  abort(): void {
    this.file.abort();
  }
}
