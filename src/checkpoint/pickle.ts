/**
 * A minimal pickle virtual machine: the opcodes torch.save emits (protocol 2, and protocol 4's
 * framing/memoize/STACK_GLOBAL for good measure). Nothing is executed: globals become markers and
 * calls go to a table the caller provides (`resolve`); anything else stays an inert PyCall object.
 */
import { getHeapStatistics } from '../util/node/v8.ts';

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A call (REDUCE / NEWOBJ) the resolver did not turn into a value. */
export class PyCall {
  state: unknown;
  constructor(readonly func: unknown, readonly args: unknown[]) {}
}

/** A Python dict (keeps insertion order and non-string keys). */
export class PyDict extends Map<unknown, unknown> {
  state: unknown;
}

export interface PickleHooks {
  /** BINPERSID / PERSID: torch stores storages as persistent ids. */
  persistentLoad(pid: unknown): unknown;
  /** Turn a call of a known global into a value; return undefined to keep a PyCall. */
  call?(fn: PyGlobal, args: unknown[]): unknown;
}

const MARK = Symbol('mark');

/** The pickle ran past the end of the bytes given: a truncated file, or read more and retry. */
export class PickleTruncatedError extends Error {}

export function unpickle(data: Uint8Array, hooks: PickleHooks): unknown {
  return unpickleAt(data, 0, hooks).value;
}

