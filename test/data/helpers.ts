// Shared paths for the data tests: the corpora live beside the repo and may be absent in a fresh
// clone, so tests that need them skip with a message saying so.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const SHARED = fileURLToPath(new URL('../../../shared/data/', import.meta.url));
export const sharedSkip = (path: string) => (existsSync(SHARED + path) ? false : `shared data not found at ${SHARED + path}`);

/** A temp directory removed after the test; `write(name, text)` puts a file in it. */
export function tempDir(t: TestContext): { dir: string; write: (name: string, text: string | Buffer) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'bert4ts-data-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, write: (name, text) => (writeFileSync(join(dir, name), text), join(dir, name)) };
}
