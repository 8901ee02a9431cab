// The xiangqi page: draws the board as SVG, lets the user click a piece then a highlighted square,
// and asks the server (stateless JSON API, see src/xiangqi/player/server.ts) for the model's reply —
// or, in browser mode, runs the library's player itself (its browser build) and only asks the server
// for the rules.
const CELL = 60, MARGIN = 40;
const GLYPHS = { red: { K: '帥', A: '仕', B: '相', N: '傌', R: '俥', C: '炮', P: '兵' }, black: { K: '將', A: '士', B: '象', N: '馬', R: '車', C: '砲', P: '卒' } };
const svg = document.getElementById('board');
const statusLine = document.getElementById('status');
const game = { moves: [], side: 'red', state: null, selected: null, busy: false, ready: false, lastMove: null };

const el = (name, attrs = {}, text) => {
  const e = document.createElementNS('http://www.w3.org/2000/svg', name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

/** Board point of an ICCS square ("e2"), flipped when the user plays black. */
function point(square) {
  const file = square.charCodeAt(0) - 97, rank = Number(square[1]);
  const col = game.side === 'red' ? file : 8 - file;
  const row = game.side === 'red' ? 9 - rank : rank;
  return [MARGIN + col * CELL, MARGIN + row * CELL];
}

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle('error', isError);
}

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let data;
  try { data = await res.json(); } catch { throw new Error(`the server answered ${res.status} without JSON`); }
  if (!res.ok) throw new Error(data.error || `the server answered ${res.status}`);
  return data;
}

function drawGrid() {
  const g = el('g', { class: 'grid' });
  const x = (c) => MARGIN + c * CELL, y = (r) => MARGIN + r * CELL;
  for (let r = 0; r < 10; r++) g.append(el('line', { x1: x(0), y1: y(r), x2: x(8), y2: y(r) }));
  for (let c = 0; c < 9; c++) {
    if (c === 0 || c === 8) g.append(el('line', { x1: x(c), y1: y(0), x2: x(c), y2: y(9) }));
    else {
      g.append(el('line', { x1: x(c), y1: y(0), x2: x(c), y2: y(4) }));
      g.append(el('line', { x1: x(c), y1: y(5), x2: x(c), y2: y(9) }));
    }
  }
  for (const [r0, r1] of [[0, 2], [7, 9]]) {
    g.append(el('line', { x1: x(3), y1: y(r0), x2: x(5), y2: y(r1) }));
    g.append(el('line', { x1: x(5), y1: y(r0), x2: x(3), y2: y(r1) }));
  }
  svg.append(g);
  svg.append(el('text', { class: 'river', x: x(1.5), y: y(4.5) + 10 }, '楚 河'));
  svg.append(el('text', { class: 'river', x: x(5.2), y: y(4.5) + 10 }, '漢 界'));
}

function render() {
  svg.replaceChildren();
  drawGrid();
  const s = game.state;
  if (!s) return;
  if (game.lastMove) {
    for (const sq of [game.lastMove.slice(0, 2), game.lastMove.slice(2)]) {
      const [cx, cy] = point(sq);
      svg.append(el('rect', { class: 'last', x: cx - 29, y: cy - 29, width: 58, height: 58, rx: 6 }));
    }
  }
  for (const p of s.pieces) {
    const [cx, cy] = point(p.square);
    const g = el('g', { class: `piece ${p.side}${game.selected === p.square ? ' selected' : ''}`, 'data-piece': p.square });
    g.append(el('circle', { cx, cy, r: 26 }));
    g.append(el('text', { x: cx, y: cy }, GLYPHS[p.side][p.piece]));
    svg.append(g);
  }
  const targets = game.selected ? s.legal[game.selected] ?? [] : [];
  for (const sq of targets) {
    const [cx, cy] = point(sq);
    svg.append(el('circle', { class: 'target', cx, cy, r: 9, 'data-target': sq }));
  }
  // Click targets on top of everything, one per intersection.
  for (let file = 0; file < 9; file++) for (let rank = 0; rank < 10; rank++) {
    const sq = String.fromCharCode(97 + file) + rank;
    const [cx, cy] = point(sq);
    const hit = el('circle', { class: 'hit', cx, cy, r: 29, 'data-square': sq });
    hit.addEventListener('click', () => onSquare(sq));
    svg.append(hit);
  }
  const list = document.getElementById('moves');
  list.replaceChildren(...s.moves.map((m) => { const li = document.createElement('li'); li.textContent = m.chinese; li.title = `${m.iccs} · ${m.wxf}`; return li; }));
  list.scrollTop = list.scrollHeight;
}

function renderCandidates(reply) {
  const body = document.querySelector('#candidates tbody');
  body.replaceChildren(...(reply ? reply.candidates : []).map((c) => {
    const tr = document.createElement('tr');
    const pct = (100 * c.probability).toFixed(1);
    tr.innerHTML = `<td>${c.chinese}</td><td>${c.iccs}</td><td>${pct}%</td><td style="width:40%"><div class="bar" style="width:${pct}%"></div></td>`;
    return tr;
  }));
  document.getElementById('think').textContent = reply ? `(${reply.thinkMs} ms${reply.where === 'browser' ? ' in this browser' : ''})` : '';
}

function describeTurn() {
  const s = game.state;
  if (s.outcome) {
    const winner = s.outcome.result === '1-0' ? 'red' : s.outcome.result === '0-1' ? 'black' : null;
    say(`Game over: ${s.outcome.result} by ${s.outcome.reason}${winner ? (winner === game.side ? ' — you win!' : ' — the model wins.') : ' — a draw.'}`);
  } else if (s.side === game.side) say(`Your move (${game.side})${s.inCheck ? ' — you are in check!' : ''}`);
  else say('The model is thinking…');
}

