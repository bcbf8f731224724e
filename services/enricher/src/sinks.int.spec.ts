import { STREAMS } from '@s1c/messaging';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryStreamId, FILE_SINK_DURABLE, HTTP_SINK_DURABLE, HttpSink, parseSumoFields } from '@s1c/delivery';
import { createEnricherWorld, createSource, eventually, publishRaw, readStream, sourceConfig, type EnricherWorld } from './testing/enricher.harness';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly lines: string[];
}

/** A hosted collector's HTTP source, with the faults of a bad day. */
class Receiver {
  readonly accepted: Received[] = [];
  requests = 0;
  faults = 0;
  /** Decides the fate of a request: 'ok', a status, or 'reset'. */
  fate: (req: IncomingMessage, n: number) => 'ok' | 'reset' | number = () => 'ok';
  retryAfter = '1';
  /** How long an accepted batch waits for its answer. */
  answerDelayMs = 0;
  readonly requestTimes: number[] = [];
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/receiver/v1/http/token`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const n = ++this.requests;
    this.requestTimes.push(Date.now());
    const fate = this.fate(req, n);
    if (fate === 'reset') {
      this.faults += 1;
      req.socket.destroy();
      return;
    }
    if (fate !== 'ok') {
      this.faults += 1;
      res.writeHead(fate, fate === 429 ? { 'Retry-After': this.retryAfter } : {});
      res.end('{"error":"fault"}');
      return;
    }
    const text = gunzipSync(Buffer.concat(chunks)).toString('utf8');
    this.accepted.push({ headers: req.headers, lines: text.split('\n') });
    if (this.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerDelayMs));
    res.writeHead(200);
    res.end();
  }
}

let world: EnricherWorld;

beforeAll(async () => {
  world = await createEnricherWorld();
});
afterAll(async () => {
  await world?.close();
});

/** A realistic-ish activity whose id is unique and which names its source. */
function activity(sourceId: string, i: number): string {
  return `{"id":"${1398765432109876543n + BigInt(i)}","activityType":${27 + (i % 3)},"siteName":"${sourceId}","data":{"accountId":1234567890123456789,"n":${i}},"primaryDescription":"${'x'.repeat(200)}"}`;
}

describe('HTTP sink', () => {
  it('delivers every record exactly once through 500s, 429s, resets and a 10 s outage, with correct gzip and headers, never mixing sources', async () => {
    const receiver = new Receiver();
    await receiver.start();
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    receiver.fate = () => {
      const r = random();
      if (r < 0.15) return 500;
      if (r < 0.25) return 429;
      if (r < 0.3) return 'reset';
      return 'ok';
    };
    const runtime = await world.start({ S1C_SINK_HTTP_URL: receiver.url, S1C_SINK_BATCH_RECORDS: '400' });
    const sources = [
      { id: 'h1', name: 'Console one', fields: [{ key: '_siemForward', value: true }, { key: 'team.name', value: 'a,b=c' }] },
      { id: 'h2', name: 'Console two', fields: [{ key: 'team', value: 'soc' }] },
    ];
    const versions: Record<string, number> = {};
    for (const s of sources) versions[s.id] = await createSource(world, s.id, sourceConfig({ name: s.name, category: `sec/${s.id}`, fields: s.fields }));
    const PER_SOURCE = 1500;
    const publishAll = async (from: number, to: number) => {
      const work: Array<Promise<void>> = [];
      for (const s of sources) {
        for (let i = from; i < to; i++) {
          work.push(publishRaw(world, { sourceId: s.id, api: 'activities', recordId: `${s.id}:activities:${i}`, sourceVersion: versions[s.id]!, body: activity(s.id, i) }));
        }
      }
      await Promise.all(work);
    };
    await publishAll(0, PER_SOURCE / 2);
    await eventually(() => runtime.httpSink!.stats.recordsSent > 0, 20_000, 'first deliveries');
    // The collector goes down for 10 s while records keep coming.
    await receiver.stop();
    const downAt = Date.now();
    await publishAll(PER_SOURCE / 2, PER_SOURCE);
    await new Promise((resolve) => setTimeout(resolve, 10_000 - (Date.now() - downAt)));
    await receiver.start(receiver.port);
    const total = PER_SOURCE * sources.length;
    await eventually(() => receiver.accepted.reduce((n, b) => n + b.lines.length, 0) >= total, 90_000, 'every record at the receiver');
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const seen = new Map<string, number>();
    for (const batch of receiver.accepted) {
      const name = batch.headers['x-sumo-name'];
      const source = sources.find((s) => s.name === name)!;
      expect(source).toBeDefined();
      expect(batch.headers['content-encoding']).toBe('gzip');
      expect(batch.headers['x-sumo-category']).toBe(`sec/${source.id}`);
      const fields = parseSumoFields(String(batch.headers['x-sumo-fields']));
      if (source.id === 'h1') {
        expect(fields.slice(0, 5)).toEqual([
          ['team.name', 'a,b=c'],
          ['_collector', 'default'],
          ['_siemVendor', 'SentinelOne'],
          ['_siemProduct', 'MGMT API'],
          ['_siemFormat', 'JSON'],
        ]);
        expect(fields[5]![0]).toBe('_siemEventID');
      } else {
        expect(fields).toEqual([['team', 'soc'], ['_collector', 'default']]);
      }
      expect(batch.lines.length).toBeLessThanOrEqual(400);
      for (const line of batch.lines) {
        // The S1 object itself, unchanged, and of this batch's source only.
        const i = Number(/"n":(\d+)/.exec(line)![1]);
        expect(line).toBe(activity(source.id, i));
        if (source.id === 'h1') expect(fields[5]![1]).toBe(`activities - ${27 + (i % 3)}`);
        const key = `${source.id}:${i}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(receiver.faults).toBeGreaterThan(0);
    expect(runtime.httpSink!.stats.attemptsFailed).toBeGreaterThan(0);
    await receiver.stop();
    await runtime.close();
  }, 150_000);

  it('while the collector is down, holds three rounds of POSTs and one pull: the backlog waits on the server, then every record goes once', async () => {
    const receiver = new Receiver();
    await receiver.start();
    receiver.fate = () => 503;
    // Three rounds of one 8 KiB POST: ~40 records. The consumer allows 20,000 unacknowledged.
    const runtime = await world.start({
      S1C_SINK_HTTP_URL: receiver.url,
      S1C_SINK_BATCH_BYTES: '8192',
      S1C_SINK_HTTP_CONCURRENCY: '1',
      S1C_SINK_RETRY_INITIAL: '200ms',
      S1C_SINK_RETRY_MAX: '500ms',
    });
    const version = await createSource(world, 'held', sourceConfig({ name: 'Held' }));
    const TOTAL = 6000;
    const PER_BATCH = 200;
    for (let first = 0; first < TOTAL; first += PER_BATCH) {
      const more = Array.from({ length: PER_BATCH - 1 }, (_, k) => ({ recordId: `held:activities:${first + k + 1}`, body: activity('held', first + k + 1) }));
      await publishRaw(world, { sourceId: 'held', api: 'activities', recordId: `held:activities:${first}`, sourceVersion: version, body: activity('held', first), more });
    }
    await eventually(() => runtime.enricher.stats.published >= TOTAL, 30_000, 'every record enriched');
    await eventually(() => receiver.requests > 3, 10_000, 'failing POSTs');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    // The sink holds what it sends next and at most one pull (2,000 messages) more; the rest stays
    // on the server. (Before, it took everything up to the consumer's max_ack_pending.)
    const held = await world.jsm.consumers.info(STREAMS.data.name, HTTP_SINK_DURABLE);
    expect(held.num_ack_pending).toBeLessThanOrEqual(2_100);
    expect(held.num_pending).toBeGreaterThanOrEqual(TOTAL - 2_100);
    // The collector comes back: the sink takes the rest as it lets batches go, each record once.
    receiver.fate = () => 'ok';
    await eventually(() => receiver.accepted.reduce((n, b) => n + b.lines.length, 0) >= TOTAL, 60_000, 'every record at the receiver');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const lines = receiver.accepted.flatMap((b) => b.lines);
    expect(lines.length).toBe(TOTAL);
    expect(new Set(lines).size).toBe(TOTAL);
    await receiver.stop();
    await runtime.close();
  }, 120_000);

  it('does not resend a batch the collector accepted when the sink crashed before acking it', async () => {
    const receiver = new Receiver();
    await receiver.start();
    const first = await world.start({ S1C_SINK_HTTP_URL: receiver.url });
    let crashed = false;
    receiver.fate = () => {
      if (!crashed) {
        crashed = true;
        // The sink's connection dies while the collector accepts: its acks can never be sent.
        void first.nc.close();
      }
      return 'ok';
    };
    const version = await createSource(world, 'crash', sourceConfig({ name: 'Crash' }));
    for (let i = 0; i < 20; i++) {
      await publishRaw(world, { sourceId: 'crash', api: 'activities', recordId: `crash:activities:${i}`, sourceVersion: version, body: activity('crash', i) });
    }
    await eventually(() => crashed && receiver.accepted.length > 0, 15_000, 'the accepted batch');
    // The crash this test is about comes after the sink recorded the accepted batch; stopping it
    // before that record is written is the (documented) window in which a batch is sent twice.
    const acceptedLines = receiver.accepted.flatMap((b) => b.lines).length;
    await eventually(
      async () => (await world.db.collection(`${HttpSink.deliveredCollection}_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`).countDocuments({})) >= acceptedLines,
      15_000,
      'the accepted batch recorded',
    );
    await first.close();
    const second = await world.start({ S1C_SINK_HTTP_URL: receiver.url });
    // Redelivery comes after the 3 s ack wait; the second sink finds the ids already delivered.
    await eventually(() => second.httpSink!.stats.skippedDelivered + second.httpSink!.stats.recordsSent >= 20, 20_000, 'the redelivery');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const lines = receiver.accepted.flatMap((b) => b.lines);
    expect(lines.length).toBe(20);
    expect(new Set(lines).size).toBe(20);
    expect(second.httpSink!.stats.skippedDelivered).toBeGreaterThan(0);
    await receiver.stop();
    await second.close();
  }, 60_000);

  it('lets a POST in flight be answered when it stops, so a batch the collector accepted is acked, not sent again', async () => {
    const receiver = new Receiver();
    await receiver.start();
    receiver.answerDelayMs = 1_000;
    const runtime = await world.start({ S1C_SINK_HTTP_URL: receiver.url });
    const version = await createSource(world, 'stopping', sourceConfig({ name: 'Stopping' }));
    await publishRaw(world, { sourceId: 'stopping', api: 'activities', recordId: 'stopping:activities:0', sourceVersion: version, body: activity('stopping', 0) });
    await eventually(() => receiver.accepted.length > 0, 15_000, 'the POST');
    await runtime.close();
    expect(runtime.httpSink!.stats.recordsSent).toBe(1);
    const after = await world.start({ S1C_SINK_HTTP_URL: receiver.url });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(receiver.requests).toBe(1);
    expect(after.httpSink!.stats.skippedDelivered).toBe(0);
    await receiver.stop();
    await after.close();
  }, 40_000);

  it('waits at most the retry window when a 429 asks for weeks (a longer timer would overflow and fire at once)', async () => {
    const receiver = new Receiver();
    await receiver.start();
    receiver.retryAfter = String(60 * 86_400); // 60 days: more than Node's 2^31 ms timer limit
    receiver.fate = (_req, n) => (n === 1 ? 429 : 'ok');
    const runtime = await world.start({ S1C_SINK_HTTP_URL: receiver.url, S1C_RETRY_WINDOW: '2s' });
    const version = await createSource(world, 'patient', sourceConfig({ name: 'Patient' }));
    await publishRaw(world, { sourceId: 'patient', api: 'activities', recordId: 'patient:activities:0', sourceVersion: version, body: activity('patient', 0) });
    await eventually(() => receiver.accepted.length > 0, 20_000, 'the record after the wait');
    const [refusedAt, acceptedAt] = receiver.requestTimes;
    expect(acceptedAt! - refusedAt!).toBeGreaterThanOrEqual(1_900);
    expect(receiver.accepted[0]!.lines).toEqual([activity('patient', 0)]);
    await receiver.stop();
    await runtime.close();
  }, 40_000);

  it('raises a FirstPartyGenericError health event on a 400, and dead-letters the batch after the retry window', async () => {
    const receiver = new Receiver();
    await receiver.start();
    receiver.fate = () => 400;
    const runtime = await world.start({ S1C_SINK_HTTP_URL: receiver.url, S1C_RETRY_WINDOW: '2s' });
    const version = await createSource(world, 'refused', sourceConfig({ name: 'Refused' }));
    for (let i = 0; i < 3; i++) {
      await publishRaw(world, { sourceId: 'refused', api: 'activities', recordId: `refused:activities:${i}`, sourceVersion: version, body: activity('refused', i) });
    }
    await eventually(async () => (await world.store.readStream(deliveryStreamId('refused'))).length > 0, 15_000, 'a health event');
    const [raised] = await world.store.readStream(deliveryStreamId('refused'));
    expect(raised!.type).toBe('HealthEventRaised');
    expect(raised!.data).toMatchObject({
      sourceId: 'refused',
      api: 'activities',
      severity: 'Error',
      errorType: 'FirstPartyGeneric',
      eventName: 'FirstPartyGenericError',
      retry: { retrying: true },
    });
    expect((raised!.data as { description: string }).description).toContain('HTTP collector answered 400');
    let dead: Awaited<ReturnType<typeof readStream>> = [];
    await eventually(async () => (dead = await readStream(world, STREAMS.deadLetters.name, 's1c.dlq.S1C_DATA.sink-http')).length >= 3, 45_000, 'dead letters');
    expect(dead.map((d) => d.headers['S1c-Dlq-Original-Msg-Id']).sort()).toEqual(['refused:activities:0', 'refused:activities:1', 'refused:activities:2']);
    const events = await world.store.readStream(deliveryStreamId('refused'));
    expect(events.at(-1)!.data).toMatchObject({ retry: { retrying: false } });
    expect(new Set(events.map((e) => (e.data as { healthEventId: string }).healthEventId)).size).toBe(1);
    // Once the collector accepts again, the event is resolved.
    receiver.fate = () => 'ok';
    await publishRaw(world, { sourceId: 'refused', api: 'activities', recordId: 'refused:activities:9', sourceVersion: version, body: activity('refused', 9) });
    await eventually(async () => (await world.store.readStream(deliveryStreamId('refused'))).at(-1)!.type === 'HealthEventResolved', 15_000, 'the resolution');
    await receiver.stop();
    await runtime.close();
  }, 90_000);
});

