/**
 * TSV and JSONL readers: whole files (`readTsv`, `readJsonl`) or streamed line by line
 * (`streamTsv`, `streamJsonl`), with the same rules both ways. Lines end at '\n' (a '\r' before it
 * is dropped), a leading BOM is dropped, empty lines are skipped, and `.gz` files are gunzipped.
 * TSV fields are split at every tab, unquoted, as bert4keras's loaders do with `l.split('\t')`.
 * Every error is a DataError naming the file and the 1-based line.
 */
import { createReadStream, readFileSync, closeSync } from '../util/node/fs.ts';
import { gunzipSync, createGunzip } from '../util/node/zlib.ts';
import { openRegularFile } from '../util/files.ts';

export class DataError extends Error {
  constructor(message: string, readonly where: { file?: string; line?: number } = {}) {
    super(`${where.file ? `${where.file}${where.line ? `:${where.line}` : ''}: ` : ''}${message}`);
    this.name = 'DataError';
  }
}

/** `header: true`: the first line names the columns and rows are records; else rows are arrays. */
export type TsvOptions = { header: true; columns?: readonly string[] } | { header?: false; columns?: readonly number[] };
export type TsvRow<O extends TsvOptions> = O extends { header: true } ? Record<string, string> : string[];

/** Turns numbered lines into rows; the first line may be the header. */
function tsvRows(file: string, options: TsvOptions) {
  let pick: number[] | undefined = options.header ? undefined : options.columns?.slice();
  let names: string[] | undefined, width: number | undefined;
  return (line: string, n: number): string[] | Record<string, string> | undefined => {
    const fields = line.split('\t');
    if (options.header && !names) {
      names = options.columns ? options.columns.slice() : fields;
      pick = names.map((c) => {
        const i = fields.indexOf(c);
        if (i < 0) throw new DataError(`the header has no column '${c}' (columns: ${fields.join(', ')})`, { file, line: n });
        return i;
      });
      width = fields.length;
      return undefined;
    }
    if (width !== undefined && fields.length !== width) {
      throw new DataError(`${fields.length} column(s) where the ${options.header ? 'header has' : 'first row had'} ${width}`, { file, line: n });
    }
    width ??= fields.length;
    if (pick) {
      const missing = pick.find((i) => i >= fields.length);
      if (missing !== undefined) throw new DataError(`no column ${missing} (the line has ${fields.length})`, { file, line: n });
      if (!names) return pick.map((i) => fields[i]!);
      return Object.fromEntries(names.map((c, k) => [c, fields[pick![k]!]!]));
    }
    return fields;
  };
}

function jsonRow(file: string) {
  return (line: string, n: number): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`invalid JSON: ${(e as Error).message}`, { file, line: n });
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new DataError(`expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`, { file, line: n });
    return v as Record<string, unknown>;
  };
}

/** One raw line without its '\r' (and the BOM on line 1). */
function clean(raw: string, n: number): string {
  const line = n === 1 && raw.startsWith('\uFEFF') ? raw.slice(1) : raw;
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Numbered non-empty lines of a whole text. */
function* lines(text: string): Generator<[string, number]> {
  const all = text.split('\n');
  for (let i = 0; i < all.length; i++) {
    const line = clean(all[i]!, i + 1);
    if (line) yield [line, i + 1];
  }
}

function readText(file: string): string {
  const fd = openRegularFile(file); // refuses FIFOs and devices instead of hanging on them
  try {
    const bytes = readFileSync(fd);
    return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Numbered non-empty lines of a file, read in chunks. */
async function* streamLines(file: string): AsyncGenerator<[string, number]> {
  const fd = openRegularFile(file);
  const raw = createReadStream('', { fd });
  const stream = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  stream.setEncoding('utf8');
  let rest = '', n = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      for (const part of parts) {
        const line = clean(part, ++n);
        if (line) yield [line, n];
      }
    }
    const line = clean(rest, ++n);
    if (line) yield [line, n];
  } catch (e) {
    throw e instanceof DataError ? e : new DataError(`cannot read: ${(e as Error).message}`, { file });
  } finally {
    raw.destroy();
  }
}

export function readTsv<O extends TsvOptions>(file: string, options?: O): TsvRow<O>[] {
  const parse = tsvRows(file, options ?? {});
  const rows: TsvRow<O>[] = [];
  for (const [line, n] of lines(readText(file))) {
    const row = parse(line, n);
    if (row) rows.push(row as TsvRow<O>);
  }
  return rows;
}

export async function* streamTsv<O extends TsvOptions>(file: string, options?: O): AsyncGenerator<TsvRow<O>> {
  const parse = tsvRows(file, options ?? {});
  for await (const [line, n] of streamLines(file)) {
    const row = parse(line, n);
    if (row) yield row as TsvRow<O>;
  }
}

/** One JSON object per line. The type parameter is the caller's claim about each object's shape. */
export function readJsonl<T extends object = Record<string, unknown>>(file: string): T[] {
  const parse = jsonRow(file);
  return [...lines(readText(file))].map(([line, n]) => parse(line, n) as T);
}

export async function* streamJsonl<T extends object = Record<string, unknown>>(file: string): AsyncGenerator<T> {
  const parse = jsonRow(file);
  for await (const [line, n] of streamLines(file)) yield parse(line, n) as T;
}