/** Unpickle the pickle starting at `start`; also returns where it ended (files may hold several). */
export function unpickleAt(data: Uint8Array, start: number, hooks: PickleHooks): { value: unknown; end: number } {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder();
  let pos = start;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const need = (n: number) => {
    if (pos + n > data.length) throw new PickleTruncatedError(`pickle: truncated at byte ${pos}`);
  };
  const u8 = () => (need(1), data[pos++]!);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const bytes = (n: number) => {
    // A negative length (BINSTRING is signed) would move `pos` backwards and replay the pickle forever.
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`pickle: bad length ${n} at byte ${pos}`);
    need(n);
    pos += n;
    return data.subarray(pos - n, pos);
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new PickleTruncatedError('pickle: truncated text line');
    const s = decoder.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw new Error(`pickle: stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new Error(`pickle: no MARK at byte ${pos}`);
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = () => stack[stack.length - 1];
  const list = (): unknown[] => {
    const l = top();
    if (!Array.isArray(l)) throw new Error(`pickle: APPEND(S) on a non-list at byte ${pos}`);
    return l;
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b.length && b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    if (!Array.isArray(args)) throw new Error(`pickle: call arguments are not a tuple at byte ${pos}`);
    if (fn instanceof PyGlobal && hooks.call) {
      const v = hooks.call(fn, args);
      if (v !== undefined) return v;
    }
    return new PyCall(fn, args);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw new Error(`pickle: SETITEM(S) on a non-dict at byte ${pos}`);
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };

  for (let ops = 1; ; ops++) {
    // A byte per object (a run of EMPTY_DICT) builds an object graph ~100 times the file: a 30 MB
    // pickle would exhaust the heap and abort the process. Check it now and then, and stop first.
    if ((ops & 0xfff) === 0) {
      const heap = getHeapStatistics();
      if (heap.used_heap_size > 0.7 * heap.heap_size_limit) throw new Error(`pickle: the objects built by byte ${pos} fill the JS heap (${(heap.used_heap_size / 2 ** 20).toFixed(0)} MB): corrupt or hostile file`);
    }
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: bytes(8); break; // FRAME: framing is only a read-ahead hint
      case 0x2e: return { value: pop(), end: pos }; // STOP '.'
      case 0x28: stack.push(MARK); break; // MARK '('
      case 0x29: stack.push([]); break; // EMPTY_TUPLE ')'
      case 0x5d: stack.push([]); break; // EMPTY_LIST ']'
      case 0x7d: stack.push(new PyDict()); break; // EMPTY_DICT '}'
      case 0x74: stack.push(popMark()); break; // TUPLE 't'
      case 0x6c: stack.push(popMark()); break; // LIST 'l'
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x64: { const d = new PyDict(); setItems(d, popMark()); stack.push(d); break; } // DICT 'd'
      case 0x4e: stack.push(null); break; // NONE 'N'
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1 'K'
      case 0x4d: stack.push(u16()); break; // BININT2 'M'
      case 0x4a: stack.push(i32()); break; // BININT 'J'
      case 0x8a: stack.push(longFromBytes(bytes(u8()))); break; // LONG1
      case 0x8b: { // LONG4: checkpoints hold no integers wider than 64 bits; longer ones would cost quadratic time
        const n = u32();
        if (n > 16) throw new Error(`pickle: ${n}-byte integer at byte ${pos} (corrupt?)`);
        stack.push(longFromBytes(bytes(n)));
        break;
      }
      case 0x49: { const s = line(); stack.push(s === '00' ? false : s === '01' ? true : Number(s)); break; } // INT 'I'
      case 0x4c: stack.push(Number(line().replace(/L$/, ''))); break; // LONG 'L'
      case 0x47: need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; // BINFLOAT 'G' (big-endian)
      case 0x46: stack.push(Number(line())); break; // FLOAT 'F'
      case 0x58: stack.push(decoder.decode(bytes(u32()))); break; // BINUNICODE 'X'
      case 0x8c: stack.push(decoder.decode(bytes(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: { need(8); const n = Number(dv.getBigUint64(pos, true)); pos += 8; stack.push(decoder.decode(bytes(n))); break; } // BINUNICODE8
      case 0x55: stack.push(decoder.decode(bytes(u8()))); break; // SHORT_BINSTRING 'U'
      case 0x54: stack.push(decoder.decode(bytes(i32()))); break; // BINSTRING 'T'
      case 0x42: stack.push(bytes(u32())); break; // BINBYTES 'B'
      case 0x43: stack.push(bytes(u8())); break; // SHORT_BINBYTES 'C'
      case 0x71: memo.set(u8(), top()); break; // BINPUT 'q'
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT 'r'
      case 0x70: memo.set(Number(line()), top()); break; // PUT 'p'
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET 'h', LONG_BINGET 'j', GET 'g'
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(k)) throw new Error(`pickle: memo key ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { const module = line(); stack.push(new PyGlobal(module, line())); break; } // GLOBAL 'c'
      case 0x93: { const name = pop(), module = pop(); stack.push(new PyGlobal(String(module), String(name))); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(), fn = pop(); stack.push(call(fn, args as unknown[])); break; } // REDUCE 'R'
      case 0x81: { const args = pop(), cls = pop(); stack.push(call(cls, args as unknown[])); break; } // NEWOBJ
      case 0x51: stack.push(hooks.persistentLoad(pop())); break; // BINPERSID 'Q'
      case 0x50: stack.push(hooks.persistentLoad(line())); break; // PERSID 'P'
      case 0x62: { // BUILD 'b': set state; dicts and inert objects keep it for inspection
        const state = pop(), obj = top();
        if (obj instanceof PyDict || obj instanceof PyCall) obj.state = state;
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM 's'
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS 'u'
      case 0x61: { const v = pop(); list().push(v); break; } // APPEND 'a'
      case 0x65: { const items = popMark(), l = list(); for (const v of items) l.push(v); break; } // APPENDS 'e' (no spread: lists may be long)
      case 0x30: pop(); break; // POP '0'
      case 0x31: popMark(); break; // POP_MARK '1'
      case 0x32: stack.push(top()); break; // DUP '2'
      default:
        throw new Error(`pickle: unsupported opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}

/** Writes the small protocol-2 subset torch.load needs. */
export class PickleWriter {
  private out: number[] = [0x80, 2];
  private readonly encoder = new TextEncoder();

  op(code: number): this {
    this.out.push(code);
    return this;
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  global(module: string, name: string): this {
    this.op(0x63);
    for (const b of this.encoder.encode(`${module}\n${name}\n`)) this.out.push(b);
    return this;
  }
  str(s: string): this {
    const b = this.encoder.encode(s);
    this.op(0x58).u32(b.length);
    for (const x of b) this.out.push(x);
    return this;
  }
  int(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`pickle: ${v} is not a safe integer`);
    if (v >= 0 && v < 256) return this.op(0x4b).op(v);
    if (v >= 0 && v < 65536) return this.op(0x4d).op(v & 0xff).op(v >>> 8);
    if (v >= -(2 ** 31) && v < 2 ** 31) return this.op(0x4a).u32(v >>> 0);
    // LONG1 with 8 bytes, two's complement.
    let x = BigInt.asUintN(64, BigInt(v));
    this.op(0x8a).op(8);
    for (let i = 0; i < 8; i++, x >>= 8n) this.out.push(Number(x & 0xffn));
    return this;
  }
  ints(vs: readonly number[]): this {
    this.mark();
    for (const v of vs) this.int(v);
    return this.tuple();
  }
  private u32(v: number): this {
    for (let i = 0; i < 4; i++) this.out.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  finish(): Uint8Array {
    this.out.push(0x2e);
    return Uint8Array.from(this.out);
  }
}
