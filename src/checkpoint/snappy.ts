/**
 * Snappy block decompression (the raw format, not the framed one), for SSTable blocks that
 * TensorFlow wrote with kSnappyCompression. Format: varint uncompressed length, then elements whose
 * tag's low two bits say literal / copy with 1-, 2- or 4-byte offset.
 */
export function snappyUncompress(input: Uint8Array): Uint8Array {
  let pos = 0;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= input.length || shift > 28) throw new Error('snappy: bad length header');
    const b = input[pos++]!;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  // A 3-byte copy element yields at most 64 bytes: a larger declared length is corrupt, and
  // checking it first keeps a forged header from allocating gigabytes.
  if (length > 22 * input.length) throw new Error(`snappy: header declares ${length} bytes from ${input.length} compressed`);
  const out = new Uint8Array(length);
  let op = 0;
  while (pos < input.length) {
    const tag = input[pos++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = tag >>> 2;
      if (len >= 60) {
        const extra = len - 59;
        if (pos + extra > input.length) throw new Error('snappy: truncated literal length');
        len = 0;
        for (let i = 0; i < extra; i++) len += input[pos + i]! * 2 ** (8 * i);
        pos += extra;
      }
      len += 1;
      if (pos + len > input.length || op + len > length) throw new Error('snappy: literal runs past the end');
      out.set(input.subarray(pos, pos + len), op);
      pos += len;
      op += len;
      continue;
    }
    let len: number, offset: number;
    if (kind === 1) {
      if (pos >= input.length) throw new Error('snappy: truncated copy');
      len = 4 + ((tag >>> 2) & 7);
      offset = ((tag >>> 5) << 8) | input[pos++]!;
    } else if (kind === 2) {
      if (pos + 2 > input.length) throw new Error('snappy: truncated copy');
      len = (tag >>> 2) + 1;
      offset = input[pos]! | (input[pos + 1]! << 8);
      pos += 2;
    } else {
      if (pos + 4 > input.length) throw new Error('snappy: truncated copy');
      len = (tag >>> 2) + 1;
      offset = (input[pos]! | (input[pos + 1]! << 8) | (input[pos + 2]! << 16) | (input[pos + 3]! << 24)) >>> 0;
      pos += 4;
    }
    if (offset === 0 || offset > op || op + len > length) throw new Error(`snappy: bad copy (offset ${offset}, length ${len} at ${op})`);
    // Byte by byte: copies may overlap their own output (run-length style).
    for (let i = 0; i < len; i++, op++) out[op] = out[op - offset]!;
  }
  if (op !== length) throw new Error(`snappy: produced ${op} bytes, header says ${length}`);
  return out;
}
