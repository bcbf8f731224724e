import { STREAMS } from '@s1c/messaging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnricherRuntime } from './enricher.app';
import {
  createEnricherWorld,
  createSource,
  deleteSource,
  eventually,
  publishRaw,
  readOutput,
  readStream,
  sourceConfig,
  today,
  UNRELAYED_SOURCE,
  updateSource,
  type EnricherWorld,
} from './testing/enricher.harness';

const ACTIVITY = '{"id":"1398765432109876543","activityType":2001,"createdAt":"2022-04-06T08:45:55.309279Z","data":{"accountId":1234567890123456789}}';
const THREAT = '{"id":"1398765432101234567","threatInfo":{"threatId":"1398765432101234567","updatedAt":"2022-04-06T08:54:17.194122Z"}}';
const AGENT = '{"id":"1224294323241529157","computerName":"user-test","updatedAt":"2022-04-07T08:31:47.481227Z"}';
const BODIES = { activities: ACTIVITY, threats: THREAT, agents: AGENT } as const;

let world: EnricherWorld;
let runtime: EnricherRuntime;

beforeAll(async () => {
  world = await createEnricherWorld();
  runtime = await world.start();
});
afterAll(async () => {
  await world?.close();
});

async function outputOf(sourceId: string, count: number) {
  let out: Awaited<ReturnType<typeof readOutput>> = [];
  await eventually(async () => (out = await readOutput(world, sourceId)).length >= count, 20_000, `${count} output records of ${sourceId}`);
  return out;
}

