/**
 * Minimal protocol-buffer wire format: enough to read TensorFlow's BundleEntryProto /
 * BundleHeaderProto and ONNX's ModelProto initializers, and to write the TF ones. Field numbers
 * live with the formats that use them.
 */
export const WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5;

export class ProtoReader {
  pos: number;
  readonly end: number;
  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Unsigned varint as a number; exact below 2^53 (sizes, offsets, enums, dims). */
  varint(): number {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      if (shift > 63) throw new Error('protobuf: varint too long');
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  }

  /** Varint as a signed 64-bit BigInt (int64 fields holding tensor values). */
  varintBig(): bigint {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      if (shift > 63n) throw new Error('protobuf: varint too long');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asIntN(64, v);
    }
  }

  /** int32 fields: negatives are sign-extended to 10-byte varints. */
  int32(): number {
    return Number(BigInt.asIntN(32, this.varintBig()));
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw new Error('protobuf: truncated fixed32');
    const b = this.buf, p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** Field number and wire type of the next field. */
  tag(): [field: number, wire: number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  /** A length-delimited field: returns [start, end) within `buf`. */
  lengthDelimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error(`protobuf: field of ${len} bytes runs past the end of its message`);
    this.pos += len;
    return [start, start + len];
  }

  bytes(): Uint8Array {
    const [s, e] = this.lengthDelimited();
    return this.buf.subarray(s, e);
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.varint();
    else if (wire === WIRE_I64) this.pos += 8;
    else if (wire === WIRE_LEN) this.lengthDelimited();
    else if (wire === WIRE_I32) this.pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
    if (this.pos > this.end) throw new Error('protobuf: truncated field');
  }
}

export class ProtoWriter {
  private chunks: number[] = [];

  varint(v: number | bigint): this {
    if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) {
      // Fast path for sizes, offsets and dims (BigInt arithmetic is ~50x slower).
      for (; v >= 0x80; v = Math.floor(v / 0x80)) this.chunks.push((v % 0x80) | 0x80);
      this.chunks.push(v);
      return this;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
    return this;
  }

  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  varintField(field: number, v: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(v);
  }

  fixed32Field(field: number, v: number): this {
    this.tag(field, WIRE_I32);
    for (let i = 0; i < 4; i++) this.chunks.push((v >>> (8 * i)) & 0xff);
    return this;
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, WIRE_LEN).varint(bytes.length);
    for (const b of bytes) this.chunks.push(b);
    return this;
  }

  messageField(field: number, message: ProtoWriter): this {
    return this.bytesField(field, message.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}
