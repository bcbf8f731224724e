import { type ExpectedVersion } from './event.types';

/** The stream was not at the expected version: someone else appended first. */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';

  constructor(
    readonly streamId: string,
    readonly expectedVersion: ExpectedVersion,
    /** Known only when the store had to read the stream anyway; appends do not read it. */
    readonly actualVersion?: number,
  ) {
    super(
      `stream ${streamId}: expected version ${String(expectedVersion)}, ${actualVersion === undefined ? 'another writer got there first' : `actual ${actualVersion}`}`,
    );
  }
}

/** A value cannot be stored as-is on FerretDB/MongoDB; `path` names the offending spot. */
export class InvalidEventDocumentError extends Error {
  override readonly name = 'InvalidEventDocumentError';

  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** An explicit `eventId` is already used by another event. */
export class DuplicateEventIdError extends Error {
  override readonly name = 'DuplicateEventIdError';

  constructor(readonly eventId: string) {
    super(`event id ${eventId} is already in the log`);
  }
}
