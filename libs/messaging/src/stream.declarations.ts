import {
  AckPolicy,
  DiscardPolicy,
  NatsError,
  RetentionPolicy,
  StorageType,
  nanos,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { askJetStream } from './jetstream.api';
import { type LoggerLike, silentLogger } from './logger.interface';
import { DeclarationConflictError, isPermissionViolation, NatsPermissionError, refusedSubject } from './messaging.errors';
import { subjects } from './subjects';

/** A stream as the project declares it: any stream fields, with name and subjects required. */
export type StreamDeclaration = Partial<StreamConfig> & { name: string; subjects: string[] };

/** A durable pull consumer: explicit ack is forced, a push `deliver_subject` is refused. */
export type ConsumerDeclaration = Partial<ConsumerConfig> & { durable_name: string };

/**
 * What an `ensure*` call did, with the resulting server-side info. `foreign`: the stream differs
 * from the declaration but this user may not change it (another service owns it); it is used as is.
 */
export interface DeclarationResult<I> {
  action: 'created' | 'updated' | 'unchanged' | 'foreign';
  info: I;
}

/** Options of {@link ensureStream}. */
export interface EnsureStreamOptions {
  logger?: LoggerLike;
  /**
   * Replicas of the stream (S1C_STREAM_REPLICAS); an existing stream with another count is
   * updated to it (the server adds or removes replicas), or the server's refusal is raised as a
   * {@link DeclarationConflictError} that says why. Default: the declaration's (one).
   */
  replicas?: number;
  /** How often to look again for a stream this user may not create; default 1 s. */
  retryIntervalMs?: number;
}

const MINUTE_NS = nanos(60_000);
const DAY_NS = nanos(24 * 60 * 60_000);

/**
 * The project's streams. Every one uses file storage and a duplicate window well above the
 * two minutes docs/DESIGN.md asks for, since publishers replay after a restart.
 */
export const STREAMS = {
  /** Domain events relayed from the MongoDB log; the log stays the truth, this is a copy. */
  events: {
    name: 'S1C_EVENTS',
    subjects: [subjects.every.event],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: 10 * MINUTE_NS,
    max_age: 30 * DAY_NS,
  },
  /** Fetch jobs; each is removed once a fetcher acks it. */
  jobs: {
    name: 'S1C_JOBS',
    subjects: [subjects.every.job],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: 10 * MINUTE_NS,
    max_age: 7 * DAY_NS,
  },
  /** Raw SentinelOne records, per API and source. */
  raw: {
    name: 'S1C_RAW',
    subjects: [subjects.every.raw],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: 10 * MINUTE_NS,
    max_age: 7 * DAY_NS,
  },
  /** Enriched output records, per API and source. */
  data: {
    name: 'S1C_DATA',
    subjects: [subjects.every.data],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: 10 * MINUTE_NS,
    max_age: 7 * DAY_NS,
  },
  /** Dead letters: `s1c.dlq.<stream>.<durable>`, kept long enough for an operator to look. */
  deadLetters: {
    name: 'S1C_DLQ',
    subjects: [subjects.every.deadLetter],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: 10 * MINUTE_NS,
    max_age: 30 * DAY_NS,
  },
} satisfies Record<string, StreamDeclaration>;

/** The durable consumer of `S1C_JOBS` that the fetchers of an API share: `fetcher-<api>`. */
export const fetcherJobsDurable = (api: string): string => `fetcher-${api}`;

/** How long {@link led} waits for a replicated stream to elect its leader. */
const LEADER_WAIT_MS = 30_000;

/**
 * The stream's info once it has a leader. A replicated stream just created (or moved) elects one
 * a moment later, and until then every request about it (a consumer to create, a message to
 * store) goes unanswered: returning only then spares each caller its own timeouts.
 */
async function led(jsm: JetStreamManager, info: StreamInfo, logger: LoggerLike): Promise<StreamInfo> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  let current = info;
  while (current.cluster && !current.cluster.leader) {
    if (Date.now() > deadline) {
      logger.warn({ stream: info.config.name }, 'the stream has no leader yet: going on, its requests will be retried');
      return current;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
    current = await askJetStream(logger, `stream ${info.config.name}`, () => jsm.streams.info(info.config.name));
  }
  return current;
}

/** How many times a create the cluster cannot place yet is tried (about a second apart). */
const PLACEMENT_ATTEMPTS = 30;

function isNoPlacement(error: unknown): boolean {
  return error instanceof Error && /no suitable peers/i.test(error.message);
}

function isNotFound(error: unknown): boolean {
  return error instanceof NatsError && error.api_error?.code === 404;
}

function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

// The server may list subjects in another order than declared; that is not a change.
function comparable(key: string, value: unknown): unknown {
  return key === 'subjects' && Array.isArray(value) ? [...(value as string[])].sort() : normalise(value);
}

/** The fields of `desired` whose value differs from `actual`; fields left out are not compared. */
function differingFields(desired: object, actual: object): string[] {
  const current = actual as Record<string, unknown>;
  return Object.entries(desired)
    .filter(([, v]) => v !== undefined)
    .filter(([k, v]) => JSON.stringify(comparable(k, v)) !== JSON.stringify(comparable(k, current[k])))
    .map(([k]) => k);
}

/**
 * Creates the stream, or updates it when a field given here differs from the server's; does
 * nothing when they agree. Never deletes or purges. A field the server cannot change in place
 * (e.g. storage) raises {@link DeclarationConflictError} naming it.
 *
 * Least privilege (infra/nats/nats.conf): only a stream's owner may create or update it. When the
 * server refuses the create on permission grounds, this waits until the owner has created the
 * stream; when it refuses an update, the stream is used as it is (`foreign`). Refusing even to
 * read the stream's info raises {@link NatsPermissionError}.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  declaration: StreamDeclaration,
  options: EnsureStreamOptions = {},
): Promise<DeclarationResult<StreamInfo>> {
  const logger = options.logger ?? silentLogger;
  const config: StreamDeclaration = options.replicas === undefined ? declaration : { ...declaration, num_replicas: options.replicas };
  // Once refused, only look for the stream: asking again would be refused (and logged) every time.
  let mayCreate = true;
  let warnedAt: number | undefined;
  for (let attempt = 0; ; attempt++) {
    let existing: StreamInfo | undefined;
    try {
      existing = await askJetStream(logger, `stream ${config.name}`, () => jsm.streams.info(config.name));
    } catch (error) {
      if (isPermissionViolation(error)) throw new NatsPermissionError('publish', refusedSubject(error) ?? config.name, `reading stream ${config.name}`);
      if (!isNotFound(error)) throw error;
    }
    if (!existing && !mayCreate) {
      if (warnedAt === undefined || Date.now() - warnedAt >= 30_000) {
        logger.warn({ stream: config.name }, 'stream does not exist and this NATS user may not create it: waiting for the service that owns it');
        warnedAt = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, options.retryIntervalMs ?? 1000));
      continue;
    }
    if (!existing) {
      try {
        return { action: 'created', info: await led(jsm, await askJetStream(logger, `stream ${config.name}`, () => jsm.streams.add(config)), logger) };
      } catch (error) {
        if (isPermissionViolation(error)) {
          mayCreate = false;
          continue;
        }
        // Another replica may have created it between our info and add: look again, once.
        if (attempt === 0) continue;
        // A cluster that has just formed knows its peers a moment after it answers.
        if (isNoPlacement(error) && attempt < PLACEMENT_ATTEMPTS) {
          logger.warn({ stream: config.name, replicas: config.num_replicas }, 'the cluster cannot place the stream yet (its servers are still joining): trying again');
          await new Promise((resolve) => setTimeout(resolve, options.retryIntervalMs ?? 1000));
          continue;
        }
        if ((config.num_replicas ?? 1) > 1) {
          throw new Error(
            `cannot create stream ${config.name} with ${config.num_replicas} replicas: the server said "${error instanceof Error ? error.message : String(error)}" (S1C_STREAM_REPLICAS: a cluster needs at least that many servers with JetStream; one server takes only 1)`,
            { cause: error },
          );
        }
        throw error;
      }
    }
    const fields = differingFields(config, existing.config);
    if (fields.length === 0) return { action: 'unchanged', info: await led(jsm, existing, logger) };
    // nats-server 2.9 on its own takes such an update and reports the replicas asked for, while it
    // keeps one copy: refuse it as it refuses the create.
    if (fields.includes('num_replicas') && (config.num_replicas ?? 1) > 1 && !existing.cluster?.name) {
      throw new DeclarationConflictError(`stream ${config.name}`, ['num_replicas'], new Error('replicas > 1 not supported in non-clustered mode'));
    }
    try {
      return { action: 'updated', info: await led(jsm, await askJetStream(logger, `stream ${config.name}`, () => jsm.streams.update(config.name, config)), logger) };
    } catch (error) {
      if (isPermissionViolation(error)) {
        logger.warn({ stream: config.name, fields }, 'stream differs from this service\'s declaration, which its NATS user may not update: using it as it is');
        return { action: 'foreign', info: existing };
      }
      throw new DeclarationConflictError(`stream ${config.name}`, fields, error);
    }
  }
}

/**
 * Creates the durable pull consumer, or updates the fields given here that differ from the
 * server's (ack_wait, max_deliver, max_ack_pending, ...); does nothing when they agree.
 * Acks are always explicit. A change the server refuses (e.g. deliver_policy) raises
 * {@link DeclarationConflictError}: we never delete a consumer, which would lose its position.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: ConsumerDeclaration,
): Promise<DeclarationResult<ConsumerInfo>> {
  if (config.deliver_subject) {
    throw new Error(`consumer ${stream}/${config.durable_name}: push consumers are not supported, omit deliver_subject`);
  }
  const desired: ConsumerDeclaration = { ...config, ack_policy: AckPolicy.Explicit };
  const resource = `consumer ${stream}/${config.durable_name}`;
  for (let attempt = 0; ; attempt++) {
    let existing: ConsumerInfo | undefined;
    try {
      existing = await askJetStream(silentLogger, resource, () => jsm.consumers.info(stream, config.durable_name));
    } catch (error) {
      if (isPermissionViolation(error)) throw new NatsPermissionError('publish', refusedSubject(error) ?? resource, `reading ${resource}`);
      if (!isNotFound(error)) throw error;
    }
    if (!existing) {
      try {
        return { action: 'created', info: await askJetStream(silentLogger, resource, () => jsm.consumers.add(stream, desired)) };
      } catch (error) {
        if (isPermissionViolation(error)) throw new NatsPermissionError('publish', refusedSubject(error) ?? resource, `creating ${resource}`);
        if (attempt === 0 && !isNotFound(error)) continue;
        throw error;
      }
    }
    const fields = differingFields(desired, existing.config);
    if (fields.length === 0) return { action: 'unchanged', info: existing };
    try {
      return { action: 'updated', info: await askJetStream(silentLogger, resource, () => jsm.consumers.update(stream, config.durable_name, desired)) };
    } catch (error) {
      if (isPermissionViolation(error)) throw new NatsPermissionError('publish', refusedSubject(error) ?? resource, `updating ${resource}`);
      throw new DeclarationConflictError(resource, fields, error);
    }
  }
}

/** Declares every stream in {@link STREAMS} (or the ones given), one after another. */
export async function declareStreams(
  jsm: JetStreamManager,
  streams: readonly StreamDeclaration[] = Object.values(STREAMS),
  options: EnsureStreamOptions = {},
): Promise<Array<DeclarationResult<StreamInfo>>> {
  const results: Array<DeclarationResult<StreamInfo>> = [];
  for (const stream of streams) results.push(await ensureStream(jsm, stream, options));
  return results;
}
