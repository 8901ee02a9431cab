/**
 * LevelDB-style SSTable, the container of a TensorFlow checkpoint's `.index` file
 * (tensorflow/tsl/lib/io/table_builder.cc, format.cc, block_builder.cc):
 *
 *   data block* | metaindex block | index block | footer (48 bytes)
 *   block   = entries, restarts: uint32[], num_restarts: uint32, then a 5-byte trailer
 *             (compression type: 0 none / 1 snappy, masked crc32c of contents + type byte)
 *   entry   = varint shared, varint non_shared, varint value_length, key[shared:], value
 *   index   = one entry per data block: key >= every key in that block, value = BlockHandle
 *   footer  = metaindex BlockHandle, index BlockHandle, zero padding to 40 bytes, magic (8 bytes LE)
 *   BlockHandle = varint64 offset, varint64 size (size excludes the trailer)
 */
import { crc32c, maskCrc, unmaskCrc } from './crc32c.ts';
import { ProtoReader, ProtoWriter } from './protobuf.ts';
import { snappyUncompress } from './snappy.ts';

const MAGIC_LO = 0x8b80fb57, MAGIC_HI = 0xdb477524; // kTableMagicNumber 0xdb4775248b80fb57
const FOOTER_SIZE = 48;
const TRAILER_SIZE = 5;

export interface SSTableEntry { key: Uint8Array; value: Uint8Array }

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** Parse a whole SSTable held in memory (index files are small: ~100 bytes per tensor). */
export function readSSTable(file: Uint8Array): { entries: SSTableEntry[]; compressedBlocks: number } {
  if (file.length < FOOTER_SIZE) throw new Error(`too short for an SSTable (${file.length} bytes)`);
  const footer = file.subarray(file.length - FOOTER_SIZE);
  if (u32(footer, 40) !== MAGIC_LO || u32(footer, 44) !== MAGIC_HI) throw new Error('not an SSTable: bad magic number in the footer (truncated or not a TF checkpoint index)');
  const r = new ProtoReader(footer, 0, 40);
  r.varint(); r.varint(); // metaindex handle: TF stores nothing there
  const indexHandle = { offset: r.varint(), size: r.varint() };
  let compressedBlocks = 0;
  const readBlock = (h: { offset: number; size: number }, what: string): Uint8Array => {
    if (!Number.isSafeInteger(h.offset) || !Number.isSafeInteger(h.size) || h.offset + h.size + TRAILER_SIZE > file.length - FOOTER_SIZE) throw new Error(`${what} at ${h.offset}+${h.size} runs past the end (truncated?)`);
    const contents = file.subarray(h.offset, h.offset + h.size);
    const type = file[h.offset + h.size]!;
    const stored = u32(file, h.offset + h.size + 1);
    const actual = crc32c(file.subarray(h.offset, h.offset + h.size + 1));
    if (unmaskCrc(stored) !== actual) throw new Error(`${what} at offset ${h.offset} fails its crc32c check (corrupt)`);
    if (type === 0) return contents;
    if (type === 1) {
      compressedBlocks++;
      return snappyUncompress(contents);
    }
    throw new Error(`${what} at offset ${h.offset} has unknown compression type ${type}`);
  };
  const entries: SSTableEntry[] = [];
  // Prefix compression lets each key repeat the previous one plus a byte, so key bytes could grow
  // quadratically in the file size: cap their total.
  const budget = { keyBytes: 16 * file.length + (1 << 20) };
  let blockEnd = 0;
  for (const idx of blockEntries(readBlock(indexHandle, 'index block'), 'index block', budget)) {
    const hr = new ProtoReader(idx.value);
    const handle = { offset: hr.varint(), size: hr.varint() };
    // Data blocks come in file order without overlaps, so no block is read (or inflated) twice.
    if (handle.offset < blockEnd) throw new Error(`data block at ${handle.offset} overlaps the previous one (corrupt index)`);
    blockEnd = handle.offset + handle.size + TRAILER_SIZE;
    for (const e of blockEntries(readBlock(handle, 'data block'), 'data block', budget)) {
      const prev = entries[entries.length - 1];
      if (prev && compareBytes(prev.key, e.key) >= 0) throw new Error('SSTable keys are not in increasing order (corrupt index)');
      entries.push(e);
    }
  }
  return { entries, compressedBlocks };
}

function blockEntries(block: Uint8Array, what: string, budget: { keyBytes: number }): SSTableEntry[] {
  if (block.length < 4) throw new Error(`${what} is too short`);
  const numRestarts = u32(block, block.length - 4);
  const limit = block.length - 4 - 4 * numRestarts;
  if (limit < 0) throw new Error(`${what} has a bad restart count ${numRestarts}`);
  const out: SSTableEntry[] = [];
  const r = new ProtoReader(block, 0, limit);
  let prev = new Uint8Array(0);
  while (!r.done) {
    const shared = r.varint(), nonShared = r.varint(), valueLength = r.varint();
    if (shared > prev.length || r.pos + nonShared + valueLength > limit) throw new Error(`${what} has a corrupt entry at ${r.pos}`);
    if ((budget.keyBytes -= shared + nonShared) < 0) throw new Error(`${what}: keys add up to far more bytes than the file holds (corrupt prefix compression)`);
    const key = new Uint8Array(shared + nonShared);
    key.set(prev.subarray(0, shared));
    key.set(block.subarray(r.pos, r.pos + nonShared), shared);
    r.pos += nonShared;
    out.push({ key, value: block.subarray(r.pos, r.pos + valueLength) });
    r.pos += valueLength;
    prev = key;
  }
  return out;
}

