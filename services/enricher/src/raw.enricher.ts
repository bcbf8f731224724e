import { RAW_RECORD_HEADERS } from '@s1c/contracts';
import { SOURCE_APIS, type SourceApi } from '@s1c/domain';
import type { Logger } from '@s1c/logger';
import { nakDelayFor, publishBytes, subjects } from '@s1c/messaging';
import { headers as createHeaders, type JetStreamClient, type JsMsg } from 'nats';
import { randomUUID } from 'node:crypto';
import { buildDataRecord, DATA_RECORD_HEADERS } from './data-record';
import { deadLetter } from './dead-letter';
import type { DeliveredSet } from './delivered.set';
import { SourceVersionError, type SourceDirectory } from './source.directory';

/** The durable consumer of raw records on `S1C_RAW`. */
export const ENRICHER_DURABLE = 'enricher';

export interface RawEnricherDeps {
  readonly js: JetStreamClient;
  readonly sources: SourceDirectory;
  readonly delivered: DeliveredSet;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly maxDeliver: number;
  readonly publishTimeoutMs?: number;
}

/** A raw message whose headers and body passed validation. */
interface RawRecord {
  readonly m: JsMsg;
  readonly recordId: string;
  readonly sourceId: string;
  readonly collectorId: string;
  readonly api: SourceApi;
  readonly sourceVersion: number;
  readonly fetchedAt: string;
  readonly value: Record<string, unknown>;
}

/** Counters for logs, tests and the benchmark. */
export interface EnricherStats {
  published: number;
  skippedDelivered: number;
  droppedTerminal: number;
  deadLettered: number;
  retried: number;
}

class Poison extends Error {}

const decoder = new TextDecoder('utf-8', { fatal: true });
const VERSION = /^[1-9]\d{0,14}$/;

/**
 * Turns raw records into output records, one batch at a time:
 * 1. validate headers and body (invalid → dead letter);
 * 2. drop records whose source is Stopping or Deleted now (acked, logged at debug);
 * 3. claim the record ids in the delivered set (skip the ones an earlier batch delivered);
 * 4. publish `{"id","sourceId","collectorId","api","metadata","fetchedAt","event"}` to
 *    `s1c.data.<api>.<sourceId>` with `Nats-Msg-Id` = record id, the metadata from the source's
 *    configuration at the record's `S1c-Source-Version`;
 * 5. mark the batch done (and the records it published again after an unfinished claim), then ack.
 * A failure of MongoDB or NATS naks the batch's messages with the usual delay curve.
 */
export class RawEnricher {
  readonly stats: EnricherStats = { published: 0, skippedDelivered: 0, droppedTerminal: 0, deadLettered: 0, retried: 0 };

  constructor(private readonly deps: RawEnricherDeps) {}

  /** A {@link BatchHandler}: settles every message of the batch. */
  readonly handle = async (messages: readonly JsMsg[]): Promise<void> => {
    const { logger } = this.deps;
    const valid: RawRecord[] = [];
    for (const m of messages) {
      if (m.info.deliveryCount > this.deps.maxDeliver) {
        await this.toDeadLetter(m, 'MaxDeliveriesExceeded', 'the previous delivery ended without an outcome');
        continue;
      }
      try {
        valid.push(parseRaw(m));
      } catch (error) {
        if (!(error instanceof Poison)) throw error;
        await this.toDeadLetter(m, 'PoisonMessage', error.message);
      }
    }
    if (valid.length === 0) return;
    try {
      await this.enrich(valid);
    } catch (error) {
      this.stats.retried += valid.length;
      const retryable = !(error instanceof SourceVersionError) || error.retryable;
      logger.warn({ err: error, records: valid.length }, `raw batch failed${retryable ? '; retrying' : ''}`);
      for (const r of valid) {
        if (r.m.info.deliveryCount >= this.deps.maxDeliver) await this.toDeadLetter(r.m, 'MaxDeliveriesExceeded', (error as Error).message);
        else r.m.nak(nakDelayFor(r.m.info.deliveryCount));
      }
    }
  };

