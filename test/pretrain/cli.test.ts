// bert4ts pretrain: usage errors exit 2 and name the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../src/cli/main.ts';
import { deadlineOption } from '../../src/cli/pretrain.ts';

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const writes: string[] = [];
  const orig = process.stdout.write.bind(process.stdout), origErr = process.stderr.write.bind(process.stderr);
  (process.stdout as any).write = (s: string) => (writes.push(s), true);
  (process.stderr as any).write = (s: string) => (writes.push(s), true);
  try {
    return { code: await main(argv), out: writes.join('') };
  } finally {
    (process.stdout as any).write = orig;
    (process.stderr as any).write = origErr;
  }
}

test('bert4ts pretrain: help, and usage errors that name the option', async () => {
  const help = await run(['pretrain', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /FORMAT:PATH\[#ZIP_MEMBER\]\[@SPEC\]/);
  const cases: [string[], RegExp][] = [
    [['pretrain', '--input', 'txt:x', '--vocab', 'v.txt'], /--out RUN is required/],
    [['pretrain', '--out', 'r', '--vocab', 'v.txt'], /at least one --input/],
    [['pretrain', '--out', 'r', '--input', 'csv:x.csv', '--vocab', 'v.txt'], /--input csv:x\.csv: a source is FORMAT:PATH/],
    [['pretrain', '--out', 'r', '--input', 'tsv:x.tsv@a', '--vocab', 'v.txt'], /tsv columns are 0-based integers/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--objective', 'nsp'], /--objective must be mlm or electra/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--deadline', '25:00'], /--deadline 25:00 is not a time of day/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--maxlen', '256', '--max-position', '128'], /--maxlen 256 exceeds --max-position 128/],
    [['pretrain', '--out', 'r', '--resume', '--layers', '6'], /--resume keeps the run's settings \(run\.json\); drop --layers/],
    [['pretrain', 'export', 'run-only'], /pretrain export takes RUN and OUT/],
    [['pretrain', 'frobnicate'], /unknown pretrain mode 'frobnicate'/],
  ];
  for (const [argv, message] of cases) {
    const r = await run(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.out}`);
    assert.match(r.out, message);
  }
  const missing = await run(['pretrain', '--out', '/nonexistent/run', '--resume']);
  assert.equal(missing.code, 1);
  assert.match(missing.out, /checkpoint\.safetensors: no checkpoint to resume/);
});

test('--deadline: a time of day already past means the next one; an ISO time past is refused', () => {
  const ago = new Date(Date.now() - 2 * 60_000);
  const hhmm = `${ago.getHours()}:${String(ago.getMinutes()).padStart(2, '0')}`;
  const t = deadlineOption(hhmm, undefined)!;
  const hours = (t - Date.now()) / 3_600_000;
  assert.ok(hours > 23.9 && hours < 24, `${hhmm} should be about 24 h ahead, got ${hours.toFixed(3)} h`);
  const soon = new Date(Date.now() + 10 * 60_000);
  const ahead = (deadlineOption(`${soon.getHours()}:${String(soon.getMinutes()).padStart(2, '0')}`, undefined)! - Date.now()) / 60_000;
  assert.ok(ahead > 8 && ahead <= 10, `a time 10 min ahead stays today, got ${ahead.toFixed(1)} min`);
  assert.throws(() => deadlineOption(new Date(Date.now() - 60_000).toISOString(), undefined), /has already passed/);
  assert.equal(deadlineOption(undefined, 5)! > Date.now() + 4.9 * 60_000, true);
});