/** LevelDB BytewiseComparator::FindShortestSeparator: a short key k with start <= k < limit. */
function shortestSeparator(start: Uint8Array, limit: Uint8Array): Uint8Array {
  let i = 0;
  const n = Math.min(start.length, limit.length);
  while (i < n && start[i] === limit[i]) i++;
  if (i < n) {
    const b = start[i]!;
    if (b < 0xff && b + 1 < limit[i]!) {
      const k = start.slice(0, i + 1);
      k[i] = b + 1;
      return k;
    }
  }
  return start;
}

/** LevelDB BytewiseComparator::FindShortSuccessor: a short key >= `key`. */
function shortSuccessor(key: Uint8Array): Uint8Array {
  for (let i = 0; i < key.length; i++) {
    if (key[i] !== 0xff) {
      const k = key.slice(0, i + 1);
      k[i]! += 1;
      return k;
    }
  }
  return key;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

class BlockBuilder {
  private chunks: Uint8Array[] = [];
  private restarts: number[] = [0];
  private size = 0;
  private count = 0;
  private last: Uint8Array = new Uint8Array(0);
  constructor(private readonly restartInterval: number) {}

  get empty(): boolean {
    return this.size === 0;
  }
  get estimatedSize(): number {
    return this.size + 4 * (this.restarts.length + 1);
  }
  get lastKey(): Uint8Array {
    return this.last;
  }

  add(key: Uint8Array, value: Uint8Array): void {
    let shared = 0;
    if (this.count < this.restartInterval) {
      while (shared < Math.min(key.length, this.last.length) && key[shared] === this.last[shared]) shared++;
    } else {
      this.restarts.push(this.size);
      this.count = 0;
    }
    const entry = new ProtoWriter().varint(shared).varint(key.length - shared).varint(value.length).finish();
    const bytes = new Uint8Array(entry.length + key.length - shared + value.length);
    bytes.set(entry);
    bytes.set(key.subarray(shared), entry.length);
    bytes.set(value, entry.length + key.length - shared);
    this.chunks.push(bytes);
    this.size += bytes.length;
    this.count++;
    this.last = key;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.estimatedSize);
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    const dv = new DataView(out.buffer);
    for (const r of this.restarts) { dv.setUint32(at, r, true); at += 4; }
    dv.setUint32(at, this.restarts.length, true);
    return out;
  }
}

/**
 * Build an SSTable from entries already sorted by key (bytewise), uncompressed. Defaults follow
 * TF's table::Options: 256 KB blocks, a restart point every 16 keys, every key in the index block.
 */
export function buildSSTable(entries: Iterable<SSTableEntry>, options: { blockSize?: number; restartInterval?: number } = {}): Uint8Array {
  const blockSize = options.blockSize ?? 262144;
  const restartInterval = options.restartInterval ?? 16;
  const parts: Uint8Array[] = [];
  let offset = 0;
  const emit = (contents: Uint8Array): { offset: number; size: number } => {
    const withTrailer = new Uint8Array(contents.length + TRAILER_SIZE);
    withTrailer.set(contents);
    withTrailer[contents.length] = 0; // no compression
    const crc = maskCrc(crc32c(withTrailer.subarray(0, contents.length + 1)));
    new DataView(withTrailer.buffer).setUint32(contents.length + 1, crc, true);
    const handle = { offset, size: contents.length };
    parts.push(withTrailer);
    offset += withTrailer.length;
    return handle;
  };
  const handleBytes = (h: { offset: number; size: number }) => new ProtoWriter().varint(h.offset).varint(h.size).finish();
  const index = new BlockBuilder(1);
  let block = new BlockBuilder(restartInterval);
  let prev: Uint8Array | undefined;
  // As LevelDB does: a finished block's index entry waits for the next key, so its key can be a
  // short separator between the two blocks (the last block gets a short successor instead).
  let pending: { lastKey: Uint8Array; handle: Uint8Array } | undefined;
  for (const { key, value } of entries) {
    if (prev && compareBytes(prev, key) >= 0) throw new Error('SSTable keys must be added in strictly increasing order');
    prev = key;
    if (pending) {
      index.add(shortestSeparator(pending.lastKey, key), pending.handle);
      pending = undefined;
    }
    block.add(key, value);
    if (block.estimatedSize >= blockSize) {
      pending = { lastKey: block.lastKey, handle: handleBytes(emit(block.finish())) };
      block = new BlockBuilder(restartInterval);
    }
  }
  if (!block.empty) pending = { lastKey: block.lastKey, handle: handleBytes(emit(block.finish())) };
  const metaindex = emit(new BlockBuilder(restartInterval).finish());
  if (pending) index.add(shortSuccessor(pending.lastKey), pending.handle);
  const indexHandle = emit(index.finish());
  const footer = new Uint8Array(FOOTER_SIZE);
  const handles = new ProtoWriter().varint(metaindex.offset).varint(metaindex.size).varint(indexHandle.offset).varint(indexHandle.size).finish();
  footer.set(handles);
  const dv = new DataView(footer.buffer);
  dv.setUint32(40, MAGIC_LO, true);
  dv.setUint32(44, MAGIC_HI, true);
  parts.push(footer);
  const out = new Uint8Array(offset + FOOTER_SIZE);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}
