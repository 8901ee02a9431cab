// End to end in a real browser (Debian's chromium via playwright-core): open the page, play moves
// by clicking, see the model reply legally, undo, start a new game as black. Skips when
// /usr/bin/chromium is absent (install it with .ci/install-browser.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Position, moveToIccs } from '../../src/xiangqi/board.ts';
import { parseIccs } from '../../src/xiangqi/notation.ts';
import type { Player } from '../../src/xiangqi/player/player.ts';
import { chromiumAbsent, launchChromium, startPageServer } from '../browser/harness.ts';

const skip = chromiumAbsent;

let page: Awaited<ReturnType<typeof startPageServer>>, player: Player, base = '';
before(async () => {
  if (skip) return;
  page = await startPageServer(11);
  ({ player, base } = page);
});
after(async () => { if (!skip) await page.close(); });

const launch = launchChromium;

/** The page, loaded and waiting for the user's first move; script errors are collected. */
async function openPage(browser: Awaited<ReturnType<typeof launch>>['browser']) {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base + '/');
  await page.waitForSelector('#status:has-text("Your move")');
  return { page, errors };
}

test('play by clicking: legal targets highlighted, the model replies legally, undo, new game as black with variety', { skip, timeout: 120_000 }, async () => {
  const { browser, cleanup } = await launch();
  try {
    const { page, errors } = await openPage(browser);
    assert.equal(await page.locator('[data-piece]').count(), 32);

    const pos = Position.start();
    for (const [from, to] of [['h2', 'e2'], ['b0', 'c2'], ['i0', 'i1']]) {
      const iccs = from + to;
      if (!pos.isLegal(parseIccs(pos, iccs))) break; // the model's reply may have made our line illegal
      const before = await page.locator('#moves li').count();
      await page.click(`[data-square="${from}"]`);
      const targets = await page.locator('[data-target]').evaluateAll((els) => els.map((e) => e.getAttribute('data-target')));
      const legal = pos.legalMoves().map(moveToIccs).filter((m) => m.startsWith(from)).length;
      assert.equal(targets.length, legal, `${from}: one highlight per legal destination`);
      assert.ok(targets.includes(to));
      await page.click(`[data-square="${to}"]`);
      await page.waitForFunction((n) => document.querySelectorAll('#moves li').length === n + 2, before, { timeout: 30_000 });
      pos.play(parseIccs(pos, iccs));
      const reply = await page.locator('#moves li').last().getAttribute('title'); // "h9g7 · H8+7"
      const replyIccs = reply!.split(' ')[0]!;
      assert.ok(pos.isLegal(parseIccs(pos, replyIccs)), `the model's reply ${replyIccs} is legal`);
      pos.play(parseIccs(pos, replyIccs));
      assert.ok(await page.locator('#candidates tr').count() >= 3, 'candidates shown');
      assert.match((await page.locator('#candidates tr').first().textContent())!, /%/);
    }
    const played = await page.locator('#moves li').count();
    assert.ok(played >= 2);
    assert.match((await page.locator('#moves li').first().textContent())!, /炮二平五/);

    // A destination that is not highlighted is refused with a message, and nothing is played.
    const legalIccs = pos.legalMoves().map(moveToIccs);
    const from = legalIccs[0]!.slice(0, 2);
    const offTarget = ['e5', 'a5', 'i5', 'e4'].find((sq) => sq !== from && !legalIccs.includes(from + sq) && !legalIccs.some((m) => m.startsWith(sq)))!;
    await page.click(`[data-square="${from}"]`);
    await page.click(`[data-square="${offTarget}"]`);
    await page.waitForSelector(`#status:has-text("Illegal move ${from}${offTarget}")`);
    assert.equal(await page.locator('#moves li').count(), played);

    await page.click('#undo');
    await page.waitForFunction((n) => document.querySelectorAll('#moves li').length === n - 2, played);

    // With variety chosen, the model's reply is asked for at that temperature.
    await page.selectOption('#temperature', '1');
    const replyRequest = page.waitForRequest((r) => r.url().endsWith('/api/reply'));
    await page.selectOption('#side', 'black');
    assert.equal(JSON.parse((await replyRequest).postData()!).temperature, 1);
    await page.waitForFunction(() => document.querySelectorAll('#moves li').length === 1, undefined, { timeout: 30_000 });
    await page.waitForSelector('#status:has-text("Your move (black)")');
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await cleanup();
  }
});

test('in-browser mode: the library\'s Player in the page (its browser build) picks the same move as the server\'s player', { skip, timeout: 120_000 }, async () => {
  const { browser, cleanup } = await launch();
  try {
    const { page, errors } = await openPage(browser);
    const requested: string[] = [];
    page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    await page.selectOption('#engine', 'browser');
    const pos = Position.start();
    for (const iccs of ['h2e2', 'h0g2']) {
      if (!pos.isLegal(parseIccs(pos, iccs))) break;
      const before = await page.locator('#moves li').count();
      await page.click(`[data-square="${iccs.slice(0, 2)}"]`);
      await page.click(`[data-square="${iccs.slice(2)}"]`);
      await page.waitForFunction((n) => document.querySelectorAll('#moves li').length === n + 2, before, { timeout: 60_000 });
      pos.play(parseIccs(pos, iccs));
      const replyIccs = (await page.locator('#moves li').last().getAttribute('title'))!.split(' ')[0]!;
      const expected = await player.choose(pos);
      assert.equal(replyIccs, moveToIccs(expected.move), 'the browser and the server choose the same move');
      assert.match((await page.locator('#think').textContent())!, /in this browser/);
      const shown = await page.locator('#candidates tr').first().textContent();
      assert.match(shown!, new RegExp(`${moveToIccs(expected.move)}${(100 * expected.candidates[0]!.probability).toFixed(1)}%`));
      pos.play(expected.move);
    }
    // The page ran the library (bundle + the server's weights), not a copy of the scorer over raw ONNX.
    assert.ok(requested.includes('/lib/bert4ts.js') && requested.includes('/api/model.safetensors'), `requests: ${requested}`);
    assert.ok(!requested.includes('/api/model.onnx'));
    assert.deepEqual(errors, [], 'no script errors');
  } finally {
    await cleanup();
  }
});
