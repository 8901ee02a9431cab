/** bert4keras's `text_segmentate`, without recursion. */
import { DataError } from './read.ts';

// Python's str.strip() whitespace (str.isspace); JS's trim() differs (it strips U+FEFF, keeps U+001C-U+001F and U+0085).
const PY_SPACE = '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

/** Python's str.strip(chars), by code point. */
function strip(text: string, chars: string): string {
  const cs = [...text], set = new Set(chars);
  let a = 0, b = cs.length;
  while (a < b && set.has(cs[a]!)) a++;
  while (b > a && set.has(cs[b - 1]!)) b--;
  return cs.slice(a, b).join('');
}

/** Python's len(): code points, not UTF-16 units. */
const len = (s: string) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/**
 * Splits `text` into pieces of at most `maxlen` characters, as `text_segmentate(text, maxlen, seps,
 * strips)`: split at the first separator, greedily re-join neighbours while they fit (each piece
 * keeps its separator), and split any piece still too long at the next separator. A piece with no
 * separator left stays longer than maxlen. `seps` is a string of one-character separators (or a
 * list of separators), tried in order; `strips` are characters stripped from both ends of every
 * piece after whitespace.
 */
export function textSegmentate(text: string, maxlen: number, seps: string | readonly string[] = '\n', strips?: string): string[] {
  if (typeof text !== 'string') throw new DataError('textSegmentate: text must be a string');
  if (!Number.isFinite(maxlen)) throw new DataError(`textSegmentate: maxlen must be a number, got ${maxlen}`);
  const sepList = typeof seps === 'string' ? [...seps] : [...seps];
  if (sepList.some((s) => typeof s !== 'string' || s === '')) throw new DataError('textSegmentate: separators must be non-empty strings');
  const out: string[] = [];
  // Depth-first with an explicit stack (pushed in reverse) keeps the recursive version's order.
  const stack: [string, number][] = [[text, 0]];
  while (stack.length) {
    const [raw, depth] = stack.pop()!;
    const t = strip(strip(raw, PY_SPACE), strips ?? PY_SPACE);
    if (depth >= sepList.length || len(t) <= maxlen) {
      out.push(t);
      continue;
    }
    const sep = sepList[depth]!, pieces = t.split(sep), parts: string[] = [];
    let cur = '';
    pieces.forEach((p, i) => {
      if (cur && p && len(cur) + len(p) > maxlen - 1) parts.push(cur), (cur = '');
      cur += i + 1 === pieces.length ? p : p + sep;
    });
    if (cur) parts.push(cur);
    for (let i = parts.length - 1; i >= 0; i--) stack.push([parts[i]!, depth + 1]);
  }
  return out;
}
