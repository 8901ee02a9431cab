export { Trainer, type TrainerOptions, type StepResult, type TrainingBatch, type FitOptions, type FitResult } from './trainer.ts';
export { TrainingError } from './errors.ts';
export { type TrainerState, type TrainerMeta, type BestSoFar, type TensorSet } from './state.ts';
export { sgd, adam, adamW, defaultDecayExclusion, layerOf, layerwiseDecay, type OptimizerConfig } from './optimizers.ts';
export { constant, warmupLinear, warmupCosine, piecewiseLinear, type Schedule } from './schedules.ts';
export { teaForN, teaForNGraph, teaForNOptions, teaForNCopyName, dropTeaForNCopies, type TeaForNOptions, type TeaForNSettings, type TeaForNFeed, type TeaForNModel, type TeaForNGraph } from './teaforn.ts';
