/** A command the Source aggregate refuses; `code` is what replies carry. */
export abstract class DomainError extends Error {
  abstract readonly code: string;
}

export class SourceNotFoundError extends DomainError {
  readonly code = 'SourceNotFound';
  constructor(readonly sourceId: string) {
    super(`source ${sourceId} does not exist`);
    this.name = 'SourceNotFoundError';
  }
}

export class SourceAlreadyExistsError extends DomainError {
  readonly code = 'SourceAlreadyExists';
  constructor(readonly sourceId: string) {
    super(`source ${sourceId} already exists`);
    this.name = 'SourceAlreadyExistsError';
  }
}

/** The command is not allowed in the source's current state (e.g. update while Stopping). */
export class IllegalTransitionError extends DomainError {
  readonly code = 'IllegalStateTransition';
  constructor(
    readonly sourceId: string,
    readonly from: string,
    readonly command: string,
  ) {
    super(`${command} is not allowed while source ${sourceId} is ${from}`);
    this.name = 'IllegalTransitionError';
  }
}

/**
 * A collection step reported for a configuration that has since been replaced (the source was
 * updated or restarted after the step began); it must not move the new configuration's state.
 */
export class StaleGenerationError extends DomainError {
  readonly code = 'StaleGeneration';
  constructor(
    readonly sourceId: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`source ${sourceId} is at generation ${actual}, the command was for generation ${expected}`);
    this.name = 'StaleGenerationError';
  }
}
