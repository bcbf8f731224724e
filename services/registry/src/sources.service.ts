import {
  CommandError,
  DEFAULT_COLLECTOR_ID,
  newSecretOf,
  toSourceConfig,
  type CreateSourceCommand,
  type ListSourcesCommand,
  type ListSourcesReply,
  historyFromLog,
  type ReencryptReply,
  type ReplayReply,
  type ReplaySourceCommand,
  type SourceDocument,
  type SourceHistoryCommand,
  type SourceHistoryReply,
  type SourceRefCommand,
  type UpdateSourceCommand,
} from '@s1c/contracts';
import {
  collectionStreamId,
  foldSource,
  initialState,
  isSourceEvent,
  type CollectionCommand,
  type CollectionEvent,
  type Actor,
  type CollectionState,
  type EncryptedSecret,
  type LiveSourceState,
  type SourceEvent,
  type SourceState,
} from '@s1c/domain';
import type { AggregateRepository, EventMetadata, ExecuteResult, ProjectionRunner } from '@s1c/event-store';
import { registerSecret } from '@s1c/logger';
import type { SecretBox } from '@s1c/secrets';
import type { Db, Filter } from 'mongodb';
import { toSourceDocument } from './source-document.mapper';
import type { SourceNameRegistry } from './source-name.registry';
import type { SourceRepository } from './source.repository';
import { sourceStreamId } from './source.streams';
import { sourcesCollection, type SourceView } from './sources.projection';

/** Who asked, for the log's metadata. */
export interface RequestContext {
  readonly correlationId: string;
  readonly actor: Actor;
}

/**
 * The seam between asking for a deletion (Stopping) and completing it (Deleted). The registry's
 * own completer finishes at once; the scheduler replaces it once it stops collection tasks.
 */
export interface DeletionCompleter {
  /** Called after a source entered Stopping. */
  deletionRequested(sourceId: string): void;
}

export interface SourcesServiceDeps {
  readonly db: Db;
  readonly repository: SourceRepository;
  readonly collections: AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;
  readonly names: SourceNameRegistry;
  readonly secrets: SecretBox;
  readonly readModel: ProjectionRunner;
  readonly clock: () => Date;
  readonly newId: () => string;
}

/** The registry's use cases: each command becomes events in the log, each query reads the read model. */
export class SourcesService {
  private deletionCompleter: DeletionCompleter | undefined;

  constructor(private readonly deps: SourcesServiceDeps) {}

  /** Installs what completes deletions (see {@link DeletionCompleter}). */
  useDeletionCompleter(completer: DeletionCompleter): void {
    this.deletionCompleter = completer;
  }

  async create(command: CreateSourceCommand, request: RequestContext): Promise<SourceDocument> {
    const { repository, names, secrets, newId } = this.deps;
    const sourceId = newId();
    const collectorId = command.collectorId ?? DEFAULT_COLLECTOR_ID;
    const config = toSourceConfig(command.source.config);
    const token = command.source.config.api_secret;
    registerSecret(token);
    const metadata = this.metadata(request);
    await names.reserve(collectorId, config.name, sourceId, metadata);
    try {
      const result = await repository.execute(
        sourceId,
        () => ({
          type: 'CreateSource',
          data: { sourceId, collectorId, config, secret: secrets.encrypt(token, sourceId) },
          metadata: { now: this.deps.clock() },
        }),
        // The id is new: its stream is empty, so nothing needs reading.
        { metadata, from: { state: initialState(), version: 0 } },
      );
      return await this.viewAt(sourceId, result);
    } catch (error) {
      await names.release(collectorId, config.name, sourceId, metadata).catch(() => undefined);
      throw error;
    }
  }

