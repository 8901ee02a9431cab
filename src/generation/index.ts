export { GPT2Decoder, type IncrementalLM, type DecoderState, type StepInput, type DecoderRuntimeOptions } from './causalLM.ts';
export { T5Seq2Seq } from './seq2seq.ts';
export { greedy, sample, beamSearch, stream, AutoRegressiveDecoder, type Hypothesis, type LengthOptions, type SampleOptions, type BeamOptions } from './decode.ts';
export { decoderFor, generatorFor } from './forModel.ts';
