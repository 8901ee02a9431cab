/**
 * A PUCT search (AlphaZero's selection rule) over priors and values: a child never visited is worth
 * its value estimate, and a visited one the mean of what came back through it. The player (player.ts)
 * expands a node in one of two ways: with a value head on the language model, one network run
 * scores the node's moves and values the position after each of them (MoveScorer with `hidden`), so
 * a move costs a few dozen nodes; with the board value network, the root's priors are the policy's
 * and every other node is valued by capture searches over the board network, priors from those
 * values, a few hundred nodes a move. A child that finishes the game is scored by the rules when its
 * parent is expanded (mate or stalemate loses, repetition and the 60-move rule draw, perpetual
 * check loses), so a mate in one is never missed once its position is in the tree. Results are
 * proven upwards (an MCTS solver): a node with a winning move is won, one whose every move loses is
 * lost, so a forced mate a few plies deep is played once the tree holds it, even where the value
 * says every move wins (against a bare king the values saturate and give the search no direction).
 */
import type { Move, Position } from '../board.ts';

/** When to stop: the first of these reached (at least the root is always expanded). */
export interface Budget {
  /** Expanded nodes, the root included (each a network run unless the player values by the board network). */
  nodes?: number;
  /** Wall-clock milliseconds. */
  timeMs?: number;
  /** Deepest ply the search expands; at depth 1 it is the value mode (the root's children by their value). */
  depth?: number;
  /** Set `stopped` from outside (UCI `stop`) to end the search with its best move so far. */
  stop?: { stopped: boolean };
}

/** What expanding a position gives: per move its prior and its value for the side to move here. */
export interface Expansion { prior: number[]; value: number[] }

export interface SearchResult {
  move: Move;
  /** Per root move, in root order: visits, and the proven result (1 win, 0 loss, ½ draw) or else the mean value (expected score for the side to move). */
  visits: number[];
  q: number[];
  /** The chosen move's proven result, as plies to the game's end through it (a win if its q is 1, a loss if 0). */
  provenPlies?: number;
  nodes: number;
  /** Deepest ply reached. */
  depth: number;
  ms: number;
}

interface Node {
  moves: Move[];
  prior: number[];
  /** Value estimates of the children, for this node's side to move. */
  q0: number[];
  n: number[];
  w: number[];
  children: (Node | undefined)[];
  /** Score of a child that ends the game or whose result is proven, for this node's side to move. */
  terminal: (number | undefined)[];
  /** Plies to the end of the game through each child with a known result. */
  plies: number[];
  visits: number;
}

/** Exploration constant on the [0, 1] value scale. */
export const C_PUCT = 1.25;

/**
 * Search from `pos` (left as it was) over `rootMoves`; `expand` scores a position's moves, `movesOf`
 * lists the moves searched below the root.
 */
