import { RAW_BATCH_HEADERS } from '@s1c/contracts';
import { SOURCE_APIS, siemEventId, type SourceApi } from '@s1c/domain';
import type { Logger } from '@s1c/logger';
import { ByteSlab, deadLetter, HeaderBlock, isHeaderValue, nakDelayFor, subjects, type PipelinedPublisher } from '@s1c/messaging';
import { MalformedBodyError, parseListBody, splitListBody, type ParsedList } from '@s1c/s1-client';
import type { JetStreamClient, JsMsg } from 'nats';
import { buildDataRecord, DATA_RECORD_HEADERS } from './data-record';
import { DeliveredSet, isDay, type ClaimResult } from './delivered.set';
import { SourceVersionError, type SourceDirectory } from './source.directory';
import { deliveryMetrics } from './delivery.metrics';

/** The durable consumer of raw records on `S1C_RAW`. */
export const ENRICHER_DURABLE = 'enricher';

export interface RawEnricherDeps {
  /** For dead letters. */
  readonly js: JetStreamClient;
  /** For output records. */
  readonly publisher: PipelinedPublisher;
  readonly sources: SourceDirectory;
  readonly delivered: DeliveredSet;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly maxDeliver: number;
}

/** A raw batch (one message) whose headers and body passed validation. */
interface RawBatch {
  readonly m: JsMsg;
  readonly sourceId: string;
  readonly collectorId: string;
  readonly api: SourceApi;
  readonly sourceVersion: number;
  readonly fetchedAt: string;
  /** The UTC day (`YYYY-MM-DD`) of every record of the batch: where the delivered set keeps them. */
  readonly day: string;
  records: readonly RawRecord[];
}

/** One record of a raw batch: its id, its `_siemEventID` (for the metadata) and its exact bytes. */
interface RawRecord {
  readonly batch: RawBatch;
  readonly recordId: string;
  readonly eventId: string;
  readonly bytes: Uint8Array;
}

/** Counters for logs, tests and the benchmark: records, except `deadLettered` (raw batches). */
export interface EnricherStats {
  published: number;
  skippedDelivered: number;
  droppedTerminal: number;
  deadLettered: number;
  retried: number;
}

class Poison extends Error {}

const VERSION = /^[1-9]\d{0,14}$/;

/**
 * Turns raw batches into output records, a few raw batches at a time:
 * 1. validate headers and body (invalid → the raw batch goes to the dead letters);
 * 2. drop the records of sources that are Stopping or Deleted now (acked, logged at debug);
 * 3. claim the record ids in the delivered set (skip the ones an earlier batch delivered);
 * 4. publish `{"id","sourceId","collectorId","api","metadata","fetchedAt","event"}` to
 *    `s1c.data.<api>.<sourceId>` with `Nats-Msg-Id` = record id, the metadata from the source's
 *    configuration at the batch's `S1c-Source-Version`;
 * 5. mark the claim done (and the records it published again after an unfinished claim, or skipped
 *    as found in the output stream), then ack.
 * A failure of MongoDB or NATS naks the raw batches with the usual delay curve.
 */
export class RawEnricher {
  readonly stats: EnricherStats = { published: 0, skippedDelivered: 0, droppedTerminal: 0, deadLettered: 0, retried: 0 };
  /** Output records live until the connection's next flush: cut from slabs. */
  private readonly recordBytes = new ByteSlab();

  constructor(private readonly deps: RawEnricherDeps) {}

  /** A {@link BatchHandler}: settles every message it is given. */
  readonly handle = async (messages: readonly JsMsg[]): Promise<void> => {
    const { logger } = this.deps;
    const valid: RawBatch[] = [];
    for (const m of messages) {
      if (m.info.deliveryCount > this.deps.maxDeliver) {
        await this.toDeadLetter(m, 'MaxDeliveriesExceeded', 'the previous delivery ended without an outcome');
        continue;
      }
      try {
        valid.push(parseRawBatch(m));
      } catch (error) {
        if (!(error instanceof Poison)) throw error;
        await this.toDeadLetter(m, 'PoisonMessage', error.message);
      }
    }
    if (valid.length === 0) return;
    try {
      await this.enrich(valid);
    } catch (error) {
      const retryable = !(error instanceof SourceVersionError) || error.retryable;
      logger.warn({ err: error, batches: valid.length }, `raw batches failed${retryable ? '; retrying' : ''}`);
      for (const b of valid) {
        this.stats.retried += b.records.length;
        if (b.m.info.deliveryCount >= this.deps.maxDeliver) await this.toDeadLetter(b.m, 'MaxDeliveriesExceeded', (error as Error).message);
        else b.m.nak(nakDelayFor(b.m.info.deliveryCount));
      }
    }
  };

