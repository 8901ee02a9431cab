// The UCI engine as a GUI or match runner drives it: a spawned `bert4ts xiangqi uci` process, timed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { savePlayerModel } from '../../src/xiangqi/player/model.ts';
import { saveValueHead } from '../../src/xiangqi/player/value.ts';
import { randomHead, tinyModel } from './fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/bert4ts.js', import.meta.url));

// Engines a failed test left running are killed, or they would keep the test process alive.
const running = new Set<ReturnType<typeof spawn>>();
after(() => { for (const child of running) child.kill(); });

/** A running engine: send lines, wait for a line matching a pattern (with the time it came). */
function engine(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'xiangqi', 'uci', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const lines: { text: string; at: number }[] = [];
  let seen = 0, pending = '', stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      lines.push({ text: pending.slice(0, nl), at: performance.now() });
      pending = pending.slice(nl + 1);
    }
    waiters.splice(0).forEach((w) => w());
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  return {
    lines,
    send(line: string) { child.stdin.write(line + '\n'); return performance.now(); },
    /** The next line (after those already waited for) that matches; the lines before it are returned too. */
    async wait(pattern: RegExp, timeoutMs = 60_000): Promise<{ text: string; at: number; before: string[] }> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        for (let i = seen; i < lines.length; i++) {
          if (pattern.test(lines[i]!.text)) {
            const before = lines.slice(seen, i).map((l) => l.text);
            seen = i + 1;
            return { ...lines[i]!, before };
          }
        }
        if (performance.now() > deadline || child.exitCode !== null) throw new Error(`no line matching ${pattern}; got:\n${lines.map((l) => l.text).join('\n')}\nstderr: ${stderr}`);
        await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 50); });
      }
    },
    async quit(): Promise<number | null> {
      child.stdin.end('quit\n');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      return child.exitCode;
    },
  };
}

function modelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-uci-'));
  savePlayerModel(join(dir, 'model.safetensors'), tinyModel(5));
  saveValueHead(join(dir, 'value.safetensors'), randomHead());
  return join(dir, 'model.safetensors');
}

test('UCI process: the policy mode answers go movetime at once; the search keeps to movetime, nodes, depth and the clock; stop ends go infinite', async () => {
  const e = engine(['--model', modelDir()]);
  e.send('uci');
  const ok = await e.wait(/^uciok$/);
  assert.ok(ok.before.includes('option name Mode type combo default policy var policy var value var search var alphabeta'));
  assert.ok(ok.before.includes('option name RuleChecks type check default true'));
  e.send('isready');
  await e.wait(/^readyok$/);
  e.send('position startpos moves h3e3');
  let sent = e.send('go movetime 5000');
  let best = await e.wait(/^bestmove /);
  assert.ok(best.at - sent < 2500, `policy mode answered after ${Math.round(best.at - sent)} ms of a 5,000 ms movetime`);
  assert.match(best.text, /^bestmove [a-i](10|[1-9])[a-i](10|[1-9])$/);

  e.send('setoption name Mode value search');
  e.send('setoption name RuleChecks value false');
  sent = e.send('go movetime 600');
  best = await e.wait(/^bestmove /);
  const took = best.at - sent;
  assert.ok(took >= 450 && took < 2500, `search with movetime 600 answered after ${Math.round(took)} ms`);
  assert.match(best.before.find((l) => l.startsWith('info depth'))!, /^info depth \d+ nodes \d+ time \d+ score cp -?\d+ pv /);

  e.send('go nodes 3');
  best = await e.wait(/^bestmove /);
  assert.match(best.before.join('\n'), /info depth \d+ nodes 3 /);
  e.send('go depth 1');
  best = await e.wait(/^bestmove /);
  assert.match(best.before.join('\n'), /info depth 1 nodes 1 /);
  // Red's clock: 3,000 ms for 30 moves, so about 100 ms for this one.
  e.send('position startpos');
  sent = e.send('go wtime 3000 btime 3000 winc 0 binc 0');
  best = await e.wait(/^bestmove /);
  assert.ok(best.at - sent < 1500, `clock: answered after ${Math.round(best.at - sent)} ms`);
  const time = Number(/ time (\d+) /.exec(best.before.join('\n'))![1]);
  assert.ok(time >= 40 && time < 400, `a share of the clock: ${time} ms`);

  sent = e.send('go infinite');
  await new Promise((r) => setTimeout(r, 500));
  e.send('isready');
  const ready = await e.wait(/^readyok$/);
  assert.ok(!ready.before.some((l) => l.startsWith('bestmove')), 'still thinking after 500 ms, yet ready');
  const stopped = e.send('stop');
  best = await e.wait(/^bestmove /);
  assert.ok(best.at - stopped < 1000, `stop answered after ${Math.round(best.at - stopped)} ms`);
  assert.ok(best.at - sent >= 500);
  assert.equal(await e.quit(), 0);
});

