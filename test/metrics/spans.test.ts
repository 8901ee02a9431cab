import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extractSpans, spanPRF, MetricError, type Scheme } from '../../src/metrics/index.ts';
import { fixture, closeDeep } from './helpers.ts';

const spans = (tags: string[], scheme?: Scheme) => extractSpans(tags, { scheme }).map((s) => [s.type, s.start, s.end]);

test('default (lenient) mode, by hand, malformed sequences included', () => {
  assert.deepEqual(spans(['B-PER', 'I-PER', 'O', 'B-LOC']), [['PER', 0, 2], ['LOC', 3, 4]]);
  assert.deepEqual(spans(['O', 'I-PER', 'I-PER']), [['PER', 1, 3]], 'an I- without B- starts a span');
  assert.deepEqual(spans(['B-PER', 'I-LOC']), [['PER', 0, 1], ['LOC', 1, 2]], 'a type change splits');
  assert.deepEqual(spans(['B-PER', 'E-PER', 'S-LOC']), [['PER', 0, 2], ['LOC', 2, 3]], 'BIOES read too');
  assert.deepEqual(spans(['B', 'I', 'O']), [['_', 0, 2]], 'no type');
  assert.deepEqual(spans([]), []);
  assert.throws(() => extractSpans(['O', '']), (e: Error) => e instanceof MetricError && /position 1/.test(e.message));
});

test('seqeval docstring example: span F1 0.5, MISC 0 and PER 1', () => {
  const y = [['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const p = [['O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const r = spanPRF(y, p);
  assert.equal(r.micro.f1, 0.5);
  assert.equal(r.macro.f1, 0.5);
  assert.equal(r.perLabel.MISC!.f1, 0);
  assert.equal(r.perLabel.PER!.f1, 1);
  assert.throws(() => spanPRF(y, [p[0]!]), /2 label sequences but 1 predicted/);
  assert.throws(() => spanPRF([['O']], [['O', 'O']]), /row 0: 1 labels but 2 predicted tags/);
});

// Expected entities from seqeval's own tests (tests/test_scheme.py, strict mode), as [tags, spans].
const STRICT_CASES: [Scheme, string, string][] = [
  ['IOB2', 'B-PER', 'PER 0 1'], ['IOB2', 'I-PER', ''], ['IOB2', 'O I-PER', ''], ['IOB2', 'O B-PER', 'PER 1 2'],
  ['IOB2', 'I-PER I-PER', ''], ['IOB2', 'I-PER B-ORG', 'ORG 1 2'], ['IOB2', 'B-PER I-PER', 'PER 0 2'],
  ['IOB2', 'B-PER I-ORG', 'PER 0 1'], ['IOB2', 'B-PER B-PER', 'PER 0 1, PER 1 2'], ['IOB2', 'B I', '_ 0 2'],
  ['IOE2', 'E-PER', 'PER 0 1'], ['IOE2', 'I-PER', ''], ['IOE2', 'I-PER E-PER', 'PER 0 2'], ['IOE2', 'I-PER E-ORG', 'ORG 1 2'],
  ['IOE2', 'E-PER I-PER', 'PER 0 1'], ['IOE2', 'E-PER E-ORG', 'PER 0 1, ORG 1 2'],
  ['IOBES', 'S-PER', 'PER 0 1'], ['IOBES', 'B-PER', ''], ['IOBES', 'B-PER E-PER', 'PER 0 2'], ['IOBES', 'B-PER I-PER', ''],
  ['IOBES', 'B-PER E-ORG', ''], ['IOBES', 'B-PER S-PER', 'PER 1 2'], ['IOBES', 'I-PER S-PER', 'PER 1 2'],
  ['IOBES', 'E-PER S-PER', 'PER 1 2'], ['IOBES', 'S-PER E-PER', 'PER 0 1'], ['IOBES', 'S-PER S-PER', 'PER 0 1, PER 1 2'],
];

test("strict schemes reproduce seqeval's published test expectations", () => {
  for (const [scheme, tags, want] of STRICT_CASES) {
    const got = spans(tags.split(' '), scheme).map((s) => s.join(' ')).join(', ');
    assert.equal(got, want, `${scheme} ${tags}`);
  }
  assert.throws(() => extractSpans(['O', 'S-PER'], { scheme: 'IOB2' }), /position 1: tag 'S-PER' has a prefix IOB2 does not allow/);
});

test('spans and span scores match the seqeval reference (fixtures, every mode)', () => {
  for (const [i, c] of fixture.spans.entries()) {
    const scheme = c.scheme ?? undefined;
    c.labels.forEach((tags: string[], s: number) => assert.deepEqual(spans(tags, scheme), c.spans[s], `case ${i} row ${s}`));
    closeDeep(spanPRF(c.labels, c.predictions, { scheme }), c.report, `case ${i} (${c.scheme})`);
  }
});

test('property: well-formed BIO and BIOES sequences round-trip through their spans', () => {
  // Random non-overlapping spans -> tags -> spans again, in both modes for BIO and strict for BIOES.
  const layout = fc.array(fc.record({ gap: fc.nat(3), len: fc.integer({ min: 1, max: 4 }), type: fc.constantFrom('PER', 'LOC', 'ORG') }), { maxLength: 6 });
  fc.assert(fc.property(layout, (parts) => {
    const bio: string[] = [], bioes: string[] = [], want: [string, number, number][] = [];
    for (const { gap, len, type } of parts) {
      for (let k = 0; k < gap; k++) bio.push('O'), bioes.push('O');
      want.push([type, bio.length, bio.length + len]);
      for (let k = 0; k < len; k++) {
        bio.push(`${k ? 'I' : 'B'}-${type}`);
        bioes.push(`${len === 1 ? 'S' : k === 0 ? 'B' : k === len - 1 ? 'E' : 'I'}-${type}`);
      }
    }
    assert.deepEqual(spans(bio), want);
    assert.deepEqual(spans(bio, 'IOB2'), want);
    assert.deepEqual(spans(bioes, 'IOBES'), want);
    assert.deepEqual(spans(bioes), want);
    assert.equal(spanPRF([bio], [bio]).micro.f1, want.length ? 1 : 0);
  }), { seed: 17, numRuns: 300 });
});
