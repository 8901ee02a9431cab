/**
 * Linear-chain conditional random field, as bert4keras's `ConditionalRandomField`: one trainable
 * transition matrix `trans` [L, L] (trans[i, j] scores label i followed by label j) on top of
 * per-step emission scores [B, T, L]. The loss is −log p(y | x) = log Z − score(y), with log Z by
 * the forward algorithm, unrolled over the (static) sequence length, so autodiff gives the gradient.
 * Decoding is Viterbi on the host (`ViterbiDecoder`, as bert4keras's), over the emissions the graph
 * returns and the transition matrix in the ParamStore.
 *
 * Padding is right padding: mask [B, T] (1 = token) must be 1 at step 0 and contiguous. Masked steps
 * add no emission or transition score, and the forward recursion carries its state over them.
 * bert4keras's `lr_multiplier` (a reparametrisation trans = k · trans', to train the transitions
 * k times faster) is not reproduced: give the Trainer a larger learning rate instead.
 */
import type { HostTensor } from '../graph/dtype.ts';
import { logSumExp, oneHot, squeeze, unsqueeze } from '../graph/composite.ts';
import { add, cast, greater, matmul, mul, reduceMean, reduceSum, reshape, scalar, slice, sub, where } from '../graph/ops.ts';
import { GraphError, formatShape, type Tensor } from '../graph/tensor.ts';
import { initializers, type Scope } from './params.ts';

/** The transition matrix `trans` [L, L], glorot-uniform initialised as in bert4keras. */
export function crfTransitions(scope: Scope, numLabels: number): Tensor {
  return scope.param('trans', [numLabels, numLabels], initializers.uniform(Math.sqrt(6 / (2 * numLabels))));
}

/** Emissions [B, T, L] with a static T and L matching trans [L, L]; returns [T, L]. */
function checkShapes(op: string, emissions: Tensor, trans: Tensor, mask?: Tensor | null): [number, number] {
  const [, t, l] = emissions.shape;
  if (emissions.rank !== 3 || typeof t !== 'number' || typeof l !== 'number') {
    throw new GraphError(op, `emissions must be [B, T, L] with static T and L (the forward recursion is unrolled; pad batches to a fixed length), got ${formatShape(emissions.shape)}`);
  }
  if (trans.rank !== 2 || trans.shape[0] !== l || trans.shape[1] !== l) {
    throw new GraphError(op, `trans ${formatShape(trans.shape)} does not match emissions ${formatShape(emissions.shape)}; expected [${l}, ${l}]`);
  }
  if (trans.dtype !== emissions.dtype) throw new GraphError(op, `trans is ${trans.dtype} but emissions are ${emissions.dtype}`);
  if (mask && (mask.rank !== 2 || mask.shape[1] !== t)) throw new GraphError(op, `mask ${formatShape(mask.shape)} does not match emissions ${formatShape(emissions.shape)}; expected [B, ${t}]`);
  return [t, l];
}

/** mask [B, T] of any dtype (nonzero = token) -> bool [B, T]. */
function tokenMask(mask: Tensor): Tensor {
  return mask.dtype === 'bool' ? mask : greater(cast(mask, 'float32'), scalar(0, 'float32'));
}

/**
 * score(y) = Σ_t emissions[b, t, y_t] + Σ_{t≥1} trans[y_{t−1}, y_t] over the unmasked steps,
 * as bert4keras's `target_score`. labels [B, T] (any integer at padded steps). Returns [B].
 */
export function crfPathScore(emissions: Tensor, trans: Tensor, labels: Tensor, mask?: Tensor | null): Tensor {
  const [t, l] = checkShapes('crfPathScore', emissions, trans, mask);
  let y = oneHot(labels, l, emissions.dtype); // (B, T, L)
  if (mask) y = mul(y, unsqueeze(cast(tokenMask(mask), emissions.dtype), -1));
  const point = reduceSum(mul(y, emissions), [1, 2]); // (B)
  if (t === 1) return point;
  const prev = slice(y, 1, 0, t - 1), next = slice(y, 1, 1, t); // (B, T-1, L)
  const transitions = reduceSum(mul(matmul(prev, trans), next), [1, 2]); // (B)
  return add(point, transitions);
}

