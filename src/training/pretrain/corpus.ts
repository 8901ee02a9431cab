/**
 * Pretraining text sources: files or folders of TXT, JSONL or TSV (plain, `.gz`, or a member of a
 * `.zip`), each read into documents. A source is written `FORMAT:PATH[#MEMBER][@SPEC]`:
 *
 *   txt:DIR[@blank|line]           one document per blank-line-separated block (default) or per line
 *   jsonl:FILE.jsonl.gz[@f1,f2]    the named fields of each object (a string or an array of strings,
 *                                  joined by newlines); default: every string / string-array field
 *   tsv:FILE.zip#a/b.data[@0,1]    the given 0-based columns of each line (default: all), joined by newlines
 *
 * A folder is read recursively (dot files skipped, names sorted), every file in the source's format.
 */
import { closeSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RandomAccessFile } from '../../checkpoint/io.ts';
import { ZipReader } from '../../checkpoint/zip.ts';
import { FileError, openRegularFile } from '../../util/files.ts';

export type SourceFormat = 'txt' | 'jsonl' | 'tsv';

export interface CorpusSource {
  format: SourceFormat;
  path: string;
  /** The member of a `.zip` archive to read (default: every member that is a file). */
  member?: string;
  /** txt: 'blank' (default) splits documents at blank lines, 'line' makes each line a document. */
  split?: 'blank' | 'line';
  /** jsonl: fields to take (default: every string or string-array field). */
  fields?: string[];
  /** tsv: 0-based columns to take (default: all). */
  columns?: number[];
}

export interface Document {
  text: string;
  /** Where it came from, e.g. `train.tsv:12`. */
  source: string;
}

export class CorpusError extends Error {
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'CorpusError';
  }
}

/** Parses `FORMAT:PATH[#MEMBER][@SPEC]` (see the header). */
export function parseSource(spec: string): CorpusSource {
  const m = /^(txt|jsonl|tsv):([^#@]+)(?:#([^@]+))?(?:@(.*))?$/.exec(spec);
  if (!m) throw new CorpusError(spec, 'a source is FORMAT:PATH[#MEMBER][@SPEC] with FORMAT txt, jsonl or tsv (e.g. tsv:train.tsv@0,1, jsonl:poems.jsonl.gz@title,paragraphs, txt:dir@line)');
  const [, format, path, member, rest] = m as unknown as [string, SourceFormat, string, string | undefined, string | undefined];
  const src: CorpusSource = { format, path, ...(member ? { member } : {}) };
  if (rest === undefined || rest === '') return src;
  if (format === 'txt') {
    if (rest !== 'blank' && rest !== 'line') throw new CorpusError(spec, `txt takes @blank or @line, got @${rest}`);
    src.split = rest;
  } else if (format === 'jsonl') {
    src.fields = rest.split(',').map((s) => s.trim()).filter(Boolean);
  } else {
    src.columns = rest.split(',').map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 0) throw new CorpusError(spec, `tsv columns are 0-based integers, got '${s}'`);
      return n;
    });
  }
  return src;
}

function readRegular(path: string): Buffer {
  const fd = openRegularFile(path);
  try {
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The files of a source: [name, bytes], gzip inflated. */
function* files(src: CorpusSource): Generator<[string, Uint8Array]> {
  const unzipGz = (name: string, b: Uint8Array) => (name.endsWith('.gz') ? gunzipSync(b) : b);
  let st;
  try {
    st = statSync(src.path);
  } catch (e) {
    throw new FileError(src.path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (st.isDirectory()) {
    const walk = function* (dir: string): Generator<string> {
      for (const name of readdirSync(dir).sort()) {
        if (name.startsWith('.')) continue;
        const p = join(dir, name);
        if (statSync(p).isDirectory()) yield* walk(p);
        else yield p;
      }
    };
    for (const p of walk(src.path)) yield [p, unzipGz(p, readRegular(p))];
  } else if (src.path.endsWith('.zip')) {
    const zip = new ZipReader(new RandomAccessFile(src.path));
    try {
      const names = [...zip.entries.keys()].filter((n) => !n.endsWith('/') && (!src.member || n === src.member)).sort();
      if (src.member && !names.length) throw new CorpusError(src.path, `no member '${src.member}' (members: ${[...zip.entries.keys()].join(', ')})`);
      for (const n of names) yield [`${src.path}#${n}`, unzipGz(n, zip.readAll(n))];
    } finally {
      zip.file.close();
    }
  } else {
    if (src.member) throw new CorpusError(src.path, `#${src.member}: only a .zip has members`);
    yield [src.path, unzipGz(src.path, readRegular(src.path))];
  }
}

/** Text of a JSON value for a document: strings, and arrays of strings (joined by newlines). */
function fieldText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join('\n');
  return undefined;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Every document of a source, in file order. Empty documents are skipped. */
export function* readDocuments(src: CorpusSource): Generator<Document> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for (const [name, bytes] of files(src)) {
    // Lone surrogates become U+FFFD as jieba (UTF-8) would see them, so offsets line up.
    const text = decoder.decode(bytes).replace(/\r\n?/g, '\n').replace(LONE_SURROGATE, '\uFFFD');
    if (src.format === 'txt' && (src.split ?? 'blank') === 'blank') {
      let line = 1;
      for (const block of text.split(/\n[ \t]*\n/)) {
        const t = block.trim();
        if (t) yield { text: t, source: `${name}:${line}` };
        line += block.split('\n').length + 1;
      }
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!;
      if (!raw.trim()) continue;
      const where = `${name}:${i + 1}`;
      let t: string;
      if (src.format === 'txt') t = raw.trim();
      else if (src.format === 'tsv') {
        const cols: string[] = raw.split('\t');
        const take = src.columns ?? cols.map((_, j) => j);
        for (const c of take) if (c >= cols.length) throw new CorpusError(where, `has ${cols.length} columns, no column ${c}`);
        t = take.map((c) => cols[c]!.trim()).filter(Boolean).join('\n');
      } else {
        let obj: unknown;
        try {
          obj = JSON.parse(raw);
        } catch (e) {
          throw new CorpusError(where, `not valid JSON: ${(e as Error).message}`);
        }
        if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new CorpusError(where, 'each JSONL line must be an object');
        const rec = obj as Record<string, unknown>;
        const parts = src.fields
          ? src.fields.map((f) => {
            if (!Object.hasOwn(rec, f)) throw new CorpusError(where, `no field '${f}' (fields: ${Object.keys(rec).join(', ')})`);
            const s = fieldText(rec[f]);
            if (s === undefined) throw new CorpusError(where, `field '${f}' is not a string or an array of strings`);
            return s;
          })
          : Object.values(rec).map(fieldText).filter((s): s is string => s !== undefined);
        t = parts.map((s) => s.trim()).filter(Boolean).join('\n');
      }
      if (t) yield { text: t, source: where };
    }
  }
}

/** FNV-1a (32-bit) of a string: the held-out split is by document text, so duplicates land together. */
export function hashText(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Whether a document is in the held-out slice: `permille` of 1000 hash buckets. */
export function isHeldOut(text: string, permille: number): boolean {
  return hashText(text) % 1000 < permille;
}
