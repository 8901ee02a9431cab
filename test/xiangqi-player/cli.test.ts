// The player's commands as a user runs them: usage errors exit 2, a missing model exits 1 with the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelFile } from './fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/bert4ts.js', import.meta.url));
const run = (args: string[], input = '') => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 60_000 });

test('usage errors name the problem and exit 2', () => {
  for (const [args, message] of [
    [['xiangqi', 'train', '--out', '/tmp/x'], /--corpus <games.jsonl> is required/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--steps', '0'], /--steps must be a positive integer, got "0"/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--hidden', '100', '--heads', '3'], /--hidden 100 must be a multiple of --heads 3/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--format', 'board', '--max-position', '90'], /--max-position 90 leaves no room for a move in the board format \(at least 95\)/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--format', 'fen'], /--format must be position, board or moves, got fen/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--init', 'm.safetensors', '--resume'], /--init starts a new schedule from a model, --resume continues a checkpoint: pass one of them/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--init', 'm.safetensors', '--layers', '2', '--format', 'board'], /--init takes the network and format from the model: drop --format, --layers/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--mix-share', '0.5'], /--mix-share needs --mix <records.jsonl>/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--mix', 'r.jsonl', '--mix-share', '1'], /--mix-share must be below 1/],
    [['xiangqi', 'synth', '--out', '/tmp/x.jsonl'], /--games N is required/],
    [['xiangqi', 'synth', '--games', 'many', '--out', '/tmp/x.jsonl'], /--games must be a positive integer, got "many"/],
    [['xiangqi', 'selfplay', '--out', '/tmp/x.jsonl'], /--games N is required/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--depth', '9'], /--depth must be at most 8/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--random-plies', '1.5'], /--random-plies must be a whole number, got "1.5"/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--opponent', 'fairy'], /--opponent must be one of self, random, got "fairy"/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--learner', 'm.safetensors'], /--learner plays the random mover: add --opponent random/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--opponent', 'random', '--expert-share', '0.5'], /--expert-share needs --learner/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--opponent', 'random', '--learner', 'm.safetensors', '--expert-share', ''], /--expert-share must be a number >= 0, got ""/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--opponent', 'random', '--learner', 'm.safetensors', '--expert-share', '1.5'], /--expert-share must be a number from 0 to 1, got "1.5"/],
    [['xiangqi', 'selfplay', '--games', '2', '--out', '/tmp/x.jsonl', '--opponent', 'random', '--learner', '/nonexistent/m.safetensors'], /--learner \/nonexistent\/m.safetensors: no such model file/],
    [['xiangqi', 'selfplay', '--games', '0', '--out', '/tmp/x.jsonl'], /--games must be a positive integer, got "0"/],
    [['xiangqi', 'play', '--side', 'green'], /--side must be red or black, got "green"/],
    [['xiangqi', 'play', '--mode', 'fast'], /--mode must be one of policy, value, search, alphabeta, got "fast"/],
    [['xiangqi', 'uci', '--mode', 'deep'], /--mode must be one of policy, value, search, alphabeta, got "deep"/],
    [['xiangqi', 'value', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--input', 'pixels'], /--input must be board or trunk, got "pixels"/],
    [['xiangqi', 'value', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--hidden', '0'], /--hidden must be comma-separated widths from 1 to 4096, got "0"/],
    [['xiangqi', 'uci', '--history', '1.5'], /--history must be an integer >= 0, got "1.5"/],
    [['xiangqi', 'uci', '--history', '999'], /--history: historyPlies must be an integer from 0 to 63 for this model, got 999/],
    [['xiangqi', 'train', '--corpus', 'g.jsonl', '--out', '/tmp/x', '--history', 'short'], /--history must be an integer >= 0, got "short"/],
    [['xiangqi', 'uci', '--temperature', 'hot'], /--temperature must be a number >= 0, got "hot"/],
    [['xiangqi', 'uci', '--temperature', ' '], /--temperature must be a number >= 0, got " "/],
    [['serve', '--port', 'http'], /--port must be an integer from 0 to 65535, got "http"/],
  ] as const) {
    const r = run([...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = run(['xiangqi', 'train', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--resume/);
  assert.match(help.stdout, /--init model.safetensors/);
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-xq-synth-'));
  const synth = run(['xiangqi', 'synth', '--games', '4', '--out', join(dir, 'records.jsonl'), '--quiet']);
  assert.equal(synth.status, 0, synth.stderr);
  assert.match(synth.stdout, /wrote 4 games to .*records\.jsonl: the expert won [34]; \d+ of \d+ moves are training targets/);
});

test('a missing model file exits 1 and says how to get one; a model file plays over UCI', () => {
  const missing = run(['xiangqi', 'uci', '--model', '/nonexistent/model.safetensors'], 'uci\nquit\n');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no model file at \/nonexistent\/model\.safetensors: train one with `bert4ts xiangqi train/);
  const exported = join(mkdtempSync(join(tmpdir(), 'bert4ts-xq-export-')), 'half.safetensors');
  const e = run(['xiangqi', 'export', tinyModelFile(3), '--out', exported]);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /wrote .*half\.safetensors \(float16/);
  const r = run(['xiangqi', 'uci', '--model', exported], 'uci\nisready\nposition startpos\ngo\nquit\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /uciok\nreadyok\n/);
  assert.match(r.stdout, /bestmove [a-i](10|[1-9])[a-i](10|[1-9])\n/);
  // The rule checks play the only mating move (a2d2 in UCI squares, ICCS a1d1); --plain leaves the choice to the model.
  const mate = 'position fen 9/3k5/9/9/9/9/9/9/R8/4K4 w - - 0 1\ngo\nquit\n';
  assert.match(run(['xiangqi', 'uci', '--model', exported], mate).stdout, /bestmove a2d2\n/);
  const plain = run(['xiangqi', 'uci', '--model', exported, '--plain'], mate);
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /bestmove [a-i](10|[1-9])[a-i](10|[1-9])\n/);
});
