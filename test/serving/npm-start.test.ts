// npm does not forward SIGTERM to `npm start`'s script: the server must notice its npm parent is gone
// and shut down instead of living on as an orphan holding the port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

test('npm start: SIGTERM to npm stops the server it started', { timeout: 60_000 }, async () => {
  const npm = spawn('npm', ['start', '--silent'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  npm.stderr.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    npm.stdout.on('data', (d) => { const m = /(http:\/\/\S+)\//.exec(String(d)); if (m) resolve(m[1]!); });
    npm.once('exit', (code) => reject(new Error(`npm exited ${code}: ${stderr}`)));
  });
  assert.equal((await fetch(url + '/')).status, 200);
  npm.kill('SIGTERM');
  const deadline = Date.now() + 10_000;
  let up = true;
  while (up && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    up = await fetch(url + '/').then(() => true, () => false);
  }
  assert.equal(up, false, 'the server still answers 10 s after npm was stopped');
});
