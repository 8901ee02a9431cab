export { ParamStore, Scope, initializers, type Init, type ScopeOptions } from './params.ts';
export { Random } from '../util/random.ts'; // public here, as before it moved to util
export { dense, embedding, layerNorm, rmsNorm, dropout, feedForward, activate, splitHeads, mergeHeads, type Activation } from './layers.ts';
export { attention, paddingMask, causalAttentionMask, unilmMask, andMasks, type AttentionOptions } from './attention.ts';
export { featureRedraw, drawFeatures, performerAttention, kernelAttention, causalKernelAttention, eluFeatures, checkAttentionSpec, type AttentionSpec, type AttentionKind, type RunningSums } from './performer.ts';
export { conditionalRandomField, crfTransitions, crfPathScore, crfLogPartition, crfLoss, ViterbiDecoder, bioConstraints, type ViterbiConstraints } from './crf.ts';
export { globalPointer, efficientGlobalPointer, applyRope, decodeSpans, type GlobalPointerOptions, type GlobalPointerSpan } from './globalPointer.ts';
export { rnn, simpleRNN, lstm, gru, bidirectional, rnnStep, rnnWeights, orthogonal, orthogonalBlocks, rnnWeightsFromPyTorch, rnnWeightsFromKeras, setRnnWeights, loadPyTorchRnn, GATES, type RnnCell, type RnnActivation, type RnnOptions, type RnnOutput, type RnnWeightValues, type TensorReader } from './rnn.ts';