/**
 * log Z = log Σ_y exp score(y) by the forward algorithm: α_0 = e_0,
 * α_t[j] = logsumexp_i(α_{t−1}[i] + trans[i, j]) + e_t[j] (kept at α_{t−1} on masked steps),
 * log Z = logsumexp_j α_{T−1}[j]. Returns [B].
 */
export function crfLogPartition(emissions: Tensor, trans: Tensor, mask?: Tensor | null): Tensor {
  const [t] = checkShapes('crfLogPartition', emissions, trans, mask);
  const valid = mask ? tokenMask(mask) : null;
  const step = (x: Tensor, i: number) => squeeze(slice(x, 1, i, i + 1), 1);
  const transitions = unsqueeze(trans, 0); // (1, L, L)
  let alpha = step(emissions, 0); // (B, L)
  for (let i = 1; i < t; i++) {
    const next = add(logSumExp(add(unsqueeze(alpha, 2), transitions), 1), step(emissions, i)); // (B, L)
    alpha = valid ? where(reshape(step(valid, i), [-1, 1]), next, alpha) : next;
  }
  return logSumExp(alpha, -1); // (B)
}

/** Mean over the batch of −log p(y | x) = log Z − score(y): bert4keras's `sparse_loss`, averaged. */
export function crfLoss(emissions: Tensor, trans: Tensor, labels: Tensor, mask?: Tensor | null): Tensor {
  return reduceMean(sub(crfLogPartition(emissions, trans, mask), crfPathScore(emissions, trans, labels, mask)));
}

/**
 * The CRF layer: declares `trans` under `scope` and returns the training loss with it. Decode with
 * `new ViterbiDecoder(store.get('<scope>/trans'))` over the emissions.
 */
export function conditionalRandomField(scope: Scope, emissions: Tensor, labels: Tensor, mask?: Tensor | null): { loss: Tensor; trans: Tensor } {
  const l = emissions.shape[emissions.rank - 1];
  if (typeof l !== 'number') throw new GraphError('conditionalRandomField', `the label dim of ${formatShape(emissions.shape)} must be static`);
  const trans = crfTransitions(scope, l);
  return { loss: crfLoss(emissions, trans, labels, mask), trans };
}

// ---- decoding on the host -------------------------------------------------------------------

export interface ViterbiConstraints {
  /** Labels a sequence may start with (default: any). */
  starts?: readonly number[];
  /** Labels a sequence may end with (default: any). */
  ends?: readonly number[];
  /** Transitions [from, to] that may never occur (e.g. O → I-PER in BIO). */
  forbidden?: readonly (readonly [number, number])[];
}

/**
 * The best label path under emissions + transitions, as bert4keras's `ViterbiDecoder`, with
 * optional start/end label sets and forbidden transitions (scored −∞).
 */
export class ViterbiDecoder {
  readonly numLabels: number;
  private readonly trans: Float64Array;
  private readonly startOk: boolean[];
  private readonly endOk: boolean[];

