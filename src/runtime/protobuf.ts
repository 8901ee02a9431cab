/**
 * A minimal protobuf writer for ONNX messages. Large payloads (weights) are kept as references to
 * their buffers and only copied once, when the final bytes are assembled or streamed to a file.
 */
export class ProtoWriter {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private scratch: number[] = [];

  private flushScratch(): void {
    if (this.scratch.length) {
      const b = Uint8Array.from(this.scratch);
      this.parts.push(b);
      this.length += b.length;
      this.scratch = [];
    }
  }

  private varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let x = v;
      while (x > 0x7f) { this.scratch.push((x & 0x7f) | 0x80); x >>>= 7; }
      this.scratch.push(x);
      return;
    }
    while (n > 0x7fn) { this.scratch.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
    this.scratch.push(Number(n));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length < 64) this.scratch.push(...data);
    else { this.flushScratch(); this.parts.push(data); this.length += data.length; }
    return this;
  }

  message(field: number, m: ProtoWriter): this {
    m.flushScratch();
    this.tag(field, 2);
    this.varint(m.length);
    this.flushScratch();
    for (const p of m.parts) this.parts.push(p);
    this.length += m.length;
    return this;
  }

  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.message(field, inner);
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  finish(): Uint8Array[] {
    this.flushScratch();
    return this.parts;
  }

  toBytes(): Uint8Array {
    const parts = this.finish();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
}
