export { Trainer, type TrainerOptions, type StepResult } from './trainer.ts';
export { sgd, adam, adamW, defaultDecayExclusion, type OptimizerConfig } from './optimizers.ts';
export { constant, warmupLinear, warmupCosine, piecewiseLinear, type Schedule } from './schedules.ts';