  private async enrich(batches: readonly RawBatch[]): Promise<void> {
    const { sources, delivered, logger, clock } = this.deps;
    // One source load per (source, version) and one liveness check per source.
    const terminal = new Map<string, Promise<boolean>>();
    for (const b of batches) {
      if (!terminal.has(b.sourceId)) {
        const newest = Math.max(...batches.filter((x) => x.sourceId === b.sourceId).map((x) => x.sourceVersion));
        terminal.set(b.sourceId, settledLater(sources.isTerminal(b.sourceId, newest)));
      }
    }
    const live: RawBatch[] = [];
    const configs = new Map<string, Promise<Awaited<ReturnType<SourceDirectory['atVersion']>>>>();
    for (const b of batches) {
      if (await terminal.get(b.sourceId)) {
        this.stats.droppedTerminal += b.records.length;
        logger.debug({ sourceId: b.sourceId, records: b.records.length }, 'records of a stopping or deleted source dropped');
        b.m.ack();
        continue;
      }
      const key = configKey(b);
      if (!configs.has(key)) configs.set(key, settledLater(sources.atVersion(b.sourceId, b.sourceVersion)));
      live.push(b);
    }
    if (live.length === 0) return;
    for (const [key, loading] of configs) {
      try {
        await loading;
      } catch (error) {
        if (error instanceof SourceVersionError && !error.retryable) {
          // This version never had a configuration: its records can never be tagged.
          for (const b of live.filter((x) => configKey(x) === key)) await this.toDeadLetter(b.m, 'PoisonMessage', error.message);
          configs.delete(key);
          continue;
        }
        throw error;
      }
    }
    const tagged = live.filter((b) => configs.has(configKey(b)));
    if (tagged.length === 0) return;

    // The same record twice (in one raw batch or two): the first one speaks for both.
    const first = new Map<string, RawRecord>();
    let repeats = 0;
    for (const b of tagged) {
      for (const r of b.records) {
        if (first.has(r.recordId)) repeats += 1;
        else first.set(r.recordId, r);
      }
    }
    const claimId = DeliveredSet.batchId(clock());
    const byDay = new Map<string, string[]>();
    for (const r of first.values()) {
      const ids = byDay.get(r.batch.day);
      if (ids) ids.push(r.recordId);
      else byDay.set(r.batch.day, [r.recordId]);
    }
    const claims = new Map<string, ClaimResult>();
    for (const found of await Promise.all([...byDay].map(([day, ids]) => delivered.claim(day, ids, claimId)))) {
      for (const [id, result] of found) claims.set(id, result);
    }
    const toPublish: RawRecord[] = [];
    const vouched: Array<{ id: string; day: string }> = [];
    for (const r of first.values()) {
      const claim = claims.get(r.recordId);
      if (claim !== 'delivered' && claim !== 'output') toPublish.push(r);
      if (claim === 'unfinished' || claim === 'output') vouched.push({ id: r.recordId, day: r.batch.day });
    }

    await Promise.all(
      toPublish.map(async (r) => {
        const b = r.batch;
        const source = await configs.get(configKey(b))!;
        const { body, eventOffset } = buildDataRecord(
          { id: r.recordId, sourceId: b.sourceId, collectorId: b.collectorId, api: b.api, fetchedAt: b.fetchedAt },
          source.metadataJson(b.api, r.eventId),
          r.bytes,
          this.recordBytes,
        );
        const h = new HeaderBlock();
        h.append(DATA_RECORD_HEADERS.recordId, r.recordId);
        h.append(DATA_RECORD_HEADERS.sourceId, b.sourceId);
        h.append(DATA_RECORD_HEADERS.collectorId, b.collectorId);
        h.append(DATA_RECORD_HEADERS.api, b.api);
        h.append(DATA_RECORD_HEADERS.sourceVersion, String(b.sourceVersion));
        h.append(DATA_RECORD_HEADERS.eventOffset, String(eventOffset));
        await this.deps.publisher.publish(subjects.data(b.api, b.sourceId), body, r.recordId, h);
      }),
    );
    await delivered.markDone(claimId, vouched);
    for (const b of tagged) b.m.ack();
    const skipped = first.size - toPublish.length + repeats;
    this.stats.published += toPublish.length;
    this.stats.skippedDelivered += skipped;
    for (const [api, count] of countBy(toPublish, (r) => r.batch.api)) deliveryMetrics.output(api, count);
    deliveryMetrics.alreadyOutput(skipped);
    if (skipped > 0) logger.debug({ records: skipped }, 'records already delivered skipped');
  }

  private async toDeadLetter(m: JsMsg, reason: 'PoisonMessage' | 'MaxDeliveriesExceeded', message: string): Promise<void> {
    try {
      await deadLetter(this.deps.js, m, ENRICHER_DURABLE, reason, message);
      this.stats.deadLettered += 1;
      this.deps.logger.error({ subject: m.subject, seq: m.seq, reason, error: message }, 'raw record dead-lettered');
    } catch (error) {
      this.deps.logger.error({ subject: m.subject, seq: m.seq, err: error }, 'dead-letter publish failed; the message will be redelivered');
      m.nak(nakDelayFor(m.info.deliveryCount));
    }
  }
}

function header(m: JsMsg, name: string): string {
  const value = m.headers?.get(name);
  if (value === undefined || value === '') throw new Poison(`header ${name} is missing`);
  return value;
}