  private async enrich(records: readonly RawRecord[]): Promise<void> {
    const { sources, delivered, logger, clock } = this.deps;
    // One source load per (source, version) and one liveness check per source in the batch.
    const live: RawRecord[] = [];
    const terminal = new Map<string, Promise<boolean>>();
    for (const r of records) {
      if (!terminal.has(r.sourceId)) {
        const newest = Math.max(...records.filter((x) => x.sourceId === r.sourceId).map((x) => x.sourceVersion));
        terminal.set(r.sourceId, settledLater(sources.isTerminal(r.sourceId, newest)));
      }
    }
    const configs = new Map<string, Promise<Awaited<ReturnType<SourceDirectory['atVersion']>>>>();
    for (const r of records) {
      if (await terminal.get(r.sourceId)) {
        this.stats.droppedTerminal += 1;
        logger.debug({ sourceId: r.sourceId, recordId: r.recordId }, 'record of a stopping or deleted source dropped');
        r.m.ack();
        continue;
      }
      const key = `${r.sourceId}\u0000${r.sourceVersion}`;
      if (!configs.has(key)) configs.set(key, settledLater(sources.atVersion(r.sourceId, r.sourceVersion)));
      live.push(r);
    }
    if (live.length === 0) return;
    for (const [key, loading] of configs) {
      try {
        await loading;
      } catch (error) {
        if (error instanceof SourceVersionError && !error.retryable) {
          // This version never had a configuration: its records can never be tagged.
          for (const r of live.filter((x) => `${x.sourceId}\u0000${x.sourceVersion}` === key)) {
            await this.toDeadLetter(r.m, 'PoisonMessage', error.message);
          }
          configs.delete(key);
          continue;
        }
        throw error;
      }
    }
    const tagged = live.filter((r) => configs.has(`${r.sourceId}\u0000${r.sourceVersion}`));

    // The same record twice in one batch: the first one speaks for both.
    const first = new Map<string, RawRecord>();
    const repeats: RawRecord[] = [];
    for (const r of tagged) {
      if (first.has(r.recordId)) repeats.push(r);
      else first.set(r.recordId, r);
    }
    const batchId = randomUUID();
    const claims = await delivered.claim([...first.keys()], batchId, clock());
    const toPublish: RawRecord[] = [];
    const skipped: RawRecord[] = [...repeats];
    for (const r of first.values()) {
      if (claims.get(r.recordId) === 'delivered') skipped.push(r);
      else toPublish.push(r);
    }

    await Promise.all(
      toPublish.map(async (r) => {
        const source = await configs.get(`${r.sourceId}\u0000${r.sourceVersion}`)!;
        const { body, eventOffset } = buildDataRecord(
          { id: r.recordId, sourceId: r.sourceId, collectorId: r.collectorId, api: r.api, fetchedAt: r.fetchedAt },
          source.metadataJson(r.api, r.value),
          r.m.data,
        );
        // Fresh headers and distinct names: append is set without its lookup for an earlier value.
        const h = createHeaders();
        h.append(DATA_RECORD_HEADERS.recordId, r.recordId);
        h.append(DATA_RECORD_HEADERS.sourceId, r.sourceId);
        h.append(DATA_RECORD_HEADERS.collectorId, r.collectorId);
        h.append(DATA_RECORD_HEADERS.api, r.api);
        h.append(DATA_RECORD_HEADERS.sourceVersion, String(r.sourceVersion));
        h.append(DATA_RECORD_HEADERS.eventOffset, String(eventOffset));
        await publishBytes(this.deps.js, subjects.data(r.api, r.sourceId), body, {
          msgId: r.recordId,
          headers: h,
          timeoutMs: this.deps.publishTimeoutMs ?? 10_000,
        });
      }),
    );
    await delivered.markDone(
      batchId,
      clock(),
      toPublish.filter((r) => claims.get(r.recordId) === 'unfinished').map((r) => r.recordId),
    );
    for (const r of toPublish) r.m.ack();
    for (const r of skipped) r.m.ack();
    this.stats.published += toPublish.length;
    this.stats.skippedDelivered += skipped.length;
    if (skipped.length > 0) logger.debug({ records: skipped.length }, 'records already delivered skipped');
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

/** Validates a raw message against RAW_RECORD_HEADERS and the body contract (a JSON object). */
function parseRaw(m: JsMsg): RawRecord {
  const recordId = header(m, RAW_RECORD_HEADERS.recordId);
  const sourceId = header(m, RAW_RECORD_HEADERS.sourceId);
  const collectorId = header(m, RAW_RECORD_HEADERS.collectorId);
  const api = header(m, RAW_RECORD_HEADERS.api);
  const version = header(m, RAW_RECORD_HEADERS.sourceVersion);
  const fetchedAt = header(m, RAW_RECORD_HEADERS.fetchedAt);
  if (!(SOURCE_APIS as readonly string[]).includes(api)) throw new Poison(`header ${RAW_RECORD_HEADERS.api} is not an API: ${api}`);
  if (!VERSION.test(version)) throw new Poison(`header ${RAW_RECORD_HEADERS.sourceVersion} is not a positive integer`);
  if (m.subject !== safeRawSubject(api, sourceId)) throw new Poison(`subject ${m.subject} does not match the record's API and source`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(m.data));
  } catch (error) {
    throw new Poison(`body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Poison('body is not a JSON object');
  return { m, recordId, sourceId, collectorId, api: api as SourceApi, sourceVersion: Number(version), fetchedAt, value: value as Record<string, unknown> };
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
