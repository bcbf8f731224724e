import { sourceStreamId } from '@s1c/domain';
import { EVENT_HEADERS, MongoEventStore } from '@s1c/event-store';
import { createLogger } from '@s1c/logger';
import { serverUrls } from '@s1c/test-harness';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SourceDirectory } from './source.directory';
import { SourceEventFeed } from './source.feed';
import { createEnricherWorld, createSource, deleteSource, eventually, sourceConfig, updateSource, type EnricherWorld } from './testing/enricher.harness';

let world: EnricherWorld;
/** The directory's own MongoDB client, watched: every read of `events` it sends is counted. */
let mongo: MongoClient;
let eventReads = 0;
const open: Array<{ feed: SourceEventFeed; nc: NatsConnection }> = [];
const logger = createLogger({ name: 'source-directory-test', level: 'silent' });

beforeAll(async () => {
  world = await createEnricherWorld();
  mongo = await MongoClient.connect(serverUrls().mongoUrl, { monitorCommands: true });
  mongo.on('commandStarted', (event: CommandStartedEvent) => {
    if ((event.commandName === 'find' || event.commandName === 'aggregate') && event.command[event.commandName] === 'events') eventReads += 1;
  });
});
afterEach(async () => {
  // A test that stopped the relay must not leave the next one without it.
  await world.relay.start();
});
afterAll(async () => {
  for (const { feed, nc } of open) {
    feed.stop();
    await nc.close();
  }
  await mongo?.close();
  await world?.close();
});

/** A directory as the enricher runs it: its own store and NATS connection, fed by the relayed events. */
async function directory(options: { relayWaitMs?: number; safetyRefreshMs?: number } = {}) {
  const store = new MongoEventStore(mongo.db(world.dbName));
  const sources = new SourceDirectory(store, { cacheSize: 100, safetyRefreshMs: options.safetyRefreshMs ?? 3_600_000, relayWaitMs: options.relayWaitMs ?? 5_000, logger });
  const nc = await connect({ servers: serverUrls().natsUrl, reconnectTimeWait: 100 });
  const feed = new SourceEventFeed(nc, () => store.logId(), sources, logger);
  await feed.start();
  open.push({ feed, nc });
  return { sources, feed, nc };
}

const AGENT = { id: '1' };