export async function puct(pos: Position, rootMoves: Move[], budget: Budget, expand: (pos: Position, moves: Move[]) => Promise<Expansion>, movesOf: (pos: Position) => Move[]): Promise<SearchResult> {
  const started = performance.now();
  if (rootMoves.length === 0) throw new Error('no move to search');
  const maxDepth = budget.depth ?? Infinity;
  if (!(maxDepth >= 1)) throw new Error(`search depth must be at least 1, got ${budget.depth}`);
  if (budget.nodes !== undefined && !(budget.nodes >= 1)) throw new Error(`search nodes must be at least 1, got ${budget.nodes}`);
  // A child that ends the game is known at once (a make and a look at the rules, cheap beside a network run).
  const ending = (m: Move): number | undefined => {
    pos.make(m);
    try {
      const o = pos.outcome();
      // The mover is the side not to move now.
      return o ? (o.result === '1/2-1/2' ? 0.5 : (o.result === '1-0') === (pos.side === 1) ? 1 : 0) : undefined;
    } finally {
      pos.unmake();
    }
  };
  const node = async (moves: Move[]): Promise<Node> => {
    const e = await expand(pos, moves);
    return { moves, prior: e.prior, q0: e.value, n: moves.map(() => 0), w: moves.map(() => 0), children: moves.map(() => undefined), terminal: moves.map(ending), plies: moves.map(() => 1), visits: 0 };
  };
  const root = await node(rootMoves);
  let nodes = 1, deepest = 1, idleAtDepth = 0, idle = 0;
  // A node is not started when it would likely end past the time budget (the mean node so far).
  const out = () => {
    const elapsed = performance.now() - started;
    return (budget.stop?.stopped ?? false) || (budget.nodes !== undefined && nodes >= budget.nodes) || (budget.timeMs !== undefined && elapsed + elapsed / nodes > budget.timeMs);
  };
  // Nothing is left to learn at the root once a move is proven won or every move's result is proven.
  const settled = () => root.terminal.includes(1) || root.terminal.every((t) => t !== undefined);
  // Iterations that expand nothing cost microseconds. Only the depth bounds the search when nothing
  // else does: stop once a round of iterations ends at the depth limit. Revisits of proven results
  // (a drawn repetition the selection favours) are allowed many more, since exploration moves on
  // only as the visits grow; the cap keeps a search with a node budget alone from running forever.
  const idleCap = 10_000;
  while (rootMoves.length > 1 && !out() && idleAtDepth < 4 * rootMoves.length && idle < idleCap && !settled()) {
    const path: [Node, number][] = [];
    let at = root, v = 0, expanded = false, atDepth = false;
    try {
      for (;;) {
        const a = select(at);
        path.push([at, a]);
        pos.make(at.moves[a]!);
        deepest = Math.max(deepest, path.length);
        if (at.terminal[a] !== undefined) { v = at.terminal[a]!; break; }
        const child = at.children[a];
        if (!child) {
          v = at.q0[a]!;
          if (path.length >= maxDepth) atDepth = true;
          else if (!out()) {
            at.children[a] = await node(movesOf(pos));
            nodes++;
            expanded = true;
          }
          break;
        }
        at = child;
      }
    } finally {
      for (let i = 0; i < path.length; i++) pos.unmake();
    }
    idle = expanded ? 0 : idle + 1;
    idleAtDepth = expanded ? 0 : idleAtDepth + (atDepth ? 1 : 0);
    if (expanded) proveUp(path);
    for (let i = path.length - 1; i >= 0; i--) {
      const [n, a] = path[i]!;
      n.n[a]!++;
      n.w[a]! += v;
      n.visits++;
      v = 1 - v;
    }
  }
  const q = root.moves.map((_, a) => root.terminal[a] ?? (root.n[a]! > 0 ? root.w[a]! / root.n[a]! : root.q0[a]!));
  // A proven win, the quickest, before anything; then the most visited move not proven lost (ties by
  // value); when every move loses, the latest loss, which leaves the opponent the most room to err.
  const rank = (a: number) => (root.terminal[a] === 1 ? 2 : root.terminal[a] === 0 ? 0 : 1);
  const better = (a: number, b: number): boolean => {
    if (rank(a) !== rank(b)) return rank(a) > rank(b);
    if (rank(a) === 2) return root.plies[a]! < root.plies[b]!;
    if (rank(a) === 0) return root.plies[a]! > root.plies[b]!;
    return root.n[a]! > root.n[b]! || (root.n[a] === root.n[b] && q[a]! > q[b]!);
  };
  let best = 0;
  for (let a = 1; a < root.moves.length; a++) if (better(a, best)) best = a;
  const provenPlies = root.terminal[best] === undefined ? undefined : root.plies[best];
  return { move: root.moves[best]!, visits: root.n, q, provenPlies, nodes, depth: deepest, ms: performance.now() - started };
}

/**
 * The result of `node` for its side to move if its children prove one, with the plies to the end:
 * a winning move wins (the quickest), and once every move's result is known the best of them
 * stands (a loss as late as possible).
 */
function proven(node: Node): [number, number] | undefined {
  let win = Infinity, best = -1, plies = 0;
  for (let a = 0; a < node.moves.length; a++) {
    const t = node.terminal[a];
    if (t === 1) win = Math.min(win, node.plies[a]!);
    else if (t === undefined) best = NaN;
    else if (t > best || (t === best && node.plies[a]! > plies)) { best = t; plies = node.plies[a]!; }
  }
  if (win < Infinity) return [1, win];
  return Number.isNaN(best) ? undefined : [best, plies];
}

/** After expanding the end of `path`: carry proven results up it as far as they go. */
function proveUp(path: [Node, number][]): void {
  for (let i = path.length - 1; i >= 0; i--) {
    const [parent, a] = path[i]!;
    const child = parent.children[a];
    const p = child && proven(child);
    if (!p) return;
    parent.terminal[a] = 1 - p[0];
    parent.plies[a] = p[1] + 1;
  }
}

/**
 * The PUCT choice among `node`'s moves, skipping those proven lost: visiting them again teaches
 * nothing, and a prior that favours one would otherwise spend the search there (and end it, since
 * such a visit expands nothing). A node whose every move is lost is itself proven and not entered,
 * except the root, whose search then stops.
 */
function select(node: Node): number {
  const sqrtN = Math.sqrt(Math.max(1, node.visits));
  let best = 0, bestScore = -Infinity;
  for (let a = 0; a < node.moves.length; a++) {
    if (node.terminal[a] === 0) continue;
    const q = node.terminal[a] ?? (node.n[a]! > 0 ? node.w[a]! / node.n[a]! : node.q0[a]!);
    const score = q + C_PUCT * node.prior[a]! * sqrtN / (1 + node.n[a]!);
    if (score > bestScore) { bestScore = score; best = a; }
  }
  return best;
}