describe('file sink', () => {
  /** The lines of a source's files for an API, rotated ones included, and the files' names. */
  const linesOf = async (dir: string, sourceId: string, api: string): Promise<{ names: string[]; lines: string[] }> => {
    const names = (await readdir(join(dir, sourceId)).catch(() => [] as string[])).filter((n) => n.startsWith(api));
    const lines: string[] = [];
    for (const name of names) {
      const text = await readFile(join(dir, sourceId, name), 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      // Rotated (renamed) between the listing and the read: list again.
      if (text === undefined) return linesOf(dir, sourceId, api);
      lines.push(...text.split('\n').filter(Boolean));
    }
    return { names, lines };
  };

  it('writes NDJSON per source and API, rotating by size, every record once: each line the output record, its SIEM metadata next to the event, the event byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's1c-file-sink-'));
    try {
      const runtime = await world.start({ S1C_SINK_FILE_DIR: dir, S1C_SINK_FILE_MAX_BYTES: '8192' });
      const version = await createSource(world, 'files', sourceConfig({ name: 'Files', fields: [{ key: 'team', value: 'soc' }] }));
      const N = 60;
      for (let i = 0; i < N; i++) {
        await publishRaw(world, { sourceId: 'files', api: 'activities', recordId: `files:activities:${i}`, sourceVersion: version, body: activity('files', i) });
      }
      await eventually(async () => (await linesOf(dir, 'files', 'activities')).lines.length >= N, 40_000, 'every line on disk');
      const { names, lines } = await linesOf(dir, 'files', 'activities');
      expect(names).toContain('activities.ndjson');
      expect(names).toContain('activities.1.ndjson');
      for (const name of names) expect(Buffer.byteLength(await readFile(join(dir, 'files', name), 'utf8'))).toBeLessThanOrEqual(8192);
      expect(lines).toHaveLength(N);
      const records = lines.map((line) => JSON.parse(line) as { id: string; sourceId: string; api: string; metadata: Record<string, unknown>; fetchedAt: string });
      expect(records.map((r) => r.id).sort()).toEqual(Array.from({ length: N }, (_, i) => `files:activities:${i}`).sort());
      for (const [i, record] of records.entries()) {
        expect(record).toMatchObject({ sourceId: 'files', api: 'activities', metadata: { _source: 'Files', _sourceCategory: 'sec/s1', team: 'soc' } });
        // The event is the collected object, byte for byte (its 64-bit ids unrounded).
        const n = Number(record.id.split(':').at(-1));
        expect(lines[i]).toContain(`"event":${activity('files', n)}`);
        expect(lines[i]!.endsWith(`"event":${activity('files', n)}}`)).toBe(true);
      }
      await runtime.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('declares its consumer again when the server has lost it, and writes what comes after (at least once)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's1c-file-sink-'));
    try {
      const runtime = await world.start({ S1C_SINK_FILE_DIR: dir });
      const version = await createSource(world, 'lostfile', sourceConfig());
      const publish = async (from: number, to: number) => {
        for (let i = from; i < to; i++) await publishRaw(world, { sourceId: 'lostfile', api: 'activities', recordId: `lostfile:activities:${i}`, sourceVersion: version, body: activity('lostfile', i) });
      };
      await publish(0, 5);
      await eventually(async () => (await linesOf(dir, 'lostfile', 'activities')).lines.length >= 5, 40_000, 'the first lines on disk');
      // The server loses the consumer (nats-server 2.9.10 on a cluster does, see docs/OPERATIONS.md).
      await world.jsm.consumers.delete(STREAMS.data.name, FILE_SINK_DURABLE);
      await publish(5, 10);
      const ids = async () => new Set((await linesOf(dir, 'lostfile', 'activities')).lines.map((line) => (JSON.parse(line) as { id: string }).id));
      await eventually(async () => (await ids()).size >= 10, 45_000, 'the lines after the loss on disk');
      expect([...(await ids())].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `lostfile:activities:${i}`).sort());
      await runtime.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('with S1C_SINK_FILE_FORMAT=event, writes the bare S1 object, unchanged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's1c-file-sink-'));
    try {
      const runtime = await world.start({ S1C_SINK_FILE_DIR: dir, S1C_SINK_FILE_FORMAT: 'event' });
      const version = await createSource(world, 'bare', sourceConfig());
      for (let i = 0; i < 5; i++) {
        await publishRaw(world, { sourceId: 'bare', api: 'activities', recordId: `bare:activities:${i}`, sourceVersion: version, body: activity('bare', i) });
      }
      await publishRaw(world, { sourceId: 'bare', api: 'agents', recordId: 'bare:agents:1', sourceVersion: version, body: '{"id":"1224294323241529157"}' });
      await eventually(async () => (await linesOf(dir, 'bare', 'activities')).lines.length >= 5, 40_000, 'every line on disk');
      expect((await linesOf(dir, 'bare', 'activities')).lines.sort()).toEqual(Array.from({ length: 5 }, (_, i) => activity('bare', i)).sort());
      await eventually(async () => (await readFile(join(dir, 'bare', 'agents.ndjson'), 'utf8').catch(() => '')) === '{"id":"1224294323241529157"}\n', 10_000, 'the agents file');
      await runtime.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