  async update(command: UpdateSourceCommand, request: RequestContext): Promise<SourceDocument> {
    const { repository, names } = this.deps;
    const sourceId = sourceIdOf(command);
    const config = toSourceConfig(command.source.config);
    const token = newSecretOf(command.source.config);
    if (token) registerSecret(token);
    const current = requireLive(sourceId, (await repository.load(sourceId)).state);
    if (command.collectorId !== undefined && command.collectorId !== current.collectorId) {
      throw new CommandError('ImmutableField', `a source cannot move to another collector (it is in "${current.collectorId}")`, [
        { path: 'collectorId', message: 'cannot change' },
      ]);
    }
    const metadata = this.metadata(request);
    const renamed = config.name !== current.config.name;
    if (renamed) await names.reserve(current.collectorId, config.name, sourceId, metadata);
    const result = await repository.execute(
      sourceId,
      (state) => ({
        type: 'UpdateSource',
        data: { sourceId, config, ...this.changedSecret(sourceId, state, token) },
        metadata: { now: this.deps.clock() },
      }),
      { metadata, ...(command.version !== undefined ? { expectedVersion: command.version } : {}) },
    );
    // A reservation whose holder no longer has that name binds nobody, so a crash before this
    // release (or a failed update above) cannot block either name.
    if (renamed) await names.release(current.collectorId, current.config.name, sourceId, metadata);
    return this.viewAt(sourceId, result);
  }

  async restart(ref: SourceRefCommand, request: RequestContext): Promise<SourceDocument> {
    await this.requireInCollector(ref);
    const result = await this.deps.repository.execute(
      ref.id,
      () => ({ type: 'RestartSource', data: { sourceId: ref.id }, metadata: { now: this.deps.clock() } }),
      { metadata: this.metadata(request), ...(ref.version !== undefined ? { expectedVersion: ref.version } : {}) },
    );
    return this.viewAt(ref.id, result);
  }

  /** Moves the source to Stopping; the deletion completer takes it to Deleted. */
  async delete(ref: SourceRefCommand, request: RequestContext): Promise<SourceDocument> {
    await this.requireInCollector(ref);
    const result = await this.deps.repository.execute(
      ref.id,
      () => ({ type: 'DeleteSource', data: { sourceId: ref.id }, metadata: { now: this.deps.clock() } }),
      { metadata: this.metadata(request), ...(ref.version !== undefined ? { expectedVersion: ref.version } : {}) },
    );
    const document = await this.viewAt(ref.id, result, { includeDeleted: true });
    this.deletionCompleter?.deletionRequested(ref.id);
    return document;
  }

  /**
   * Asks for one API of a source to be collected again over a window. The scheduler dispatches it
   * on the replay lane; records already delivered are dropped again downstream by their ids.
   */
  async replay(command: ReplaySourceCommand, request: RequestContext): Promise<ReplayReply> {
    const { id: sourceId, api, from, to } = command;
    const source = requireLive(sourceId, (await this.deps.repository.load(sourceId)).state);
    if (command.collectorId !== undefined && command.collectorId !== source.collectorId) throw notFound(sourceId);
    if (!source.config.supportedApis.includes(api)) {
      throw new CommandError('CollectionNotPlanned', `source ${sourceId} does not collect ${api} (see its supported_apis)`, [
        { path: 'api', message: 'is not in supported_apis' },
      ]);
    }
    const result = await this.deps.collections.execute(
      collectionStreamId(sourceId, api),
      () => ({ type: 'RequestReplay', data: { window: { from, to } }, metadata: { now: this.deps.clock() } }),
      { metadata: this.metadata(request) },
    );
    const requested = result.events.find((e) => e.type === 'ReplayRequested')?.data as { window: { from: string; to: string } };
    return { ok: true, sourceId, api, window: requested.window };
  }

  /** The token of a stored source, decrypted for a connection test only. */
  async storedTarget(ref: SourceRefCommand): Promise<{ baseUrl: string; token: string }> {
    const source = requireLive(ref.id, (await this.deps.repository.load(ref.id)).state);
    if (ref.collectorId !== undefined && ref.collectorId !== source.collectorId) throw notFound(ref.id);
    return { baseUrl: source.config.baseUrl, token: this.deps.secrets.decrypt(source.secret, ref.id) };
  }

