// The pretrained models shipped in models/ reload from their directories and reproduce the held-out
// MLM accuracy their pretraining.json (and model card) records: same sources, split and masks, read
// from this checkout's ../shared/data wherever the run's absolute paths pointed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { evaluateModelDir } from '../../src/training/pretrain/export.ts';
import type { CorpusSource } from '../../src/training/pretrain/corpus.ts';

const data = resolve('../shared/data');
const noData = existsSync(data) ? false : `${data} is absent (../shared not present)`;

for (const dir of ['models/chinese-small', 'models/chinese-small-v2', 'models/chinese-small-v3']) {
  test(`${dir} reloads and scores the held-out MLM accuracy its pretraining.json records`, { skip: noData }, async () => {
    const info = JSON.parse(readFileSync(resolve(dir, 'pretraining.json'), 'utf8')) as { heldOutAccuracy: number; settings: { sources: CorpusSource[] } };
    const sources = info.settings.sources.map((s) => {
      const at = s.path.indexOf('shared/data/');
      assert.ok(at >= 0, `${s.path}: a source outside shared/data`);
      return { ...s, path: resolve(data, s.path.slice(at + 'shared/data/'.length)) };
    });
    const f = await evaluateModelDir(dir, sources);
    assert.equal(f.tokens, 4861);
    assert.ok(Math.abs(f.accuracy - info.heldOutAccuracy) < 1e-9, `${dir}: ${f.accuracy} against the recorded ${info.heldOutAccuracy}`);
  });
}