describe('enricher: tagging', () => {
  it('when _siemForward is true, each API gets the exact SIEM metadata and the record unchanged', async () => {
    const version = await createSource(world, 'fwd', sourceConfig({ fields: [{ key: '_siemForward', value: true }, { key: 'team.name', value: 'soc' }] }), 'col-1');
    for (const api of ['activities', 'threats', 'agents'] as const) {
      await publishRaw(world, { sourceId: 'fwd', api, recordId: `fwd:${api}:1`, sourceVersion: version, body: BODIES[api], collectorId: 'col-1' });
    }
    const out = await outputOf('fwd', 3);
    const byApi = Object.fromEntries(out.map((r) => [r.headers['S1c-Api'], r]));
    const common = { 'team.name': 'soc', _source: 'SentinelOne', _sourceCategory: 'sec/s1', _collector: 'col-1', _siemVendor: 'SentinelOne', _siemProduct: 'MGMT API', _siemFormat: 'JSON' };
    expect(Object.entries(byApi.activities!.metadata)).toEqual(Object.entries({ ...common, _siemEventID: 'activities - 2001' }));
    expect(Object.entries(byApi.threats!.metadata)).toEqual(Object.entries({ ...common, _siemEventID: 'threats - 1398765432101234567' }));
    expect(Object.entries(byApi.agents!.metadata)).toEqual(Object.entries({ ...common, _siemEventID: 'agents', _siemDataType: 'Inventory' }));
    for (const api of ['activities', 'threats', 'agents'] as const) {
      const r = byApi[api]!;
      expect(r.subject).toBe(`s1c.data.${api}.fwd`);
      expect(r.msgId).toBe(`fwd:${api}:1`);
      expect(r.eventText).toBe(BODIES[api]);
      // The whole body, byte for byte: envelope keys in order, event spliced in.
      expect(r.text).toBe(
        `{"id":"fwd:${api}:1","sourceId":"fwd","collectorId":"col-1","api":"${api}","metadata":${JSON.stringify(r.metadata)},"fetchedAt":"2026-01-02T03:04:05.123456Z","event":${BODIES[api]}}`,
      );
    }
  });

  it('without _siemForward, no _siem* key, custom fields kept, and no category key when there is none', async () => {
    const version = await createSource(world, 'plain', sourceConfig({ category: null, fields: [{ key: '_siemForward', value: false }, { key: '$x', value: 3 }] }));
    for (const api of ['activities', 'threats', 'agents'] as const) {
      await publishRaw(world, { sourceId: 'plain', api, recordId: `plain:${api}:1`, sourceVersion: version, body: BODIES[api] });
    }
    const out = await outputOf('plain', 3);
    for (const r of out) expect(Object.entries(r.metadata)).toEqual([['$x', 3], ['_source', 'SentinelOne'], ['_collector', 'default']]);
  });

  it('outputs each record of a raw batch as its own message, a record twice in the batch once, each with its own _siemEventID', async () => {
    const version = await createSource(world, 'many', sourceConfig({ fields: [{ key: '_siemForward', value: true }] }));
    const bodies = [27, 28, 27].map((type, i) => ACTIVITY.replace('"activityType":2001', `"activityType":${type}`).replace('1398765432109876543', String(1398765432109876543n + BigInt(i))));
    expect(new Set(bodies).size).toBe(3);
    await publishRaw(world, {
      sourceId: 'many',
      api: 'activities',
      recordId: 'many:activities:0',
      sourceVersion: version,
      body: bodies[0]!,
      more: [
        { recordId: 'many:activities:1', body: bodies[1]! },
        { recordId: 'many:activities:0', body: bodies[0]! },
        { recordId: 'many:activities:2', body: bodies[2]! },
      ],
    });
    const out = await outputOf('many', 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await readOutput(world, 'many')).length).toBe(3);
    out.sort((a, b) => a.id.localeCompare(b.id));
    expect(out.map((r) => r.id)).toEqual(['many:activities:0', 'many:activities:1', 'many:activities:2']);
    expect(out.map((r) => r.eventText)).toEqual(bodies);
    expect(out.map((r) => r.metadata._siemEventID)).toEqual(['activities - 27', 'activities - 28', 'activities - 27']);
  });

  it('keeps 64-bit ids and numbers beyond 2^53 byte for byte', async () => {
    const version = await createSource(world, 'bigint', sourceConfig());
    const body = '{"id":"1398765432109876543","activityType":27,"data":{"accountId":12345678901234567890123,"f":1.000000000000000000001e400,"neg":-9007199254740993},"s":"\\u00e9\\ud83d\\ude00 "}';
    await publishRaw(world, { sourceId: 'bigint', api: 'activities', recordId: 'bigint:activities:1', sourceVersion: version, body });
    const [r] = await outputOf('bigint', 1);
    expect(r!.eventText).toBe(body);
  });

  it('cuts a raw batch by the lengths the fetcher sends, and parses one without them (an older fetcher): the same output byte for byte', async () => {
    const version = await createSource(world, 'paths', sourceConfig({ fields: [{ key: '_siemForward', value: true }] }));
    const bodies = [ACTIVITY, ACTIVITY.replace('"activityType":2001', '"activityType":27').replace('1398765432109876543', '1398765432109876544')];
    const batch = { sourceId: 'paths', api: 'activities' as const, sourceVersion: version, body: bodies[0]!, fetchedAt: '2026-01-02T03:04:05.123456Z' };
    await publishRaw(world, { ...batch, recordId: 'paths:activities:cut', more: [{ recordId: 'paths:activities:cut2', body: bodies[1]! }] });
    await publishRaw(world, { ...batch, recordId: 'paths:activities:parsed', more: [{ recordId: 'paths:activities:parsed2', body: bodies[1]! }], withoutLengths: true });
    const out = await outputOf('paths', 4);
    const text = (id: string) => out.find((r) => r.id === id)!.text.replaceAll(id, '<id>');
    expect(text('paths:activities:cut')).toBe(text('paths:activities:parsed'));
    expect(text('paths:activities:cut2')).toBe(text('paths:activities:parsed2'));
    expect(out.find((r) => r.id === 'paths:activities:cut2')!.metadata._siemEventID).toBe('activities - 27');
    expect(out.find((r) => r.id === 'paths:activities:cut2')!.eventText).toBe(bodies[1]);
  });

  it('after a configuration update, records keep the metadata of the version they were fetched at', async () => {
    const v1 = await createSource(world, 'upd', sourceConfig({ category: 'old/cat', fields: [{ key: 'team', value: 'a' }] }));
    const v2 = await updateSource(world, 'upd', sourceConfig({ category: 'new/cat', fields: [{ key: 'team', value: 'b' }, { key: '_siemForward', value: true }] }));
    expect(v2).toBeGreaterThan(v1);
    // The old-version record is published after the update, as a slow fetcher would.
    await publishRaw(world, { sourceId: 'upd', api: 'agents', recordId: 'upd:agents:new', sourceVersion: v2, body: AGENT });
    await publishRaw(world, { sourceId: 'upd', api: 'agents', recordId: 'upd:agents:old', sourceVersion: v1, body: AGENT });
    const out = await outputOf('upd', 2);
    const byId = Object.fromEntries(out.map((r) => [r.id, r.metadata]));
    expect(Object.entries(byId['upd:agents:old']!)).toEqual([['team', 'a'], ['_source', 'SentinelOne'], ['_sourceCategory', 'old/cat'], ['_collector', 'default']]);
    expect(Object.entries(byId['upd:agents:new']!)).toEqual([
      ['team', 'b'],
      ['_source', 'SentinelOne'],
      ['_sourceCategory', 'new/cat'],
      ['_collector', 'default'],
      ['_siemVendor', 'SentinelOne'],
      ['_siemProduct', 'MGMT API'],
      ['_siemFormat', 'JSON'],
      ['_siemEventID', 'agents'],
      ['_siemDataType', 'Inventory'],
    ]);
  });
});

