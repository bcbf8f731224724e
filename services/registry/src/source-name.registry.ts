import { CommandError } from '@s1c/contracts';
import { ConcurrencyError, type EventMetadata, type MongoEventStore, type RecordedEvent } from '@s1c/event-store';
import { createHash } from 'node:crypto';
import type { SourceState } from '@s1c/domain';
import { nameStreamId } from './source.streams';

/** A creation that reserved a name but has not stored its source yet keeps the name this long. */
const IN_FLIGHT_GRACE_MS = 60_000;
const MAX_ATTEMPTS = 5;

interface NameEventData {
  collectorId: string;
  name: string;
  sourceId: string;
  at: string;
}
type NameEvent = { type: 'SourceNameReserved' | 'SourceNameReleased'; data: NameEventData };

/**
 * Keeps source names unique per collector without transactions: each (collector, name) has its
 * own stream in the log, and the stream's version guard lets one writer at a time take the name.
 * A reservation binds only while its holder really has that name: a holder that was deleted or
 * renamed, or that never got stored (a crash between reserving and creating), loses it.
 */
export class SourceNameRegistry {
  constructor(
    private readonly store: MongoEventStore,
    /** The source's current state (from memory when held). */
    private readonly sourceOf: (sourceId: string) => Promise<SourceState>,
    private readonly clock: () => Date,
  ) {}

  /**
   * Takes `name` for `sourceId`, or refuses with DuplicateResourceName. Idempotent. A name never
   * used in the collector is taken with one insert; the name's stream is read only when it exists.
   */
  async reserve(collectorId: string, name: string, sourceId: string, metadata: EventMetadata): Promise<void> {
    const streamId = streamFor(collectorId, name);
    let version = 0;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        await this.append(streamId, 'SourceNameReserved', { collectorId, name, sourceId }, version, metadata);
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
      }
      const events = await this.store.readStream(streamId);
      version = events.length;
      const holder = currentHolder(events);
      if (holder?.sourceId === sourceId) return;
      if (holder && (await this.stillHolds(holder))) {
        throw new CommandError('DuplicateResourceName', `a source named "${name}" already exists in collector "${collectorId}"`, [
          { path: 'source.config.name', message: 'is already used by another source in this collector' },
        ]);
      }
    }
    throw new CommandError('Unavailable', `the name "${name}" is being claimed concurrently; try again`);
  }

  /** Gives `name` up if `sourceId` holds it; a no-op otherwise. */
  async release(collectorId: string, name: string, sourceId: string, metadata: EventMetadata): Promise<void> {
    const streamId = streamFor(collectorId, name);
    const events = await this.store.readStream(streamId);
    if (currentHolder(events)?.sourceId !== sourceId) return;
    try {
      await this.append(streamId, 'SourceNameReleased', { collectorId, name, sourceId }, events.length, metadata);
    } catch (error) {
      // Someone took the name over meanwhile: it is no longer ours to release.
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }

  private async stillHolds(holder: NameEventData): Promise<boolean> {
    const state = await this.sourceOf(holder.sourceId);
    switch (state.status) {
      case 'Nonexistent':
        return this.clock().getTime() - Date.parse(holder.at) < IN_FLIGHT_GRACE_MS;
      case 'Deleted':
        return false;
      default:
        return state.collectorId === holder.collectorId && state.config.name === holder.name;
    }
  }

  private async append(
    streamId: string,
    type: NameEvent['type'],
    data: Omit<NameEventData, 'at'>,
    version: number,
    metadata: EventMetadata,
  ): Promise<void> {
    const event: NameEvent = { type, data: { ...data, at: this.clock().toISOString() } };
    await this.store.appendToStream(streamId, [{ ...event, metadata }], { expectedVersion: version === 0 ? 'no_stream' : version });
  }
}

function streamFor(collectorId: string, name: string): string {
  return nameStreamId(collectorId, createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 40));
}

function currentHolder(events: readonly RecordedEvent[]): NameEventData | undefined {
  const last = events.at(-1) as RecordedEvent<NameEvent['type'], NameEventData> | undefined;
  return last?.type === 'SourceNameReserved' ? last.data : undefined;
}