async function setMoves(moves) {
  game.state = await api('/api/state', { moves });
  game.moves = moves;
  game.selected = null;
  render();
  describeTurn();
}

let browserPlayer = null;

/**
 * The library's own player, in this page: its browser build (/lib/bert4ts.js, onnxruntime-web) and the
 * server's weights. It scores and chooses exactly as the server's player does (rule checks included).
 */
async function loadBrowserPlayer() {
  if (!browserPlayer) {
    browserPlayer = (async () => {
      const lib = await import('/lib/bert4ts.js');
      // Not cached: the weights are whatever model this server runs now.
      const model = lib.xiangqi.loadPlayerModel(await lib.readFile('/api/model.safetensors', { cache: false }));
      return { lib, player: await lib.xiangqi.Player.create(model) };
    })();
    browserPlayer.catch(() => { browserPlayer = null; });
  }
  return browserPlayer;
}

/** The model's move chosen in the page by the library's Player (policy mode, the page's temperature). */
async function browserReply() {
  const { lib, player } = await loadBrowserPlayer();
  const { Position, parseIccs, formatMove, moveToIccs } = lib.xiangqi;
  const pos = Position.start();
  for (const m of game.moves) pos.play(parseIccs(pos, m));
  const choice = await player.choose(pos, { temperature: temperature() });
  const candidates = choice.candidates.slice(0, 8).map((c) => ({ iccs: c.iccs, chinese: formatMove(pos, c.move, 'chinese'), probability: c.probability }));
  return { move: moveToIccs(choice.move), candidates, thinkMs: Math.round(choice.thinkMs), where: 'browser' };
}

const temperature = () => Number(document.getElementById('temperature').value);

async function modelReply() {
  const s = game.state;
  if (s.outcome || s.side === game.side) return;
  if (!game.ready) { say('The model is not loaded, so it cannot reply (see the message above).', true); return; }
  game.busy = true;
  try {
    let reply;
    const mode = document.getElementById('mode').value;
    // The browser runs the policy network only; the value and search levels are the server's.
    if (document.getElementById('engine').value === 'browser' && mode === 'policy') {
      reply = await browserReply();
      reply.state = await api('/api/state', { moves: [...game.moves, reply.move] }); // the server still checks the rules
    } else {
      reply = await api('/api/reply', { moves: game.moves, temperature: temperature(), mode });
    }
    game.moves = [...game.moves, reply.move];
    game.state = reply.state;
    game.lastMove = reply.move;
    render();
    renderCandidates(reply);
    describeTurn();
  } catch (e) {
    say(`The model could not reply: ${e.message}`, true);
  } finally {
    game.busy = false;
  }
}

async function onSquare(sq) {
  const s = game.state;
  if (!s || game.busy) return;
  if (s.outcome) { describeTurn(); return; }
  if (s.side !== game.side) { say('Wait for the model to move.'); return; }
  const own = s.pieces.find((p) => p.square === sq && p.side === game.side);
  if (own) {
    game.selected = game.selected === sq ? null : sq;
    render();
    if (game.selected && !(s.legal[sq] ?? []).length) say('That piece has no legal move.', true);
    return;
  }
  if (!game.selected) { say('Click one of your pieces first.'); return; }
  if (!(s.legal[game.selected] ?? []).includes(sq)) {
    say(`Illegal move ${game.selected}${sq}: pick one of the highlighted squares.`, true);
    return;
  }
  game.busy = true;
  try {
    const move = game.selected + sq;
    await setMoves([...game.moves, move]);
    game.lastMove = move;
    render();
  } catch (e) {
    say(e.message, true);
    return;
  } finally {
    game.busy = false;
  }
  await modelReply();
}

async function newGame() {
  if (game.busy) {
    document.getElementById('side').value = game.side; // keep the control truthful while the model thinks
    say('Wait for the model to move, then start a new game.');
    return;
  }
  game.side = document.getElementById('side').value;
  game.lastMove = null;
  renderCandidates(null);
  try {
    await setMoves([]);
    await modelReply();
  } catch (e) {
    say(e.message, true);
  }
}

async function undo() {
  if (game.busy || !game.state) return;
  // Back to the user's previous turn: drop the model's reply and the user's move.
  let moves = [...game.moves];
  const userMoves = (m) => m.filter((_, i) => (i % 2 === 0) === (game.side === 'red')).length;
  if (userMoves(moves) === 0) { say('Nothing to undo.'); return; }
  const target = userMoves(moves) - 1;
  while (moves.length && (userMoves(moves) > target || (moves.length % 2 === 0) !== (game.side === 'red'))) moves = moves.slice(0, -1);
  game.lastMove = moves.length ? moves[moves.length - 1] : null;
  renderCandidates(null);
  try { await setMoves(moves); } catch (e) { say(e.message, true); }
}

document.getElementById('new-game').addEventListener('click', newGame);
document.getElementById('undo').addEventListener('click', undo);
document.getElementById('side').addEventListener('change', newGame);

(async () => {
  try {
    const info = await api('/api/info');
    game.ready = info.ready;
    const banner = document.getElementById('banner');
    if (!info.ready) { banner.hidden = false; banner.textContent = `No model loaded: ${info.error}`; }
    else {
      for (const o of document.getElementById('mode').options) o.disabled = !info.modes.includes(o.value);
      document.getElementById('model-info').textContent = `Model: GPT-2 style, ${info.layers} layers, hidden ${info.hidden}, trained ${info.step ?? '?'} steps on the Chinese Chess Practical Dataset (CCPD, CC BY 4.0).`;
    }
  } catch (e) {
    say(`Cannot reach the server: ${e.message}`, true);
    return;
  }
  await newGame();
})();