/** Validates a raw batch against RAW_BATCH_HEADERS and the body contract (a list body of JSON objects, one per id). */
function parseRawBatch(m: JsMsg): RawBatch {
  const idsHeader = header(m, RAW_BATCH_HEADERS.recordIds);
  const sourceId = header(m, RAW_BATCH_HEADERS.sourceId);
  const collectorId = header(m, RAW_BATCH_HEADERS.collectorId);
  const api = header(m, RAW_BATCH_HEADERS.api);
  const version = header(m, RAW_BATCH_HEADERS.sourceVersion);
  const fetchedAt = header(m, RAW_BATCH_HEADERS.fetchedAt);
  const day = header(m, RAW_BATCH_HEADERS.recordDay);
  if (!isDay(day)) throw new Poison(`header ${RAW_BATCH_HEADERS.recordDay} is not a day (YYYY-MM-DD)`);
  if (!(SOURCE_APIS as readonly string[]).includes(api)) throw new Poison(`header ${RAW_BATCH_HEADERS.api} is not an API: ${api}`);
  if (!VERSION.test(version)) throw new Poison(`header ${RAW_BATCH_HEADERS.sourceVersion} is not a positive integer`);
  if (m.subject !== safeRawSubject(api, sourceId)) throw new Poison(`subject ${m.subject} does not match the batch's API and source`);
  let ids: unknown;
  try {
    ids = JSON.parse(idsHeader);
  } catch {
    throw new Poison(`header ${RAW_BATCH_HEADERS.recordIds} is not JSON`);
  }
  // An id goes out in a header of each output record: one with a line break could never be published.
  if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string' && id !== '' && isHeaderValue(id))) {
    throw new Poison(`header ${RAW_BATCH_HEADERS.recordIds} is not an array of record ids`);
  }
  const batch: RawBatch = { m, sourceId, collectorId, api: api as SourceApi, sourceVersion: Number(version), fetchedAt, day, records: [] };
  const lengths = m.headers?.get(RAW_BATCH_HEADERS.recordLengths);
  const eventIds = m.headers?.get(RAW_BATCH_HEADERS.recordEventIds);
  const records = lengths && eventIds ? cutRecords(m.data, ids.length, lengths, eventIds) : parseRecords(m.data, api as SourceApi);
  if (records.length !== ids.length) throw new Poison(`body holds ${records.length} records for ${ids.length} ids in ${RAW_BATCH_HEADERS.recordIds}`);
  batch.records = records.map((r, i) => ({ batch, recordId: ids[i] as string, eventId: r.eventId, bytes: r.bytes }));
  return batch;
}

type CutRecord = { eventId: string; bytes: Uint8Array };

/** A batch without the lengths and event ids (a fetcher before them): its body parsed. */
function parseRecords(data: Uint8Array, api: SourceApi): CutRecord[] {
  let list: ParsedList;
  try {
    list = parseListBody(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  } catch (error) {
    throw new Poison(`body is not a list of JSON objects: ${(error as Error).message}`);
  }
  return list.records.map((r) => ({ eventId: siemEventId(api, r), bytes: r.bytes }));
}

/**
 * The records of a list body cut out by their lengths, without parsing: the fetcher parsed and
 * checked them and wrote the body with s1-client's `listBodyOf`; `splitListBody` checks the layout.
 */
function cutRecords(data: Uint8Array, count: number, lengthsHeader: string, eventIdsHeader: string): CutRecord[] {
  const lengths = jsonArrayHeader(RAW_BATCH_HEADERS.recordLengths, lengthsHeader, (v) => Number.isSafeInteger(v) && (v as number) >= 2);
  const eventIds = jsonArrayHeader(RAW_BATCH_HEADERS.recordEventIds, eventIdsHeader, (v) => typeof v === 'string' && v !== '');
  if (lengths.length !== count || eventIds.length !== count) {
    throw new Poison(`headers ${RAW_BATCH_HEADERS.recordLengths} and ${RAW_BATCH_HEADERS.recordEventIds} do not have one entry per record id`);
  }
  let bytes: Uint8Array[];
  try {
    bytes = splitListBody(data, lengths as number[]);
  } catch (error) {
    if (!(error instanceof MalformedBodyError)) throw error;
    throw new Poison(`body cut by ${RAW_BATCH_HEADERS.recordLengths}: ${error.message}`);
  }
  return bytes.map((b, i) => ({ eventId: eventIds[i] as string, bytes: b }));
}

function jsonArrayHeader(name: string, text: string, valid: (value: unknown) => boolean): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Poison(`header ${name} is not JSON`);
  }
  if (!Array.isArray(value) || !value.every(valid)) throw new Poison(`header ${name} is not an array of the expected values`);
  return value;
}

function configKey(b: RawBatch): string {
  return `${b.sourceId}\u0000${b.sourceVersion}`;
}

function safeRawSubject(api: string, sourceId: string): string | undefined {
  try {
    return subjects.raw(api, sourceId);
  } catch {
    return undefined;
  }
}

/**
 * Marks a promise as handled now while it is awaited later: if an earlier await of the batch
 * throws, the lookups started for it are never awaited, and their rejection must not become an
 * unhandled rejection (which ends the process). Awaiting the returned promise still throws.
 */
function settledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
