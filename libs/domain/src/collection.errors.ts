import type { Lane, TimeWindow } from './collection.types';
import { DomainError } from './source.errors';

/** A job the aggregate no longer expects: finished, abandoned, or of an older generation. */
export class StaleJobError extends DomainError {
  readonly code = 'StaleJob';
  constructor(readonly jobId: string) {
    super(`job ${jobId} is not in flight any more`);
    this.name = 'StaleJobError';
  }
}

/** The API is not collected for the source (not in its supported_apis, or not started yet). */
export class CollectionNotPlannedError extends DomainError {
  readonly code = 'CollectionNotPlanned';
  constructor() {
    super('this API is not being collected for this source');
    this.name = 'CollectionNotPlannedError';
  }
}

export class LaneBusyError extends DomainError {
  readonly code = 'LaneBusy';
  constructor(readonly lane: Lane, readonly jobId: string) {
    super(`lane ${lane} already has job ${jobId} in flight`);
    this.name = 'LaneBusyError';
  }
}

/** A replay already asked for and not finished; a second request waits for it. */
export class ReplayPendingError extends DomainError {
  readonly code = 'ReplayPending';
  constructor(readonly window: TimeWindow) {
    super(`a replay of ${window.from} to ${window.to} is still under way`);
    this.name = 'ReplayPendingError';
  }
}