describe('enricher: where sources come from', () => {
  it('every source above came from the relayed events: the log was never read for one', () => {
    expect(runtime.sources.stats).toEqual({ versionReads: 0, refreshReads: 0 });
  });

  it('a source version no longer on S1C_EVENTS (expired) is read from the log, once; its later events come relayed', async () => {
    const version = await createSource(world, UNRELAYED_SOURCE, sourceConfig({ name: 'From the log' }));
    await publishRaw(world, { sourceId: UNRELAYED_SOURCE, api: 'agents', recordId: `${UNRELAYED_SOURCE}:agents:1`, sourceVersion: version, body: AGENT });
    const [out] = await outputOf(UNRELAYED_SOURCE, 1);
    expect(out!.metadata._source).toBe('From the log');
    expect(runtime.sources.stats).toEqual({ versionReads: 1, refreshReads: 1 });

    const deleted = await deleteSource(world, UNRELAYED_SOURCE);
    const dropped = runtime.enricher.stats.droppedTerminal;
    // A record of the deletion's version, then one fetched before the deletion and seen after it:
    // once the first is dropped the enricher knows of the deletion (so the order is certain even
    // when the relay lags), and the second must be dropped too.
    await publishRaw(world, { sourceId: UNRELAYED_SOURCE, api: 'agents', recordId: `${UNRELAYED_SOURCE}:agents:3`, sourceVersion: deleted, body: AGENT });
    await eventually(() => runtime.enricher.stats.droppedTerminal >= dropped + 1, 10_000, 'the record of the deleted version to be dropped');
    await publishRaw(world, { sourceId: UNRELAYED_SOURCE, api: 'agents', recordId: `${UNRELAYED_SOURCE}:agents:2`, sourceVersion: version, body: AGENT });
    await eventually(() => runtime.enricher.stats.droppedTerminal >= dropped + 2, 10_000, 'the earlier record to be dropped');
    expect((await readOutput(world, UNRELAYED_SOURCE)).map((r) => r.id)).toEqual([`${UNRELAYED_SOURCE}:agents:1`]);
    // Both reads were the first record's (its configuration, and whether its source is deleted).
    expect(runtime.sources.stats).toEqual({ versionReads: 1, refreshReads: 1 });
  });
});

