/** A Trainer option, input or saved state that cannot be used as given; `option` names it. */
export class TrainingError extends Error {
  constructor(readonly option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = 'TrainingError';
  }
}
