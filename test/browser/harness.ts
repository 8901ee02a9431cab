// What the real-browser tests share: Debian's chromium (skip when absent), a fresh headless profile
// per launch, and the page server (xiangqi page + playground) on a free port with a tiny player.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Player } from '../../src/xiangqi/player/player.ts';
import { createPlayerServer } from '../../src/xiangqi/player/server.ts';
import { tinyModel } from '../xiangqi-player/fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** A skip reason when the browser is absent, else false. */
export const chromiumAbsent: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (run .ci/install-browser.sh to install Debian's chromium)`;

/** Headless chromium with a fresh profile (playwright passes it as --user-data-dir); cleanup removes both. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'bert4ts-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { browser, cleanup: async () => { await browser.close(); rmSync(profile, { recursive: true, force: true }); } };
}

/** The page server with a tiny seeded player, listening on 127.0.0.1 at a free port. */
export async function startPageServer(seed: number): Promise<{ base: string; player: Player; close: () => Promise<void> }> {
  const player = await Player.create(tinyModel(seed));
  const server = createPlayerServer({ player });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, player,
    close: async () => { await new Promise((r) => server.close(r)); await player.release(); },
  };
}
