/**
 * The model card's training curve: `node --import tsx models/chinese-small/plot.ts [RUN/log.jsonl] [OUT.svg]`
 * draws the training loss (mean per logged window) and the held-out MLM accuracy against the step
 * from a pretraining run's log, as a small self-contained SVG. Also prints the held-out rows as a
 * Markdown table for the card.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../src/util/files.ts';

const [logPath = '/work/runs/chinese-small/log.jsonl', out = new URL('./training-curve.svg', import.meta.url).pathname] = process.argv.slice(2);
const rows = readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
// A resumed run may repeat steps after its last checkpoint: keep the latest row for each step.
const latest = <T extends Record<string, number>>(xs: T[]) => [...new Map(xs.map((r) => [r.step, r])).values()].sort((a, b) => a.step! - b.step!);
const loss = latest(rows.filter((r) => typeof r.loss === 'number' && r.event === undefined));
const acc = latest(rows.filter((r) => typeof r.heldout_acc === 'number'));

const W = 640, H = 260, pad = { l: 52, r: 52, t: 24, b: 36 };
const maxStep = Math.max(1, ...loss.map((r) => r.step!), ...acc.map((r) => r.step!));
const maxLoss = Math.max(...loss.map((r) => r.loss!), 1), minLoss = Math.min(...loss.map((r) => r.loss!), maxLoss - 1);
const maxAcc = Math.max(0.05, ...acc.map((r) => r.heldout_acc!));
const x = (s: number) => pad.l + ((W - pad.l - pad.r) * s) / maxStep;
const yL = (v: number) => pad.t + ((H - pad.t - pad.b) * (maxLoss - v)) / (maxLoss - minLoss);
const yA = (v: number) => pad.t + ((H - pad.t - pad.b) * (1 - v / maxAcc));
const path = (pts: [number, number][]) => pts.map(([a, b], i) => `${i ? 'L' : 'M'}${a.toFixed(1)},${b.toFixed(1)}`).join('');
const ticks = (n: number, max: number) => Array.from({ length: n + 1 }, (_, i) => (max * i) / n);
const svg = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#444"/>`,
  ...ticks(5, maxStep).map((s) => `<text x="${x(s).toFixed(1)}" y="${H - pad.b + 14}" text-anchor="middle">${Math.round(s)}</text>`),
  `<text x="${W / 2}" y="${H - 6}" text-anchor="middle">step</text>`,
  ...ticks(4, 1).map((f) => { const v = minLoss + (maxLoss - minLoss) * f; return `<text x="${pad.l - 6}" y="${yL(v) + 4}" text-anchor="end" fill="#1f5fa8">${v.toFixed(1)}</text>`; }),
  ...ticks(4, maxAcc).map((v) => `<text x="${W - pad.r + 6}" y="${yA(v) + 4}" fill="#c0392b">${(100 * v).toFixed(0)}%</text>`),
  `<path d="${path(loss.map((r) => [x(r.step!), yL(r.loss!)]))}" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>`,
  `<path d="${path(acc.map((r) => [x(r.step!), yA(r.heldout_acc!)]))}" fill="none" stroke="#c0392b" stroke-width="2"/>`,
  ...acc.map((r) => `<circle cx="${x(r.step!).toFixed(1)}" cy="${yA(r.heldout_acc!).toFixed(1)}" r="2.5" fill="#c0392b"/>`),
  `<text x="${pad.l}" y="14" fill="#1f5fa8">training MLM loss (left)</text>`,
  `<text x="${W - pad.r}" y="14" text-anchor="end" fill="#c0392b">held-out MLM accuracy (right)</text>`,
  '</svg>',
].join('\n');
writeFileAtomic(out, svg + '\n');
process.stdout.write(`| step | held-out MLM accuracy | held-out loss |\n|---:|---:|---:|\n${acc.map((r) => `| ${r.step} | ${(100 * r.heldout_acc!).toFixed(2)}% | ${r.heldout_loss!.toFixed(3)} |`).join('\n')}\n`);
process.stderr.write(`wrote ${out} (${loss.length} loss rows, ${acc.length} evaluations, last step ${maxStep})\n`);
