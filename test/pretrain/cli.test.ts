// bert4ts pretrain: usage errors exit 2 and name the option.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--generator-ratio', '0.5'], /--generator-ratio applies to --objective electra .*this run is --objective mlm/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--objective', 'mlm', '--generator-ratio', '0.5'], /--generator-ratio applies to --objective electra/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--objective', 'electra', '--generator-ratio', '0'], /--generator-ratio must be a number > 0 and <= 1, got "0"/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--objective', 'electra', '--generator-ratio', '1.5'], /--generator-ratio must be a number > 0 and <= 1, got "1\.5"/],
    [['pretrain', '--out', 'r', '--resume', '--generator-ratio', '0.5'], /drop --generator-ratio/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--init', 'models/chinese-small', '--vocab', 'v.txt', '--hidden', '64'], /--init takes the vocabulary and size from models\/chinese-small; drop --vocab, --hidden/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--init', 'models/chinese-small', '--objective', 'electra'], /--init continues MLM pretraining/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--init', '/nonexistent/model'], /init model \/nonexistent\/model: not a model directory/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--init', 'models/chinese-small', '--maxlen', '256'], /--maxlen 256 exceeds the init model's 128 positions/],
    [['pretrain', '--out', 'r', '--resume', '--init', 'models/chinese-small'], /drop --init/],
    [['pretrain', '--out', 'r', '--input', 'txt:x', '--vocab', 'v.txt', '--train-minutes', '0'], /--train-minutes must be a number > 0/],
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

test('--generator-ratio is recorded in run.json and sizes the generator; the API refuses it for MLM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-cli-ratio-'));
  try {
    mkdirSync(join(dir, 'corpus'));
    const lines = ['床前明月光', '疑是地上霜', '举头望明月', '低头思故乡'];
    writeFileSync(join(dir, 'corpus', 'a.txt'), Array.from({ length: 60 }, (_, d) => lines[d % 4] + lines[(d + 1) % 4] + d).join('\n'));
    writeFileSync(join(dir, 'vocab.txt'), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...new Set(lines.join('') + '0123456789')].join('\n'));
    const base = ['pretrain', '--input', `txt:${join(dir, 'corpus')}@line`, '--vocab', join(dir, 'vocab.txt'), '--min-count', '1', '--layers', '1', '--hidden', '64', '--heads', '1',
      '--maxlen', '16', '--batch', '2', '--steps', '4', '--warmup', '1', '--stop-at', '1', '--eval-rows', '2', '--held-out', '100', '--quiet'];
    // main itself, not run(): capturing stdout for the run's seconds would swallow the test reporter's output.
    assert.equal(await main([...base, '--out', join(dir, 'e'), '--objective', 'electra', '--generator-ratio', '0.5']), 0);
    assert.equal(JSON.parse(readFileSync(join(dir, 'e', 'run.json'), 'utf8')).generatorRatio, 0.5);
    assert.equal(JSON.parse(readFileSync(join(dir, 'e', 'generator_config.json'), 'utf8')).hidden_size, 32);
    const { pretrain, DEFAULT_SETTINGS } = await import('../../src/training/pretrain/run.ts');
    const mlm = { ...DEFAULT_SETTINGS, sources: [], vocab: 'v.txt', generatorRatio: 0.5 };
    await assert.rejects(pretrain(mlm, { out: join(dir, 'm'), resume: false, checkpointMinutes: 1, evalEvery: 1, logEvery: 1 }), /generatorRatio 0\.5 applies to objective 'electra' only \(this run is 'mlm'\)/);
    await assert.rejects(pretrain({ ...mlm, objective: 'electra', generatorRatio: 2 }, { out: join(dir, 'm'), resume: false, checkpointMinutes: 1, evalEvery: 1, logEvery: 1 }), /generatorRatio must be > 0 and <= 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
