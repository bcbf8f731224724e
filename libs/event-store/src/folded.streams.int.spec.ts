import { uniqueDbName } from '@s1c/test-harness';
import { nanos } from 'nats';
import { describe, expect, it, vi } from 'vitest';
import { type RecordedEvent } from './event.types';
import { FoldedStreams } from './folded.streams';
import { eventDocumentId, MongoEventStore } from './mongo.event-store';
import { OutboxRelay } from './outbox.relay';
import { useServers } from './testing/servers.fixture';

const servers = useServers();

/** A log relayed to a stream of its own as `<stream>.<kind>.<streamId>.<Type>`, where a stream id is `<kind>-<name>`. */
async function setUp() {
  const db = servers.mongo.db();
  const store = new MongoEventStore(db);
  const streamName = uniqueDbName('fold');
  await servers.jsm.streams.add({ name: streamName, subjects: [`${streamName}.>`], duplicate_window: nanos(120_000) });
  servers.cleanup.push(() => servers.jsm.streams.delete(streamName));
  const relay = new OutboxRelay(store, db, servers.js, servers.jsm, {
    name: 'test',
    streamName,
    subjectFor: (event: RecordedEvent) => `${streamName}.${event.streamId.split('-')[0]}.${event.streamId}.${event.type}`,
    pollIntervalMs: 50,
  });
  await relay.start();
  servers.cleanup.push(() => relay.stop());
  const folds = (keepVersions = 0) => {
    const f = new FoldedStreams<string[]>(store, servers.nc, {
      name: 'test-folds',
      filterSubject: `${streamName}.keep.>`,
      initial: () => [],
      evolve: (state, event) => [...state, `${event.type}@${event.version}`],
      keepVersions,
      streamName,
      gapTimeoutMs: 300,
    });
    servers.cleanup.push(() => f.stop());
    return f;
  };
  const append = async (streamId: string, ...types: string[]) => {
    const version = await store.streamVersion(streamId);
    await store.appendToStream(streamId, types.map((type) => ({ type, data: {} })), { expectedVersion: version });
  };
  return { db, store, streamName, relay, folds, append };
}

describe('FoldedStreams', () => {
  it('folds each stream of its subject from version 1 as the relay publishes, and only those streams', async () => {
    const f = await setUp();
    const folds = f.folds(2);
    await folds.start();
    await f.append('keep-a', 'Created', 'Updated');
    await f.append('other-x', 'Created');
    await f.append('keep-b', 'Created');
    await f.append('keep-a', 'Stopped');

    const a = await folds.atLeast('keep-a', 3, 5_000);
    expect(a?.version).toBe(3);
    expect(a?.state).toEqual(['Created@1', 'Updated@2', 'Stopped@3']);
    expect(a?.position).toBeGreaterThan(0);
    expect((await folds.atLeast('keep-b', 1, 5_000))?.state).toEqual(['Created@1']);
    // Past versions, as many as kept.
    expect(folds.at('keep-a', 2)).toEqual(['Created@1', 'Updated@2']);
    expect(folds.at('keep-a', 1)).toEqual(['Created@1']);
    // Another subject's stream is never held.
    await f.relay.flush();
    expect(folds.head('other-x')).toBeUndefined();
    expect(folds.size).toBe(2);
  });

  it('a start after the events were appended rebuilds the folds from JetStream without reading the log', async () => {
    const f = await setUp();
    for (let i = 0; i < 20; i++) await f.append(`keep-${i}`, 'Created', 'Started');
    await f.relay.flush();
    const reads = vi.spyOn(f.store, 'readStream');
    const readLog = vi.spyOn(f.store, 'readLog');
    const folds = f.folds();
    await folds.start();
    for (let i = 0; i < 20; i++) expect((await folds.atLeast(`keep-${i}`, 2, 5_000))?.state).toEqual(['Created@1', 'Started@2']);
    expect(reads).not.toHaveBeenCalled();
    expect(readLog).not.toHaveBeenCalled();
  });

  it('catchUp waits until every event of its subject relayed before the call is folded, and answers at once when there is none', async () => {
    const f = await setUp();
    const folds = f.folds();
    await folds.start();
    await folds.catchUp();
    expect(folds.size).toBe(0);
    for (let i = 0; i < 30; i++) await f.append(`keep-${i}`, 'Created');
    await f.append('other-y', 'Created');
    await f.relay.flush();
    await folds.catchUp();
    expect(folds.size).toBe(30);
    expect([...folds.heads()].map(([streamId, fold]) => [streamId, fold.version]).sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => [`keep-${i}`, 1]).sort(),
    );
  });

  it('versions JetStream no longer holds (expired) are read from the log, once per stream', async () => {
    const f = await setUp();
    await f.append('keep-old', 'Created', 'Started');
    await f.relay.flush();
    // The stream lost its first messages, as when they reach the stream's max age.
    const info = await servers.jsm.streams.info(f.streamName);
    await servers.jsm.streams.purge(f.streamName, { seq: info.state.last_seq + 1 });
    await f.append('keep-old', 'Updated');
    await f.relay.flush();
    const reads = vi.spyOn(f.store, 'readStream');
    const folds = f.folds();
    await folds.start();
    expect((await folds.atLeast('keep-old', 3, 5_000))?.state).toEqual(['Created@1', 'Started@2', 'Updated@3']);
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it('waits for a version the relay has not brought yet, and gives up after the time given', async () => {
    const f = await setUp();
    const folds = f.folds();
    await folds.start();
    await f.append('keep-w', 'Created');
    expect((await folds.atLeast('keep-w', 1, 5_000))?.version).toBe(1);
    const waiting = folds.atLeast('keep-w', 2, 5_000);
    await f.append('keep-w', 'Updated');
    expect((await waiting)?.state).toEqual(['Created@1', 'Updated@2']);
    const started = Date.now();
    expect((await folds.atLeast('keep-w', 9, 200))?.version).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('drops a stream whose missing version cannot be had, until a fold read from the log is offered', async () => {
    const f = await setUp();
    await f.append('keep-g', 'Created');
    await f.append('keep-g', 'Lost');
    await f.append('keep-g', 'After');
    await f.relay.flush();
    // Version 2 is gone from JetStream and from the log: a fold without it would be wrong.
    const lost = await servers.jsm.streams.getMessage(f.streamName, { last_by_subj: `${f.streamName}.keep.keep-g.Lost` });
    await servers.jsm.streams.deleteMessage(f.streamName, lost.seq);
    await f.db.collection('events').deleteOne({ _id: eventDocumentId('keep-g', 2) } as never);
    const folds = f.folds();
    await folds.start();
    await f.append('keep-h', 'Created');
    await folds.atLeast('keep-h', 1, 5_000); // read past keep-g's messages
    expect(folds.head('keep-g')).toBeUndefined();

    // An exact fold from elsewhere (the log, as the caller read it) is followed from there on.
    folds.offer('keep-g', { state: ['Created@1', 'Lost@2', 'After@3'], version: 3, position: 1 });
    folds.offer('keep-g', { state: ['older'], version: 2, position: 1 });
    await f.append('keep-g', 'Later');
    expect((await folds.atLeast('keep-g', 4, 5_000))?.state).toEqual(['Created@1', 'Lost@2', 'After@3', 'Later@4']);
  });
});
