// KV-cached generation from a checkpoint directory: greedy, batched beam search, seeded sampling,
// streaming. Uses the tiny GPT-2 fixture shipped with the tests; point it at a real GPT-2 / CPM-LM
// directory (config.json + model.safetensors or pytorch_model.bin) for real text.
//   npx tsx examples/generate.ts [model dir]
import { beamSearch, buildModel, decoderFor, greedy, sample, stream } from '../src/index.ts';

const dir = process.argv[2] ?? 'test/fixtures/reference/gpt2-lm';
const model = buildModel(dir, { checkpoint: dir });
const lm = decoderFor(model);
const prompts = [[1, 2, 3], [7, 8]]; // a batch of prompts of different lengths (left-padded inside)
console.log('greedy   ', JSON.stringify(await greedy(lm, prompts, { maxNewTokens: 8 })));
console.log('no repeat', JSON.stringify(await greedy(lm, prompts, { maxNewTokens: 8, noRepeatNgramSize: 2 }))); // no generated bigram twice
const beams = await beamSearch(lm, prompts, { maxNewTokens: 8, beamSize: 4, nBest: 2, lengthPenalty: 1 });
console.log('beam     ', JSON.stringify(beams.map((hs) => hs.map((h) => `${h.ids.join(' ')} (${h.score.toFixed(3)})`))));
console.log('sample   ', JSON.stringify(await sample(lm, prompts, { maxNewTokens: 8, n: 2, topK: 10, topP: 0.9, temperature: 0.8, seed: 1 })));
process.stdout.write('streamed  ');
for await (const token of stream(lm, prompts[0]!, { maxNewTokens: 8 })) process.stdout.write(`${token} `);
process.stdout.write('\n');