  /** The source's change history, derived from its log; like `get`, unknown for another collector or once deleted. */
  async history(command: SourceHistoryCommand): Promise<SourceHistoryReply> {
    const events = await this.deps.repository.events(command.id);
    const state = foldSource(events.filter(isSourceEvent) as unknown as SourceEvent[]);
    if (state.status === 'Nonexistent' || state.status === 'Deleted' || (command.collectorId !== undefined && state.collectorId !== command.collectorId)) {
      throw notFound(command.id);
    }
    return { ok: true, sourceId: command.id, entries: historyFromLog(events) };
  }

  /**
   * Encrypts every stored token that is not under the newest key again, with the newest key: one
   * `SourceSecretReencrypted` event per such source, nothing else changes. Safe to repeat: a
   * source already under the newest key is only counted. A token that cannot be decrypted (its
   * key is no longer configured) is reported as failed, by id and reason.
   */
  async reencrypt(request: RequestContext): Promise<ReencryptReply> {
    const { secrets, repository, readModel, db } = this.deps;
    const keyId = secrets.currentKeyId;
    await readModel.catchUp();
    const views = await sourcesCollection(db)
      .find({ state: { $ne: 'Deleted' } }, { projection: { _id: 1 } })
      .sort({ _id: 1 })
      .toArray();
    const reply: ReencryptReply = { ok: true, keyId, reencrypted: [], current: [], failed: [] };
    const appended: Array<{ sourceId: string; result: ExecuteResult<SourceState> }> = [];
    for (const { _id: sourceId } of views) {
      try {
        const result = await repository.execute(
          sourceId,
          (state) => {
            const { secret } = requireLive(sourceId, state);
            // Decided again on every attempt: a concurrent update may have replaced the token.
            const sealed = secret.kid === keyId ? secret : secrets.encrypt(secrets.decrypt(secret, sourceId), sourceId);
            return { type: 'ReencryptSourceSecret', data: { sourceId, secret: sealed }, metadata: { now: this.deps.clock() } };
          },
          { metadata: this.metadata(request) },
        );
        (result.events.length > 0 ? reply.reencrypted : reply.current).push(sourceId);
        if (result.events.length > 0) appended.push({ sourceId, result });
      } catch (error) {
        // Deleted since the listing: nothing is stored any more to re-encrypt.
        if (error instanceof CommandError && error.code === 'SourceNotFound') continue;
        reply.failed.push({ id: sourceId, reason: error instanceof Error ? error.message : 'unknown failure' });
      }
    }
    for (const { sourceId, result } of appended) await this.caughtUpWith(sourceId, result);
    return reply;
  }

  /** Records that collection has stopped (Deleted) and frees the source's name. Idempotent. */
  async completeDeletion(sourceId: string, request: RequestContext): Promise<void> {
    const metadata = this.metadata(request);
    const result = await this.deps.repository.execute(
      sourceId,
      () => ({ type: 'CompleteSourceDeletion', data: { sourceId }, metadata: { now: this.deps.clock() } }),
      { metadata },
    );
    if (result.state.status === 'Deleted') {
      await this.deps.names.release(result.state.collectorId, result.state.name, sourceId, metadata);
    }
    await this.caughtUpWith(sourceId, result);
  }

  /** Sources waiting in Stopping, for a completer that resumes after a restart. */
  async stoppingSourceIds(): Promise<string[]> {
    const views = await sourcesCollection(this.deps.db).find({ state: 'Stopping' }, { projection: { _id: 1 } }).toArray();
    return views.map((view) => view._id);
  }

  async get(ref: SourceRefCommand): Promise<SourceDocument> {
    const view = await sourcesCollection(this.deps.db).findOne({ _id: ref.id });
    if (!view || view.state === 'Deleted' || (ref.collectorId !== undefined && ref.collectorId !== view.collectorId)) {
      throw notFound(ref.id);
    }
    return toSourceDocument(view);
  }

