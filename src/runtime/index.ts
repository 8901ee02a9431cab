export { compile, Executable, hostTensor, clearSessionCache, FeedError, NonFiniteError, type Feeds, type RuntimeOptions } from './session.ts';
export { lower, markWeightsChanged, LoweredModel, OPSET } from './lower.ts';
export { exportOnnx } from './export.ts';
export { completeFeeds } from './feeds.ts';
export { quantizeLowered, quantizeInt8, checkQuantizeOptions, QuantizeError, QUANTIZE_MODES, type QuantizeMode, type QuantizeOptions, type QuantizeReport } from './quantize.ts';