describe('enricher: deleted sources and invalid messages', () => {
  it('does not output a record whose source was deleted while it was in flight', async () => {
    const version = await createSource(world, 'gone', sourceConfig());
    await publishRaw(world, { sourceId: 'gone', api: 'activities', recordId: 'gone:activities:1', sourceVersion: version, body: ACTIVITY });
    await outputOf('gone', 1);
    await deleteSource(world, 'gone');
    const dropped = runtime.enricher.stats.droppedTerminal;
    await new Promise((resolve) => setTimeout(resolve, 300)); // the refresh interval in tests is 200 ms
    await publishRaw(world, { sourceId: 'gone', api: 'activities', recordId: 'gone:activities:2', sourceVersion: version, body: ACTIVITY });
    await eventually(() => runtime.enricher.stats.droppedTerminal === dropped + 1, 10_000, 'the record to be dropped');
    expect((await readOutput(world, 'gone')).map((r) => r.id)).toEqual(['gone:activities:1']);
    expect(world.logText()).toContain('records of a stopping or deleted source dropped');
  });

  it('dead-letters a message without headers or with a body that is not a JSON object', async () => {
    const version = await createSource(world, 'bad', sourceConfig());
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:1', sourceVersion: version, body: '{"id":', msgId: 'm1', withoutLengths: true });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:2', sourceVersion: version, body: '[1]', msgId: 'm2', withoutLengths: true });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:3', sourceVersion: version, body: ACTIVITY, msgId: 'm3', headers: { 'S1c-Source-Version': undefined } });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:4', sourceVersion: version, body: ACTIVITY, msgId: 'm4', headers: { 'S1c-Api': 'agents' } });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:5', sourceVersion: version, body: ACTIVITY, msgId: 'm5', headers: { 'S1c-Record-Ids': '["bad:activities:5","bad:activities:6"]' }, withoutLengths: true });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:7', sourceVersion: version, body: ACTIVITY, msgId: 'm6', headers: { 'S1c-Record-Ids': '{"0":"bad:activities:7"}' } });
    // One bad record poisons its whole raw batch: nothing of it is output.
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:8', sourceVersion: version, body: ACTIVITY, more: [{ recordId: 'bad:activities:9', body: '"text"' }], msgId: 'm7', withoutLengths: true });
    // Cut by the lengths the fetcher sends: a layout that does not add up is refused, not guessed at.
    const lengths = (n: number[]) => ({ 'S1c-Record-Lengths': JSON.stringify(n) });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:10', sourceVersion: version, body: ACTIVITY, msgId: 'm8', headers: lengths([ACTIVITY.length - 1]) });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:11', sourceVersion: version, body: ACTIVITY, msgId: 'm9', headers: { 'S1c-Record-Event-Ids': '["activities - 1","activities - 2"]' } });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:12', sourceVersion: version, body: '[1]', msgId: 'n1', headers: { ...lengths([3]), 'S1c-Record-Event-Ids': '["activities"]' } });
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:13', sourceVersion: version, body: ACTIVITY, msgId: 'n2', headers: { 'S1c-Record-Lengths': '[-1]' } });
    // A record id with a line break would be a header of its own in the output record: refused at once, not retried.
    await publishRaw(world, { sourceId: 'bad', api: 'activities', recordId: 'bad:activities:14\r\nNats-Msg-Id: forged', sourceVersion: version, body: ACTIVITY, msgId: 'n3' });
    let dead: Awaited<ReturnType<typeof readStream>> = [];
    await eventually(async () => (dead = await readStream(world, STREAMS.deadLetters.name, 's1c.dlq.S1C_RAW.enricher')).length >= 12, 15_000, 'twelve dead letters');
    // The enricher handles messages concurrently: dead letters arrive in any order.
    dead.sort((a, b) => String(a.headers['S1c-Dlq-Original-Msg-Id']).localeCompare(String(b.headers['S1c-Dlq-Original-Msg-Id'])));
    expect(dead.map((d) => d.headers['S1c-Dlq-Original-Msg-Id'])).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'n1', 'n2', 'n3']);
    expect(new Set(dead.map((d) => d.headers['S1c-Dlq-Reason']))).toEqual(new Set(['PoisonMessage']));
    expect(dead.map((d) => d.headers['S1c-Dlq-Error'])).toEqual([
      expect.stringContaining('not valid JSON'),
      expect.stringContaining('must be an object'),
      'header S1c-Source-Version is missing',
      expect.stringContaining('does not match'),
      'body holds 1 records for 2 ids in S1c-Record-Ids',
      'header S1c-Record-Ids is not an array of record ids',
      expect.stringContaining('must be an object'),
      'body cut by S1c-Record-Lengths: the body is not the list body its record lengths describe',
      'headers S1c-Record-Lengths and S1c-Record-Event-Ids do not have one entry per record id',
      'body cut by S1c-Record-Lengths: record 0 of the body is not a JSON object',
      'header S1c-Record-Lengths is not an array of the expected values',
      'header S1c-Record-Ids is not an array of record ids',
    ]);
    expect(await readOutput(world, 'bad')).toEqual([]);
  });
});

