/**
 * Parameters live in a `ParamStore` (name -> host tensor), separate from the graph. A `Scope` hands
 * out graph `param` leaves under hierarchical names ("encoder/layer_0/attention/query/kernel") and
 * creates seeded initial values the first time a name is used, so a freshly built model is
 * deterministic and a loaded checkpoint simply fills the store first.
 */
import { floatToBf16, floatToHalf, sizeOf, type DType, type HostTensor } from '../graph/dtype.ts';
import { param } from '../graph/ops.ts';
import { GraphError, formatShape, type Tensor } from '../graph/tensor.ts';
import { hashString, Random } from '../util/random.ts';

export type Init = { kind: 'normal'; std: number } | { kind: 'truncatedNormal'; std: number } | { kind: 'uniform'; limit: number } | { kind: 'zeros' } | { kind: 'ones' } | { kind: 'constant'; value: number };

export const initializers = {
  normal: (std = 0.02): Init => ({ kind: 'normal', std }),
  truncatedNormal: (std = 0.02): Init => ({ kind: 'truncatedNormal', std }),
  uniform: (limit: number): Init => ({ kind: 'uniform', limit }),
  zeros: (): Init => ({ kind: 'zeros' }),
  ones: (): Init => ({ kind: 'ones' }),
  constant: (value: number): Init => ({ kind: 'constant', value }),
};

export function initialValue(name: string, shape: number[], init: Init, seed: number, dtype: DType = 'float32'): HostTensor {
  const n = sizeOf(shape);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  const r = new Random(hashString(name) ^ seed);
  switch (init.kind) {
    case 'zeros': break;
    case 'ones': data.fill(1); break;
    case 'constant': data.fill(init.value); break;
    case 'normal': for (let i = 0; i < n; i++) data[i] = r.normal() * init.std; break;
    case 'truncatedNormal':
      for (let i = 0; i < n; i++) { let v; do v = r.normal(); while (Math.abs(v) > 2); data[i] = v * init.std; }
      break;
    case 'uniform': for (let i = 0; i < n; i++) data[i] = (r.next() * 2 - 1) * init.limit; break;
  }
  // float16 / bfloat16 weights are held as their bits (a Float32Array labelled float16 would be read as garbage).
  if (dtype === 'float16' || dtype === 'bfloat16') return { dtype, shape, data: Uint16Array.from(data, dtype === 'float16' ? floatToHalf : floatToBf16) };
  return { dtype, shape, data };
}

export class ParamStore {
  readonly values = new Map<string, HostTensor>();
  constructor(readonly seed = 0) {}

  get(name: string): HostTensor | undefined {
    return this.values.get(name);
  }
  set(name: string, value: HostTensor): void {
    this.values.set(name, value);
  }
  has(name: string): boolean {
    return this.values.has(name);
  }
  names(): string[] {
    return [...this.values.keys()];
  }
  get count(): number {
    let n = 0;
    for (const v of this.values.values()) n += v.data.length;
    return n;
  }
}

export interface ScopeOptions {
  dtype?: DType;
  /** Build the training graph (dropout on). */
  training?: boolean;
  /** Seed for dropout masks. */
  seed?: number;
  /** Only declare graph leaves (names, shapes); never create initial values (shape probes before loading). */
  declareOnly?: boolean;
}

export class Scope {
  private dropoutCounter = { n: 0 };
  constructor(
    readonly store: ParamStore,
    readonly prefix = '',
    readonly options: ScopeOptions = {},
    /** Params declared while building, by full name (shared with children). */
    readonly declared: Map<string, Tensor> = new Map(),
  ) {}

  get dtype(): DType {
    return this.options.dtype ?? 'float32';
  }
  get training(): boolean {
    return this.options.training ?? false;
  }

  child(name: string): Scope {
    const s = new Scope(this.store, this.prefix ? `${this.prefix}/${name}` : name, this.options, this.declared);
    s.dropoutCounter = this.dropoutCounter;
    return s;
  }

  /** A fresh seed for each dropout site in the graph, so masks differ between layers. */
  nextDropoutSeed(): number {
    return (this.options.seed ?? 0) * 1000 + ++this.dropoutCounter.n;
  }

  fullName(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  /** The graph leaf for weight `name`; initialised with `init` if the store has no value yet. */
  param(name: string, shape: number[], init: Init): Tensor {
    const full = this.fullName(name);
    if (this.options.declareOnly) {
      const declared = this.declared.get(full);
      if (declared && declared.shape.some((d, i) => d !== shape[i])) throw new GraphError('param', `weight '${full}' is declared twice, as ${formatShape(declared.shape)} and ${formatShape(shape)}`);
      if (declared) return declared;
      const leaf = param(full, this.dtype, shape);
      this.declared.set(full, leaf);
      return leaf;
    }
    const existing = this.store.get(full);
    if (existing) {
      if (existing.shape.length !== shape.length || existing.shape.some((d, i) => d !== shape[i])) {
        throw new GraphError('param', `weight '${full}' has shape ${formatShape(existing.shape)} but the model needs ${formatShape(shape)}`);
      }
    } else {
      this.store.set(full, initialValue(full, shape, init, this.store.seed, this.dtype));
    }
    let t = this.declared.get(full);
    if (!t) {
      t = param(full, this.store.get(full)!.dtype, shape);
      this.declared.set(full, t);
    }
    return t;
  }
}
