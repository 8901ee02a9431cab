/** Model families and the one entry point, buildModel. */
export { buildModel, familyNames, modelFamilyOf, readConfigFile, registerFamily, Model, type BuildModelOptions, type FeedValue, type LoadReport, type TrainableFamily } from './build.ts';
export { registerHead, labelsFromConfig, type HeadContext, type HeadDefinition } from './heads.ts';
export { crfHead, globalPointerHead } from './taskHeads.ts';
export type { SaveOptions } from './save.ts';
export { bertFamily, buildBert, bertLoss, parseBertConfig, positionEmbedding, type BertConfig, type BertFamilyName } from './bert.ts';
export { gpt2Family, parseGpt2Config } from './gpt2Family.ts';
export { gpt2, type GPT2Config } from './gpt2.ts';
export { t5Family } from './t5.ts';
export { ConfigError } from './config.ts';
export type { BuildOptions, BuiltGraph, FamilyDefinition, Naming, WeightMapping } from './family.ts';
export { quantize } from './quantize.ts';
