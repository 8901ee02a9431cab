// Paths shared by the tokenizer tests. Shared data lives beside the repo and may be absent in a
// fresh clone: tests that need it skip with a message saying so.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizers/', import.meta.url));
export const SHARED = fileURLToPath(new URL('../../../shared/data/tokenizers/', import.meta.url));
export const haveShared = existsSync(SHARED);
export const sharedSkip = haveShared ? false : `shared tokenizer files not found at ${SHARED}`;

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(FIXTURES + name, 'utf8')) as T;
}
