#!/usr/bin/env node
// Installed from npm, the package holds the compiled dist/ and runs it with plain node. In a clone
// (src/ beside bin/, no build step), tsx compiles the TypeScript sources on the fly; tsx is a
// devDependency, so only the clone needs it. BERT4TS_DIST=1 runs a clone's dist/ (after `npm run build`).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
let main;
if (existsSync(source) && process.env.BERT4TS_DIST !== '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(source.href));
} else {
  ({ main } = await import('../dist/cli/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
