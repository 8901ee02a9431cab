// The web server's API: positions, model replies, and clear errors for every kind of bad request.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Player } from '../../src/xiangqi/player/player.ts';
import { createPlayerServer } from '../../src/xiangqi/player/server.ts';
import { loadPlayerModel } from '../../src/xiangqi/player/model.ts';
import { randomHead, tinyModel } from './fixtures.ts';
import { Position } from '../../src/xiangqi/board.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';

let server: Server, noModel: Server, player: Player;
const url = (s: Server, path: string) => `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
const post = (s: Server, path: string, body: string) => fetch(url(s, path), { method: 'POST', body, headers: { 'content-type': 'application/json' } });

before(async () => {
  player = await Player.create(tinyModel(2));
  server = createPlayerServer({ player });
  noModel = createPlayerServer({ player: { error: 'no model file at /nowhere/model.safetensors: train one with `bert4ts xiangqi train`' } });
  await Promise.all([server, noModel].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
});
after(async () => {
  await Promise.all([server, noModel].map((s) => new Promise((r) => s.close(r))));
  await player.release();
});

test('state: pieces, legal moves by square, the move list in Chinese', async () => {
  const res = await post(server, '/api/state', JSON.stringify({ moves: ['h2e2', 'h9g7'] }));
  assert.equal(res.status, 200);
  const s = await res.json();
  assert.equal(s.side, 'red');
  assert.equal(s.pieces.length, 32);
  assert.deepEqual(s.moves.map((m: { chinese: string }) => m.chinese), ['炮二平五', '馬８進７']);
  assert.ok(s.legal.e2.includes('e6'), 'the central cannon can take the pawn on e6');
  const pos = Position.start();
  for (const m of ['h2e2', 'h9g7']) pos.play(parseIccs(pos, m));
  assert.equal(Object.values(s.legal).flat().length, pos.legalMoves().length);
  assert.equal(s.outcome, null);
});

test('reply: a legal model move for the side to move, with candidate probabilities', async () => {
  const res = await post(server, '/api/reply', JSON.stringify({ moves: ['h2e2'] }));
  assert.equal(res.status, 200);
  const r = await res.json();
  assert.match(r.move, /^[a-i][0-9][a-i][0-9]$/);
  assert.equal(r.state.moves.length, 2);
  assert.equal(r.state.moves[1].iccs, r.move);
  assert.ok(r.candidates.length >= 5 && r.candidates.length <= 8);
  assert.ok(r.candidates.every((c: { probability: number }) => c.probability > 0 && c.probability <= 1));
  assert.equal(r.candidates[0].iccs, r.move, 'temperature 0 plays the top candidate');
});

test('reply by strength level: the value and search modes on a server with a value model; info lists the modes', async () => {
  const withValue = await Player.create(tinyModel(2), undefined, { value: randomHead() });
  const s = createPlayerServer({ player: withValue });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    assert.deepEqual((await (await fetch(url(s, '/api/info'))).json()).modes, ['policy', 'value', 'search']);
    assert.deepEqual((await (await fetch(url(server, '/api/info'))).json()).modes, ['policy']);
    for (const mode of ['value', 'search']) {
      const res = await post(s, '/api/reply', JSON.stringify({ moves: ['h2e2'], mode }));
      assert.equal(res.status, 200, mode);
      assert.match((await res.json()).move, /^[a-i][0-9][a-i][0-9]$/);
    }
    assert.equal(withValue.mode, 'policy', 'the mode is for one request');
  } finally {
    await new Promise((r) => s.close(r));
    await withValue.release();
  }
});

test('bad requests get 4xx with a message naming the problem; the server keeps serving', async () => {
  const cases: [string, string, number, RegExp][] = [
    ['/api/state', '{"moves": ["h2e9"]}', 400, /move 1 \(h2e9\) is illegal/],
    ['/api/state', '{"moves": ["h2e2", "zz"]}', 400, /move 2: "zz" is not an ICCS move/],
    ['/api/state', '{"moves": "h2e2"}', 400, /must be an array/],
    ['/api/state', '{not json', 400, /not valid JSON/],
    ['/api/state', '[1, 2]', 400, /must be a JSON object/],
    ['/api/reply', '{"moves": [], "temperature": -1}', 400, /temperature/],
    ['/api/reply', '{"moves": [], "mode": "turbo"}', 400, /"mode" must be one of policy, value, search, alphabeta/],
    ['/api/reply', '{"moves": [], "mode": "search"}', 409, /the search mode needs a value model/],
    ['/api/nothing', '{}', 404, /no API route/],
    ['/api/state', JSON.stringify({ moves: [], pad: 'x'.repeat(70_000) }), 413, /over the limit of 65536/],
    ['/api/state', `{"moves": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`, 400, /nested deeper than 8 levels/],
  ];
  for (const [path, body, status, message] of cases) {
    const res = await post(server, path, body);
    assert.equal(res.status, status, `${path} ${body.slice(0, 40)}`);
    assert.match((await res.json()).error, message);
  }
  const traversal = await fetch(url(server, '/%2e%2e/package.json'));
  assert.equal(traversal.status, 404);
  for (const bad of ['/%ff.js', '/api/%ff', '/%00.js']) {
    const res = await fetch(url(server, bad));
    assert.ok(res.status === 400 || res.status === 404, `${bad}: ${res.status}`);
    assert.match((await res.json()).error, /malformed percent-encoding|not found/);
  }
  const page = await fetch(url(server, '/'));
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<svg id="board"/);
});

// A random game (seeds 59/1059) that ends in 49 plies with black checkmated.
const MATED = ['h2h3', 'b7b0', 'h3h6', 'h9g7', 'b2b7', 'e6e5', 'b7b8', 'a6a5', 'b8b7', 'a9a8', 'h6h1', 'c6c5', 'b7b2', 'a8a9', 'b2c2', 'g9e7', 'i0i1', 'h7h9', 'a3a4', 'a9a6', 'c2b2', 'h9h3', 'h1b1', 'i9g9', 'b2d2', 'e5e4', 'b1e1', 'h3h1', 'd2h2', 'b0b3', 'h2h4', 'b3a3', 'e1e4', 'e7g5', 'e4b4', 'g5i7', 'b4g4', 'a3e3', 'g4g5', 'a6a7', 'g5g7', 'h1f1', 'h4f4', 'g9g8', 'g3g4', 'a7a9', 'f4e4', 'g8d8', 'g7e7'];

test('a finished game and a missing model are explained, not crashed on', async () => {
  const over = await (await post(server, '/api/state', JSON.stringify({ moves: MATED }))).json();
  assert.deepEqual(over.outcome, { result: '1-0', reason: 'checkmate' });
  assert.deepEqual(over.legal, {});
  const reply = await post(server, '/api/reply', JSON.stringify({ moves: MATED }));
  assert.equal(reply.status, 409);
  assert.match((await reply.json()).error, /the game is over \(1-0 by checkmate\)/);
  const extra = await post(server, '/api/state', JSON.stringify({ moves: [...MATED, 'a0a1'] }));
  assert.equal(extra.status, 400);
  const info = await (await fetch(url(noModel, '/api/info'))).json();
  assert.equal(info.ready, false);
  assert.match(info.error, /no model file/);
  const res = await post(noModel, '/api/reply', '{"moves": []}');
  assert.equal(res.status, 503);
  assert.match((await res.json()).error, /no model file at/);
  const state = await post(noModel, '/api/state', '{"moves": ["h2e2"]}');
  assert.equal(state.status, 200, 'the board still works without a model');
});

test('in-browser mode: the state carries the model context and playable moves; the network and onnxruntime-web are served', async () => {
  const s = await (await post(server, '/api/state', JSON.stringify({ moves: ['h2e2'] }))).json();
  const pos = Position.start();
  pos.play(parseIccs(pos, 'h2e2'));
  assert.deepEqual(s.model.context, player.context(pos));
  assert.equal(s.model.candidates.length, pos.legalMoves().length);
  assert.ok(s.model.candidates.some((c: { iccs: string; chinese: string }) => c.iccs === 'h9g7' && c.chinese === '馬８進７'));

  const onnx = await fetch(url(server, '/api/model.onnx'));
  assert.equal(onnx.status, 200);
  assert.equal(onnx.headers.get('content-type'), 'application/octet-stream');
  assert.ok((await onnx.arrayBuffer()).byteLength > 10_000);
  assert.equal((await fetch(url(noModel, '/api/model.onnx'))).status, 503);

  // The weights the page's own Player loads (loadPlayerModel from bytes): the server's, exactly.
  const st = await fetch(url(server, '/api/model.safetensors'));
  assert.equal(st.status, 200);
  const back = loadPlayerModel({ name: 'model.safetensors', bytes: new Uint8Array(await st.arrayBuffer()) });
  assert.deepEqual(back.config, player.model.config);
  assert.equal(back.format, player.model.format);
  for (const name of player.model.store.names()) assert.deepEqual(back.store.get(name)!.data, player.model.store.get(name)!.data, name);
  assert.equal((await fetch(url(noModel, '/api/model.safetensors'))).status, 503);

  const wasm = await fetch(url(server, '/vendor/ort/ort-wasm-simd-threaded.wasm'));
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  await wasm.arrayBuffer();
  assert.equal((await fetch(url(server, '/vendor/ort/ort.wasm.min.mjs'))).headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal((await fetch(url(server, '/vendor/ort/package.json'))).status, 404, 'only the files the page needs');
  assert.equal((await fetch(url(server, '/vendor/ort/../../package.json'))).status, 404);
});
