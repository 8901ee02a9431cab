/**
 * Perft reference files: one position a line, `FEN | counts`, where counts are the leaf-node
 * counts at depth 1, 2, 3, ... separated by spaces, or `dN=count` for chosen depths. `#` starts a comment.
 */
export interface PerftCase {
  fen: string;
  /** depth -> expected node count */
  counts: Map<number, number>;
  line: number;
}

export function parsePerftFile(text: string): PerftCase[] {
  const cases: PerftCase[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const bar = line.indexOf('|');
    if (bar < 0) throw new Error(`perft file line ${i + 1}: expected "FEN | counts"`);
    const counts = new Map<number, number>();
    line.slice(bar + 1).trim().split(/\s+/).forEach((field, k) => {
      const m = /^(?:d(\d+)=)?(\d+)$/.exec(field);
      if (!m) throw new Error(`perft file line ${i + 1}: bad count "${field}"`);
      counts.set(m[1] ? Number(m[1]) : k + 1, Number(m[2]));
    });
    cases.push({ fen: line.slice(0, bar).trim(), counts, line: i + 1 });
  });
  return cases;
}