  async list(query: ListSourcesCommand): Promise<ListSourcesReply> {
    const states = query.state === undefined ? undefined : Array.isArray(query.state) ? query.state : [query.state];
    const filter: Filter<SourceView> = { state: states ? { $in: states } : { $ne: 'Deleted' } };
    if (query.collectorId !== undefined) filter.collectorId = query.collectorId;
    if (query.name !== undefined) filter.name = query.name;
    if (query.cursor !== undefined) {
      const [name, id] = decodeCursor(query.cursor);
      filter.$or = [{ name: { $gt: name } }, { name, _id: { $gt: id } }];
    }
    const views = await sourcesCollection(this.deps.db)
      .find(filter)
      .sort({ name: 1, _id: 1 })
      .limit(query.limit + 1)
      .toArray();
    const page = views.slice(0, query.limit);
    const last = page.at(-1);
    return {
      ok: true,
      sources: page.map(toSourceDocument),
      nextCursor: views.length > query.limit && last ? encodeCursor(last.name, last._id) : null,
    };
  }

  private async requireInCollector(ref: SourceRefCommand): Promise<void> {
    if (ref.collectorId === undefined) return;
    const { state } = await this.deps.repository.load(ref.id);
    if (state.status === 'Nonexistent' || state.status === 'Deleted' || state.collectorId !== ref.collectorId) throw notFound(ref.id);
  }

  /** The new encrypted token, only when the caller sent one that differs from the stored one. */
  private changedSecret(sourceId: string, state: SourceState, token: string | undefined): { secret?: EncryptedSecret } {
    if (token === undefined) return {};
    if (state.status !== 'Nonexistent' && state.status !== 'Deleted') {
      try {
        if (this.deps.secrets.decrypt(state.secret, sourceId) === token) return {};
      } catch {
        // The stored token cannot be read (its key is gone): the new one replaces it.
      }
    }
    return { secret: this.deps.secrets.encrypt(token, sourceId) };
  }

  /**
   * Read-your-writes: waits until the read model has applied the events a command just appended
   * (they come back through S1C_EVENTS, published by the relay in this process).
   */
  private async caughtUpWith(sourceId: string, result: ExecuteResult<SourceState>): Promise<void> {
    if (result.events.length === 0) return;
    await this.deps.readModel.catchUp({ streamId: sourceStreamId(sourceId), version: result.version });
  }

  private async viewAt(sourceId: string, result: ExecuteResult<SourceState>, options: { includeDeleted?: boolean } = {}): Promise<SourceDocument> {
    await this.caughtUpWith(sourceId, result);
    const view = await sourcesCollection(this.deps.db).findOne({ _id: sourceId });
    if (!view || (view.state === 'Deleted' && !options.includeDeleted)) throw notFound(sourceId);
    return toSourceDocument(view);
  }

  private metadata(request: RequestContext): EventMetadata {
    return { correlationId: request.correlationId, actor: request.actor };
  }
}

function sourceIdOf(command: UpdateSourceCommand): string {
  const id = command.id ?? command.source.id;
  if (id === undefined) throw new CommandError('ValidationError', 'invalid request: id is required', [{ path: 'id', message: 'is required' }]);
  if (command.id !== undefined && command.source.id !== undefined && command.id !== command.source.id) {
    throw new CommandError('ValidationError', 'invalid request: id and source.id differ', [{ path: 'source.id', message: 'must equal id' }]);
  }
  return id;
}

function requireLive(sourceId: string, state: SourceState): LiveSourceState {
  if (state.status === 'Nonexistent' || state.status === 'Deleted') throw notFound(sourceId);
  return state;
}

function notFound(sourceId: string): CommandError {
  return new CommandError('SourceNotFound', `source ${sourceId} does not exist`);
}

function encodeCursor(name: string, id: string): string {
  return Buffer.from(JSON.stringify([name, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
      return [value[0], value[1]];
    }
  } catch {
    // fall through to the refusal below
  }
  throw new CommandError('ValidationError', 'invalid request: cursor is not one this registry issued', [
    { path: 'cursor', message: 'is not valid' },
  ]);
}
