import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../src/cli/main.ts';

test('bert4ts --help lists commands and exits 0; unknown command exits 2', async () => {
  const writes: string[] = [];
  const orig = process.stdout.write.bind(process.stdout);
  const origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as any).write = (s: string) => (writes.push(s), true);
  (process.stderr as any).write = (s: string) => (writes.push(s), true);
  try {
    assert.equal(await main(['--help']), 0);
    assert.match(writes.join(''), /Usage: bert4ts <command>/);
    assert.equal(await main(['no-such-command']), 2);
    assert.match(writes.join(''), /unknown command 'no-such-command'/);
  } finally {
    (process.stdout as any).write = orig;
    (process.stderr as any).write = origErr;
  }
});
