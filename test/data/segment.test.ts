import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { textSegmentate } from '../../src/data/index.ts';

// bert4keras's usual separators (e.g. examples/task_sentiment_*.py).
const SEPS = '\n。！？!?；;，, ', STRIPS = '；;，, ';

test('textSegmentate: cases checked by hand against bert4keras text_segmentate', () => {
  assert.deepEqual(textSegmentate('今天天气很好。我们去公园玩吧！你觉得怎么样？', 10, SEPS, STRIPS), ['今天天气很好。', '我们去公园玩吧！', '你觉得怎么样？']);
  assert.deepEqual(textSegmentate('一二三四五，六七八九十，甲乙丙丁戊己庚辛壬癸', 8, SEPS, STRIPS), ['一二三四五', '六七八九十', '甲乙丙丁戊己庚辛壬癸'], 'the ，is stripped; no separator left: stays long');
  assert.deepEqual(textSegmentate('  前后有空格。 ', 3, SEPS, STRIPS), ['前后有空格。']);
  assert.deepEqual(textSegmentate('a\nb\nc', 3), ['a', 'b', 'c']);
  assert.deepEqual(textSegmentate('短句', 10, SEPS, STRIPS), ['短句']);
  assert.deepEqual(textSegmentate('', 5, SEPS, STRIPS), ['']);
  assert.deepEqual(textSegmentate('𠀀𠀁𠀂。𠀃𠀄', 3, SEPS, STRIPS), ['𠀀𠀁𠀂。', '𠀃𠀄'], 'lengths in code points, as Python');
  assert.deepEqual(textSegmentate('ab。cd', 3, ['。']), ['ab。', 'cd'], 'separators as a list');
});

test('property: pieces join back to the text, and fit when every clause does', () => {
  const word = (max: number) => fc.array(fc.constantFrom('字', '词', 'a'), { minLength: 1, maxLength: max }).map((cs) => cs.join(''));
  fc.assert(fc.property(fc.integer({ min: 3, max: 30 }).chain((maxlen) => fc.tuple(fc.constant(maxlen), fc.array(word(maxlen - 2), { maxLength: 40 }))), ([maxlen, words]) => {
    const text = words.join('，');
    const pieces = textSegmentate(text, maxlen, '。，');
    assert.equal(pieces.join(''), text);
    assert.ok(pieces.every((p) => p.length <= maxlen), `${pieces.join(' | ')} (maxlen ${maxlen})`);
  }), { seed: 5, numRuns: 300 });
  assert.deepEqual(textSegmentate('字，，', 2, '。，'), ['字，，'], 'runs of separators stay together, as in bert4keras');
});
