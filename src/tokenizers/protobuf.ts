/**
 * Just enough protobuf to read a SentencePiece `.model` (ModelProto): varints, length-delimited
 * fields, fixed32 floats. Unknown fields are skipped, as protobuf requires; a truncated or
 * malformed buffer throws with the byte position.
 */
import { TokenizerError } from './types.ts';

export const enum Wire { Varint = 0, Fixed64 = 1, Bytes = 2, Fixed32 = 5 }

export interface Field {
  field: number;
  wire: number;
  /** Varint value (low 32 bits, as unsigned) or the float of a fixed32 field. */
  value: number;
  /** For length-delimited fields: the payload's [start, end) in the buffer. */
  start: number;
  end: number;
}

export function* readFields(buf: Uint8Array, start: number, end: number, what: string): Generator<Field> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = start;
  const fail = (why: string): never => { throw new TokenizerError(`corrupt ${what}: ${why} at byte ${pos}`); };
  let wide = false; // the last varint had bits above the low 32
  const varint = (): number => {
    let lo = 0, shift = 0, b: number;
    wide = false;
    do {
      if (pos >= end) fail('truncated varint');
      if (shift >= 70) fail('varint longer than 10 bytes');
      b = buf[pos++]!;
      if (shift < 32) lo |= (b & 0x7f) << shift;
      if ((shift === 28 && b & 0x70) || (shift > 28 && b & 0x7f)) wide = true;
      shift += 7;
    } while (b & 0x80);
    return lo >>> 0;
  };
  while (pos < end) {
    const key = varint();
    if (wide) fail('field key over 32 bits');
    const field = key >>> 3, wire = key & 7;
    if (field === 0) fail('field number 0');
    if (wire === Wire.Varint) {
      yield { field, wire, value: varint(), start: 0, end: 0 };
    } else if (wire === Wire.Bytes) {
      const len = varint();
      // Checked before anything is sliced or allocated: a declared length can never exceed the buffer.
      if (wide || pos + len > end) fail(`length ${len} runs past the end of the message`);
      yield { field, wire, value: len, start: pos, end: pos + len };
      pos += len;
    } else if (wire === Wire.Fixed32) {
      if (pos + 4 > end) fail('truncated fixed32');
      yield { field, wire, value: view.getFloat32(pos, true), start: pos, end: pos + 4 };
      pos += 4;
    } else if (wire === Wire.Fixed64) {
      if (pos + 8 > end) fail('truncated fixed64');
      pos += 8;
    } else {
      fail(`unsupported wire type ${wire} (field ${field})`);
    }
  }
}

/** Reinterprets an unsigned varint's low 32 bits as int32 (protobuf int32 fields such as -1). */
export const int32 = (v: number): number => v | 0;