describe('enricher: exactly once', () => {
  it('a replay after the duplicate window (same record id, new message id) is not output twice', async () => {
    const version = await createSource(world, 'replay', sourceConfig());
    await publishRaw(world, { sourceId: 'replay', api: 'threats', recordId: 'replay:threats:1:t', sourceVersion: version, body: THREAT });
    await outputOf('replay', 1);
    const skipped = runtime.enricher.stats.skippedDelivered;
    // Past the raw stream's window the same record arrives as a new message; the data stream's
    // window would hide a republish too, so the delivered set must be what drops it.
    await publishRaw(world, { sourceId: 'replay', api: 'threats', recordId: 'replay:threats:1:t', sourceVersion: version, body: THREAT, msgId: 'fresh-msg-id' });
    await eventually(() => runtime.enricher.stats.skippedDelivered === skipped + 1, 10_000, 'the replay to be skipped');
    expect((await readOutput(world, 'replay')).map((r) => r.id)).toEqual(['replay:threats:1:t']);
  });

  it('a record claimed by an attempt that never finished is published (once)', async () => {
    const version = await createSource(world, 'claimed', sourceConfig());
    // A crash between claim and publish leaves a claim without its batch marker.
    await world.db.collection(`enricher_delivered_${today().replaceAll('-', '')}`).insertOne({ _id: 'claimed:agents:1' as never, batch: '20260101-crashed' });
    await publishRaw(world, { sourceId: 'claimed', api: 'agents', recordId: 'claimed:agents:1', sourceVersion: version, body: AGENT });
    await publishRaw(world, { sourceId: 'claimed', api: 'agents', recordId: 'claimed:agents:1', sourceVersion: version, body: AGENT, msgId: 'again' });
    await outputOf('claimed', 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await readOutput(world, 'claimed')).map((r) => r.id)).toEqual(['claimed:agents:1']);
  });

  it('a restart of the enricher mid-stream, with acks lost, leaves each record once in the data stream', async () => {
    const version = await createSource(world, 'restart', sourceConfig({ fields: [{ key: '_siemForward', value: true }] }));
    const N = 3000;
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        publishRaw(world, { sourceId: 'restart', api: 'activities', recordId: `restart:activities:${i}`, sourceVersion: version, body: ACTIVITY.replace('1398765432109876543', String(1398765432109876543n + BigInt(i))) }),
      ),
    );
    await eventually(() => runtime.enricher.stats.published > 0, 10_000, 'publishing to start');
    // A crash: the connection goes without draining, so acks of batches in flight are lost.
    await runtime.nc.close();
    await runtime.close();
    const beforeRestart = runtime.enricher.stats.published;
    expect(beforeRestart).toBeLessThan(N);
    runtime = await world.start();
    const out = await outputOf('restart', N);
    await new Promise((resolve) => setTimeout(resolve, 4000)); // past the 3 s ack wait: redeliveries done
    const ids = (await readOutput(world, 'restart')).map((r) => r.id);
    expect(ids.length).toBe(N);
    expect(new Set(ids).size).toBe(N);
    expect(out.every((r) => r.metadata._siemEventID === 'activities - 2001')).toBe(true);
  });

  it('after a restart it knows the last output records from S1C_DATA: their repeats are skipped, also when their batch never got its marker', async () => {
    const version = await createSource(world, 'warm', sourceConfig());
    const record = (i: number, msgId?: string) => ({ sourceId: 'warm', api: 'activities' as const, recordId: `warm:activities:${i}`, sourceVersion: version, body: ACTIVITY, ...(msgId ? { msgId } : {}) });
    for (let i = 0; i < 20; i++) await publishRaw(world, record(i));
    await outputOf('warm', 20);
    await runtime.close();
    // As if the batches had crashed after publishing and before their markers: the store alone
    // would answer "unfinished" for these records, and they would be published again.
    await world.db.collection(`enricher_batches_${today().replaceAll('-', '')}`).drop();
    runtime = await world.start();
    expect(world.logText()).toMatch(/"records":\d+,"complete":true,"ms":\d+,"msg":"ids of the last output records read from S1C_DATA"/);
    // A live poll's overlap brings them again (past the raw stream's duplicate window: new message ids), with two new ones.
    for (let i = 0; i < 22; i++) await publishRaw(world, record(i, `warm-again-${i}`));
    await outputOf('warm', 22);
    await eventually(() => runtime.enricher.stats.skippedDelivered === 20, 10_000, 'the 20 repeats to be skipped');
    expect(runtime.enricher.stats.published).toBe(2);
    const ids = (await readOutput(world, 'warm')).map((r) => r.id);
    expect(ids).toHaveLength(22);
    expect(new Set(ids).size).toBe(22);
  });

  it('removes delivered-set entries older than the retention', async () => {
    const old = `enricher_delivered_${new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '')}`;
    const current = `enricher_delivered_${today().replaceAll('-', '')}`;
    await world.db.collection(old).insertOne({ _id: 'old:agents:1' as never, batch: '20260101-b' });
    const removed = await runtime.cleanupDelivered();
    expect(removed).toBeGreaterThanOrEqual(1);
    const names = (await world.db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    expect(names).not.toContain(old);
    expect(await world.db.collection(current).findOne({ _id: 'fwd:agents:1' as never })).not.toBeNull();
  });
});