  constructor(trans: HostTensor | readonly (readonly number[])[], constraints: ViterbiConstraints = {}) {
    const rows = Array.isArray(trans) ? trans as readonly (readonly number[])[] : null;
    const n = rows ? rows.length : (trans as HostTensor).shape[0]!;
    if (rows ? rows.some((r) => r.length !== n) : (trans as HostTensor).shape.length !== 2 || (trans as HostTensor).shape[1] !== n) {
      throw new Error(`ViterbiDecoder: trans must be square [L, L], got ${rows ? `${n} rows of ${rows.map((r) => r.length).join('/')}` : formatShape((trans as HostTensor).shape)}`);
    }
    this.numLabels = n;
    this.trans = rows ? Float64Array.from(rows.flat()) : Float64Array.from((trans as HostTensor).data as ArrayLike<number>);
    const check = (what: string, i: number) => {
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`ViterbiDecoder: ${what} label ${i} is not in 0..${n - 1}`);
    };
    const allowed = (what: string, list?: readonly number[]) => {
      if (!list) return Array<boolean>(n).fill(true);
      const ok = Array<boolean>(n).fill(false);
      for (const i of list) { check(what, i); ok[i] = true; }
      return ok;
    };
    this.startOk = allowed('start', constraints.starts);
    this.endOk = allowed('end', constraints.ends);
    for (const [i, j] of constraints.forbidden ?? []) {
      check('forbidden', i);
      check('forbidden', j);
      this.trans[i * n + j] = -Infinity;
    }
  }

  /**
   * Decode one sequence: emissions [T, L] row-major (a flat array, e.g. one row of a [B, T, L] output
   * via `offset`), or rows. `length` defaults to T.
   */
  decode(emissions: ArrayLike<number> | readonly (readonly number[])[], length?: number, offset = 0): number[] {
    const n = this.numLabels;
    const nested = Array.isArray(emissions) && Array.isArray(emissions[0]);
    const at = nested ? (t: number, j: number) => (emissions as readonly (readonly number[])[])[t]![j]! : (t: number, j: number) => (emissions as ArrayLike<number>)[offset + t * n + j]!;
    const T = length ?? (nested ? emissions.length : ((emissions as ArrayLike<number>).length - offset) / n);
    if (!Number.isInteger(T) || T < 0) throw new Error(`ViterbiDecoder: emissions do not hold whole rows of ${n} labels`);
    if (T === 0) return [];
    let score = new Float64Array(n);
    for (let j = 0; j < n; j++) score[j] = this.startOk[j] ? at(0, j) : -Infinity;
    const back: Int32Array[] = [];
    for (let t = 1; t < T; t++) {
      const next = new Float64Array(n), from = new Int32Array(n);
      for (let j = 0; j < n; j++) {
        let best = -Infinity, arg = 0;
        for (let i = 0; i < n; i++) {
          const s = score[i]! + this.trans[i * n + j]!;
          if (s > best) { best = s; arg = i; }
        }
        next[j] = best + at(t, j);
        from[j] = arg;
      }
      back.push(from);
      score = next;
    }
    let last = -1;
    for (let j = 0; j < n; j++) if (this.endOk[j] && score[j]! > -Infinity && (last < 0 || score[j]! > score[last]!)) last = j;
    if (last < 0) throw new Error(`ViterbiDecoder: no label path of length ${T} satisfies the start/end/forbidden constraints`);
    const path = [last];
    for (let t = T - 1; t >= 1; t--) path.push(last = back[t - 1]![last]!);
    return path.reverse();
  }

  /** Decode a batch of emissions [B, T, L]; `lengths` (default T) or a mask [B, T] gives each length. */
  decodeBatch(emissions: HostTensor, lengths?: readonly number[] | HostTensor): number[][] {
    const [b, t, l] = emissions.shape;
    if (emissions.shape.length !== 3 || l !== this.numLabels) throw new Error(`ViterbiDecoder: emissions must be [B, T, ${this.numLabels}], got ${formatShape(emissions.shape)}`);
    const lens = lengths === undefined ? Array<number>(b!).fill(t!)
      : Array.isArray(lengths) ? lengths as readonly number[]
        : Array.from({ length: b! }, (_, i) => { let n = 0; for (let k = 0; k < t!; k++) n += Number((lengths as HostTensor).data[i * t! + k]) ? 1 : 0; return n; });
    const data = emissions.data as ArrayLike<number>;
    return Array.from({ length: b! }, (_, i) => this.decode(data, lens[i], i * t! * l!));
  }
}

/**
 * Constraints for BIO tags named like 'O', 'B-PER', 'I-PER': no sequence starts with I-x, and I-x
 * only follows B-x or I-x.
 */
export function bioConstraints(labels: readonly string[]): ViterbiConstraints {
  const inside = (s: string) => (s.startsWith('I-') ? s.slice(2) : null);
  const type = (s: string) => s.replace(/^[BI]-/, '');
  const starts = labels.flatMap((s, i) => (inside(s) === null ? [i] : []));
  const forbidden: [number, number][] = [];
  labels.forEach((to, j) => {
    const x = inside(to);
    if (x === null) return;
    labels.forEach((from, i) => { if (from === 'O' || !/^[BI]-/.test(from) || type(from) !== x) forbidden.push([i, j]); });
  });
  return { starts, forbidden };
}
