import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rouge, sentenceBleu, charScores, generationScores, fsum, MetricError } from '../../src/metrics/index.ts';
import { fixture, close, closeDeep } from './helpers.ts';

test("rouge reproduces the rouge package README's published output exactly", () => {
  // pltrdy/rouge README (confirmed in its issue 46): made by rouge 1.0.0, which counted repeated
  // n-grams for ROUGE-N ({ exclusive: false }) and distinct LCS tokens for ROUGE-L (the default).
  const hyp = "the #### transcript is a written version of each day 's cnn student news program use this transcript to he    lp students with reading comprehension and vocabulary use the weekly newsquiz to test your knowledge of storie s you     saw on cnn student news";
  const ref = "this page includes the show transcript use the transcript to help students with reading comprehension and     vocabulary at the bottom of the page , comment for a chance to be mentioned on cnn student news . you must be a teac    her or a student age # # or older to request a mention on the cnn student news roll call . the weekly newsquiz tests     students ' knowledge of even ts in the news";
  const repeats = rouge(hyp, ref, { exclusive: false });
  assert.deepEqual(repeats['rouge-1'], { f: 0.4786324739396596, p: 0.6363636363636364, r: 0.3835616438356164 });
  assert.deepEqual(repeats['rouge-2'], { f: 0.2608695605353498, p: 0.3488372093023256, r: 0.20833333333333334 });
  assert.deepEqual(rouge(hyp, ref)['rouge-l'], { f: 0.44705881864636676, p: 0.5277777777777778, r: 0.3877551020408163 });
});

test('rouge by hand: sets of n-grams, sentences at ".", empty input refused', () => {
  const r = rouge('a b a b', 'a b c');
  assert.deepEqual([r['rouge-1'].p, r['rouge-1'].r], [1, 2 / 3]); // {a, b} vs {a, b, c}
  assert.deepEqual([r['rouge-2'].p, r['rouge-2'].r], [0.5, 0.5]); // {ab, ba} vs {ab, bc}
  close(r['rouge-1'].f, 2 * (2 / 3) / (5 / 3 + 1e-8), 'f with the package epsilon');
  assert.deepEqual(rouge(' . ', 'a')['rouge-1'].p, 0, "' . ' is two empty sentences, as in the package");
  assert.throws(() => rouge('...', 'a'), (e: Error) => e instanceof MetricError && /hypothesis/.test(e.message));
  assert.throws(() => rouge('a', ''), /reference/);
});

test('rouge matches the rouge 1.0.1 reference, both counting modes (fixtures)', () => {
  for (const [i, c] of fixture.rouge.entries()) {
    closeDeep(rouge(c.hyp, c.ref), c.exclusive, `case ${i}`);
    closeDeep(rouge(c.hyp, c.ref, { exclusive: false }), c.repeats, `case ${i} repeats`);
  }
});

test('sentenceBleu matches nltk 3.8 with method1 and without smoothing (fixtures)', () => {
  for (const [i, c] of fixture.bleu.entries()) {
    close(sentenceBleu(c.references, c.hypothesis, { weights: c.weights }), c.method1, `case ${i} method1`);
    close(sentenceBleu(c.references, c.hypothesis, { weights: c.weights, smoothing: 'none' }), c.none, `case ${i} none`);
  }
  assert.equal(sentenceBleu([['a', 'b', 'c', 'd']], ['a', 'b', 'c', 'd']), 1);
  close(sentenceBleu([['a', 'b']], ['a', 'b']), Math.sqrt(0.1), 'missing 3- and 4-grams count 0.1 each');
  assert.throws(() => sentenceBleu([], ['a']), /at least one reference/);
});

test('charScores and generationScores: the autotitle example, Chinese pairs (fixtures)', () => {
  for (const c of fixture.char_scores) {
    const { prediction, reference, ...want } = c;
    closeDeep(charScores(prediction, reference), want, `${prediction} | ${reference}`);
  }
  const preds = fixture.char_scores.map((c: { prediction: string }) => c.prediction);
  const refs = fixture.char_scores.map((c: { reference: string }) => c.reference);
  const mean = generationScores(preds, refs);
  const n = preds.length;
  close(mean.bleu, fixture.char_scores.reduce((a: number, c: { bleu: number }) => a + c.bleu, 0) / n, 'mean bleu');
  assert.deepEqual(charScores(' ', '标题'), { 'rouge-1': 0, 'rouge-2': 0, 'rouge-l': 0, bleu: 0 }, 'blank prediction');
  assert.throws(() => generationScores(['a'], []), /1 predictions but 0 references/);
});

test('fsum is exact where a naive sum is not', () => {
  assert.equal(fsum([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]), 1);
  assert.equal(fsum([1e100, 1, -1e100, 1e-100]), 1);
  assert.equal(fsum([]), 0);
});