describe('SourceDirectory', () => {
  it('follows a source relayed from its creation: versions, an update and the deletion, without reading the log', async () => {
    const { sources } = await directory();
    eventReads = 0;
    const v1 = await createSource(world, 'followed', sourceConfig({ category: 'old/cat' }));
    await eventually(() => sources.knownVersion('followed') === v1, 10_000, 'the relayed creation');
    expect((await sources.atVersion('followed', v1)).metadataFor('agents')).toMatchObject({ _sourceCategory: 'old/cat' });
    expect(await sources.isTerminal('followed', v1)).toBe(false);

    const v2 = await updateSource(world, 'followed', sourceConfig({ category: 'new/cat' }));
    // A record of the new version may come before its relayed event: it waits for the relay.
    expect((await sources.atVersion('followed', v2)).metadataFor('agents')).toMatchObject({ _sourceCategory: 'new/cat' });
    // A record fetched at the old version keeps the old configuration.
    expect((await sources.atVersion('followed', v1)).metadataJson('agents', AGENT)).toContain('"_sourceCategory":"old/cat"');

    const deleted = await deleteSource(world, 'followed');
    await eventually(() => sources.knownVersion('followed') === deleted, 10_000, 'the relayed deletion');
    expect(await sources.isTerminal('followed', v2)).toBe(true);
    expect(eventReads).toBe(0);
    expect(sources.stats).toMatchObject({ catchUpReads: 0, versionReads: 0 });
  });

  it('reads a source first seen once, then takes its new versions from the relay only', async () => {
    const v1 = await createSource(world, 'known', sourceConfig({ fields: [{ key: 'team', value: 'a' }] }));
    await world.relay.flush();
    // Started after the source's creation was relayed: it must read it.
    const { sources } = await directory();
    eventReads = 0;
    expect((await sources.atVersion('known', v1)).metadataFor('agents')).toMatchObject({ team: 'a' });
    expect(eventReads).toBe(1);
    let version = v1;
    for (const team of ['b', 'c', 'd']) {
      version = await updateSource(world, 'known', sourceConfig({ fields: [{ key: 'team', value: team }] }));
      expect(await sources.isTerminal('known', version)).toBe(false);
      expect((await sources.atVersion('known', version)).metadataFor('agents')).toMatchObject({ team });
    }
    // Records keep coming for a while: no periodic re-read on their path.
    for (let i = 0; i < 20; i++) {
      expect(await sources.isTerminal('known', version)).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(eventReads).toBe(1);
  });

  it('reads a version the relay does not bring within the wait, once', async () => {
    const { sources } = await directory({ relayWaitMs: 300 });
    const v1 = await createSource(world, 'late', sourceConfig({ category: 'one' }));
    await eventually(() => sources.knownVersion('late') === v1, 10_000, 'the relayed creation');
    await world.relay.stop();
    const v2 = await updateSource(world, 'late', sourceConfig({ category: 'two' }));
    eventReads = 0;
    const started = Date.now();
    expect((await sources.atVersion('late', v2)).category).toBe('two');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(eventReads).toBe(1);
    // The late relayed copy changes nothing and reads nothing.
    await world.relay.start();
    await world.relay.flush();
    expect(await sources.isTerminal('late', v2)).toBe(false);
    expect((await sources.atVersion('late', v2)).category).toBe('two');
    expect(eventReads).toBe(1);
  });

  it('after a NATS reconnect, finds a deletion that was not relayed to it', async () => {
    const { sources, feed, nc } = await directory();
    const v1 = await createSource(world, 'missed', sourceConfig());
    await eventually(() => sources.knownVersion('missed') === v1, 10_000, 'the relayed creation');
    // The deletion reaches the log but not this connection (the relay is down, as if the message was lost).
    await world.relay.stop();
    await deleteSource(world, 'missed');
    expect(await sources.isTerminal('missed', v1)).toBe(false);
    eventReads = 0;
    const changes = feed.stats.connectionChanges;
    await nc.reconnect();
    await eventually(() => feed.stats.connectionChanges > changes && !nc.isClosed(), 10_000, 'the reconnect');
    // Whatever was published while disconnected is lost: the next record reads the source once.
    expect(await sources.isTerminal('missed', v1)).toBe(true);
    expect(eventReads).toBe(1);
  });

  it('fills a gap in the relayed versions from the log, and ignores events of another log', async () => {
    const { sources, nc } = await directory();
    const v1 = await createSource(world, 'gap', sourceConfig({ category: 'first' }));
    await eventually(() => sources.knownVersion('gap') === v1, 10_000, 'the relayed creation');

    // Another deployment's log on the same NATS: its deletion of a source of the same id is not ours.
    const h = natsHeaders();
    h.set(EVENT_HEADERS.logId, 'another-log');
    const body = { eventId: 'x', streamId: sourceStreamId('gap'), version: v1 + 1, position: 1, type: 'SourceDeletionRequested', data: { sourceId: 'gap', at: new Date().toISOString() }, metadata: {}, time: new Date().toISOString() };
    nc.publish(`s1c.evt.source.gap.SourceDeletionRequested`, JSON.stringify(body), { headers: h });
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    eventReads = 0;
    expect(await sources.isTerminal('gap', v1)).toBe(false);
    expect(eventReads).toBe(0);

    // Two updates; only the second one is relayed to the directory.
    await world.relay.stop();
    await updateSource(world, 'gap', sourceConfig({ category: 'second' }));
    const v3 = await updateSource(world, 'gap', sourceConfig({ category: 'third' }));
    const [third] = await world.store.readStream(sourceStreamId('gap'), { fromVersion: v3 });
    sources.applyRelayed('gap', third!);
    expect(sources.knownVersion('gap')).toBe(v1);
    expect(await sources.isTerminal('gap', v1)).toBe(false);
    expect(eventReads).toBe(1);
    expect(sources.knownVersion('gap')).toBe(v3);
    expect((await sources.atVersion('gap', v3 - 1)).category).toBe('second');
    expect((await sources.atVersion('gap', v3)).category).toBe('third');
    expect(eventReads).toBe(1);
  });

  it("re-reads a followed source for safety only in the background, never on a record's path", async () => {
    const { sources } = await directory({ safetyRefreshMs: 300 });
    const v1 = await createSource(world, 'safety', sourceConfig());
    await eventually(() => sources.knownVersion('safety') === v1, 10_000, 'the relayed creation');
    await world.relay.stop();
    await deleteSource(world, 'safety');
    eventReads = 0;
    await new Promise((resolve) => setTimeout(resolve, 350));
    // The record gets the answer memory has; the re-read it starts corrects it for later records.
    expect(await sources.isTerminal('safety', v1)).toBe(false);
    await eventually(async () => eventReads === 1 && (await sources.isTerminal('safety', v1)), 10_000, 'the background re-read');
    expect(eventReads).toBe(1);
  });
});
