/** A binary heap ordered by `before(a, b)` (true when a should pop first); BPE merge agendas. */
export class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const h = this.items;
    h.push(item);
    for (let i = h.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (!this.before(h[i]!, h[up]!)) break;
      [h[i], h[up]] = [h[up]!, h[i]!];
      i = up;
    }
  }

  pop(): T | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length && last !== undefined) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** A min-heap of numbers (keys packing priority and position): no object per entry, so a word of
 * millions of symbols stays within a few bytes per symbol. */
export class NumberHeap {
  private items = new Float64Array(16);
  size = 0;

  push(x: number): void {
    if (this.size === this.items.length) { const grown = new Float64Array(this.size * 2); grown.set(this.items); this.items = grown; }
    const h = this.items;
    let i = this.size++;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (h[up]! <= x) break;
      h[i] = h[up]!;
      i = up;
    }
    h[i] = x;
  }

  pop(): number {
    const h = this.items, top = h[0]!, last = h[--this.size]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      if (l >= this.size) break;
      const m = r < this.size && h[r]! < h[l]! ? r : l;
      if (h[m]! >= last) break;
      h[i] = h[m]!;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