test('UCI process: bad go parameters and options are reported, and the engine goes on', async () => {
  const e = engine(['--model', modelDir()]);
  e.send('uci');
  await e.wait(/^uciok$/);
  e.send('go movetime soon');
  let best = await e.wait(/^bestmove /);
  assert.equal(best.text, 'bestmove (none)');
  assert.ok(best.before.includes('info string go: movetime needs a number >= 0, got "soon"'), best.before.join('\n'));
  e.send('go sideways 3');
  best = await e.wait(/^bestmove /);
  assert.ok(best.before.includes('info string go: unknown parameter "sideways"'));
  e.send('setoption name Mode value turbo');
  e.send('setoption name RuleChecks value maybe');
  e.send('setoption name Hash value 64');
  e.send('isready');
  const ready = await e.wait(/^readyok$/);
  assert.deepEqual(ready.before, [
    'info string setoption Mode: expected one of policy, value, search, alphabeta, got "turbo"',
    'info string setoption RuleChecks: expected true or false, got "maybe"',
    'info string no option named "Hash"',
  ]);
  e.send('position startpos');
  e.send('go depth 2');
  best = await e.wait(/^bestmove /);
  assert.match(best.text, /^bestmove [a-i](10|[1-9])[a-i](10|[1-9])$/);
  assert.equal(await e.quit(), 0);
});

test('UCI process: without a value head the search mode is refused with the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-uci-'));
  savePlayerModel(join(dir, 'model.safetensors'), tinyModel(5));
  const e = engine(['--model', join(dir, 'model.safetensors')]);
  e.send('setoption name Mode value search');
  e.send('isready');
  const ready = await e.wait(/^readyok$/);
  assert.match(ready.before.join('\n'), /setoption Mode: the search mode needs a value head: train one with `bert4ts xiangqi value`/);
  assert.equal(await e.quit(), 0);
});

test('UCI process: without --mode the engine plays its strongest mode: search beside a board value network, else policy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-uci-default-'));
  savePlayerModel(join(dir, 'model.safetensors'), tinyModel(5));
  const modeLine = async (args: string[]) => {
    const e = engine(args);
    e.send('uci');
    const ok = await e.wait(/^uciok$/);
    assert.equal(await e.quit(), 0);
    return ok.before.find((l) => l.startsWith('option name Mode '));
  };
  assert.match((await modeLine(['--model', join(dir, 'model.safetensors')]))!, /^option name Mode type combo default policy /);
  // A head on the language model (not a board network): the search would see too few nodes, so policy stays.
  const lmHead = join(dir, 'lm-value.safetensors');
  saveValueHead(lmHead, randomHead());
  assert.match((await modeLine(['--model', join(dir, 'model.safetensors'), '--value', lmHead]))!, /^option name Mode type combo default policy /);
  const board = join(dir, 'value.safetensors');
  saveValueHead(board, { inputSize: 14 * 90 + 1, hiddenSize: 1, mean: new Float32Array(14 * 90 + 1), scale: new Float32Array(14 * 90 + 1).fill(1), w1: new Float32Array(14 * 90 + 1), b1: new Float32Array(1), w2: new Float32Array(3), b2: new Float32Array(3), metadata: { input: 'board' } });
  assert.match((await modeLine(['--model', join(dir, 'model.safetensors')]))!, /^option name Mode type combo default search /);
  assert.match((await modeLine(['--model', join(dir, 'model.safetensors'), '--mode', 'alphabeta']))!, /^option name Mode type combo default alphabeta /);
});

test('UCI process: the alphabeta mode (board value network) keeps to go depth and answers stop after go infinite; the search mode reports a proven mate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-uci-ab-'));
  savePlayerModel(join(dir, 'model.safetensors'), tinyModel(5));
  // A board network that counts rooks (red +1, black -1 on every point).
  const w1 = new Float32Array(14 * 90 + 1);
  for (let sq = 0; sq < 90; sq++) { w1[4 * 90 + sq] = 1; w1[11 * 90 + sq] = -1; }
  saveValueHead(join(dir, 'value.safetensors'), { inputSize: 14 * 90 + 1, hiddenSize: 1, mean: new Float32Array(14 * 90 + 1), scale: new Float32Array(14 * 90 + 1).fill(1), w1, b1: new Float32Array(1), w2: Float32Array.from([4, 0, -4]), b2: new Float32Array(3), metadata: { input: 'board' } });
  const e = engine(['--model', join(dir, 'model.safetensors'), '--mode', 'alphabeta']);
  e.send('uci');
  await e.wait(/^uciok$/);
  e.send('setoption name RuleChecks value false');
  // Black's a-file pawn is gone: red's rook takes the rook on a9 for nothing.
  e.send('position fen rnbakabnr/9/1c5c1/2p1p1p1p/9/9/2P1P1P1P/1C5C1/9/RNBAKABNR w - - 0 1');
  e.send('go depth 2');
  let best = await e.wait(/^bestmove /);
  assert.match(best.before.join('\n'), /info depth 2 nodes \d+ time \d+ score cp \d+ pv a1a10/);
  assert.equal(best.text, 'bestmove a1a10');
  e.send('position startpos');
  const sent = e.send('go infinite');
  await new Promise((r) => setTimeout(r, 400));
  const stopped = e.send('stop');
  best = await e.wait(/^bestmove /);
  assert.ok(best.at - stopped < 1000, `stop answered after ${Math.round(best.at - stopped)} ms`);
  assert.ok(best.at - sent >= 400);
  // The search mode reports a proven win as a mate score: here a mate in two (or three), found by proof
  // where the rook-counting value sees nothing to choose between.
  e.send('setoption name Mode value search');
  e.send('position fen 9/4k4/9/9/9/5N3/9/3R5/9/3K5 w - - 0 1');
  e.send('go nodes 3000');
  best = await e.wait(/^bestmove /);
  assert.match(best.before.join('\n'), /info depth \d+ nodes \d+ time \d+ score mate [23] pv /);
  assert.equal(await e.quit(), 0);
});
