import type { ConnectionTarget } from './connection.tester';
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
import type { AggregateRepository, EventMetadata, ExecuteResult } from '@s1c/event-store';
import { registerSecret } from '@s1c/logger';
import type { SecretBox } from '@s1c/secrets';
import { toSourceDocument } from './source-document.mapper';
import type { SourceNameRegistry } from './source-name.registry';
import type { SourceRepository } from './source.repository';
import { emptyFold, isLive, shownSource, SourceViews, type LoadedFold } from './source.views';

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
  readonly repository: SourceRepository;
  readonly collections: AggregateRepository<CollectionState, CollectionCommand, CollectionEvent>;
  readonly names: SourceNameRegistry;
  readonly secrets: SecretBox;
  readonly views: SourceViews;
  readonly clock: () => Date;
  readonly newId: () => string;
}

/**
 * The registry's use cases: each command becomes events in the log, decided on the source as the
 * views hold it; each query answers from the views (memory).
 */
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
    let created = false;
    try {
      // The id is new: its stream is empty, so nothing needs reading.
      const before: LoadedFold = { state: emptyFold(), version: 0, position: 0 };
      const result = await repository.execute(
        sourceId,
        () => ({
          type: 'CreateSource',
          data: { sourceId, collectorId, config, secret: secrets.encrypt(token, sourceId) },
          metadata: { now: this.deps.clock() },
        }),
        { metadata, from: SourceViews.aggregateOf(before) },
      );
      created = true;
      return await this.documentAfter(sourceId, before, result);
    } catch (error) {
      // Once the source is stored its name is its own, whatever happens to the reply.
      if (!created) await names.release(collectorId, config.name, sourceId, metadata).catch(() => undefined);
      throw error;
    }
  }

  async update(command: UpdateSourceCommand, request: RequestContext): Promise<SourceDocument> {
    const { repository, names } = this.deps;
    const sourceId = sourceIdOf(command);
    const config = toSourceConfig(command.source.config);
    const token = newSecretOf(command.source.config);
    if (token) registerSecret(token);
    const before = await this.deps.views.load(sourceId);
    const current = requireLive(sourceId, before.state.source);
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
      { metadata, ...this.decidedOn(before, command.version) },
    );
    // A reservation whose holder no longer has that name binds nobody, so a crash before this
    // release (or a failed update above) cannot block either name.
    if (renamed) await names.release(current.collectorId, current.config.name, sourceId, metadata);
    return this.documentAfter(sourceId, before, result);
  }

  async restart(ref: SourceRefCommand, request: RequestContext): Promise<SourceDocument> {
    const before = await this.inCollector(ref);
    const result = await this.deps.repository.execute(
      ref.id,
      () => ({ type: 'RestartSource', data: { sourceId: ref.id }, metadata: { now: this.deps.clock() } }),
      { metadata: this.metadata(request), ...this.decidedOn(before, ref.version) },
    );
    return this.documentAfter(ref.id, before, result);
  }

  /** Moves the source to Stopping; the deletion completer takes it to Deleted. */
  async delete(ref: SourceRefCommand, request: RequestContext): Promise<SourceDocument> {
    const before = await this.inCollector(ref);
    const result = await this.deps.repository.execute(
      ref.id,
      () => ({ type: 'DeleteSource', data: { sourceId: ref.id }, metadata: { now: this.deps.clock() } }),
      { metadata: this.metadata(request), ...this.decidedOn(before, ref.version) },
    );
    const document = await this.documentAfter(ref.id, before, result, { includeDeleted: true });
    this.deletionCompleter?.deletionRequested(ref.id);
    return document;
  }

  /**
   * Asks for one API of a source to be collected again over a window. The scheduler dispatches it
   * on the replay lane; records already delivered are dropped again downstream by their ids.
   */
  async replay(command: ReplaySourceCommand, request: RequestContext): Promise<ReplayReply> {
    const { id: sourceId, api, from, to } = command;
    const source = requireLive(sourceId, (await this.deps.views.load(sourceId)).state.source);
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
  async storedTarget(ref: SourceRefCommand): Promise<ConnectionTarget> {
    const source = requireLive(ref.id, (await this.deps.views.load(ref.id)).state.source);
    if (ref.collectorId !== undefined && ref.collectorId !== source.collectorId) throw notFound(ref.id);
    return { baseUrl: source.config.baseUrl, token: this.deps.secrets.decrypt(source.secret, ref.id), apis: source.config.supportedApis };
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
    const { secrets, repository, views } = this.deps;
    const keyId = secrets.currentKeyId;
    await views.catchUp();
    const live = [...views.all()].filter(([, fold]) => isLive(fold.state.source)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const reply: ReencryptReply = { ok: true, keyId, reencrypted: [], current: [], failed: [] };
    for (const [sourceId, before] of live) {
      try {
        const result = await repository.execute(
          sourceId,
          (state) => {
            const { secret } = requireLive(sourceId, state);
            // Decided again on every attempt: a concurrent update may have replaced the token.
            const sealed = secret.kid === keyId ? secret : secrets.encrypt(secrets.decrypt(secret, sourceId), sourceId);
            return { type: 'ReencryptSourceSecret', data: { sourceId, secret: sealed }, metadata: { now: this.deps.clock() } };
          },
          { metadata: this.metadata(request), from: SourceViews.aggregateOf(before) },
        );
        (result.events.length > 0 ? reply.reencrypted : reply.current).push(sourceId);
        if (result.events.length > 0) await views.after(sourceId, before, result);
      } catch (error) {
        // Deleted since the listing: nothing is stored any more to re-encrypt.
        if (error instanceof CommandError && error.code === 'SourceNotFound') continue;
        reply.failed.push({ id: sourceId, reason: error instanceof Error ? error.message : 'unknown failure' });
      }
    }
    return reply;
  }

  /** Records that collection has stopped (Deleted) and frees the source's name. Idempotent. */
  async completeDeletion(sourceId: string, request: RequestContext): Promise<void> {
    const metadata = this.metadata(request);
    const before = await this.deps.views.load(sourceId);
    const result = await this.deps.repository.execute(
      sourceId,
      () => ({ type: 'CompleteSourceDeletion', data: { sourceId }, metadata: { now: this.deps.clock() } }),
      { metadata, ...this.decidedOn(before) },
    );
    if (result.state.status === 'Deleted') {
      await this.deps.names.release(result.state.collectorId, result.state.name, sourceId, metadata);
    }
    if (result.events.length > 0) await this.deps.views.after(sourceId, before, result);
  }

  /** Sources waiting in Stopping, for a completer that resumes after a restart. */
  stoppingSourceIds(): string[] {
    return [...this.deps.views.all()].filter(([, fold]) => fold.state.source.status === 'Stopping').map(([sourceId]) => sourceId);
  }

  async get(ref: SourceRefCommand): Promise<SourceDocument> {
    const fold = await this.deps.views.load(ref.id);
    const document = isLive(fold.state.source) ? toSourceDocument(fold) : undefined;
    if (!document || (ref.collectorId !== undefined && ref.collectorId !== document.collectorId)) throw notFound(ref.id);
    return document;
  }

  /** Sorted by name, then id; from memory, once every source event relayed so far is folded. */
  async list(query: ListSourcesCommand): Promise<ListSourcesReply> {
    await this.deps.views.catchUp();
    const states = query.state === undefined ? undefined : Array.isArray(query.state) ? query.state : [query.state];
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const matching: Array<{ name: string; id: string; fold: LoadedFold }> = [];
    for (const [id, fold] of this.deps.views.all()) {
      const shown = shownSource(fold.state);
      if (!shown) continue;
      if (states ? !states.includes(shown.status) : shown.status === 'Deleted') continue;
      if (query.collectorId !== undefined && shown.collectorId !== query.collectorId) continue;
      const name = shown.config.name;
      if (query.name !== undefined && name !== query.name) continue;
      if (after && (name < after[0] || (name === after[0] && id <= after[1]))) continue;
      matching.push({ name, id, fold });
    }
    matching.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = matching.slice(0, query.limit);
    const last = page.at(-1);
    return {
      ok: true,
      sources: page.map(({ fold }) => toSourceDocument(fold)!),
      nextCursor: matching.length > query.limit && last ? encodeCursor(last.name, last.id) : null,
    };
  }

  /** The source, which must exist (in the caller's collector when it names one). */
  private async inCollector(ref: SourceRefCommand): Promise<LoadedFold> {
    const fold = await this.deps.views.load(ref.id);
    const { source } = fold.state;
    if (ref.collectorId !== undefined && (!isLive(source) || source.collectorId !== ref.collectorId)) throw notFound(ref.id);
    return fold;
  }

  /**
   * What a command is decided on: the views' fold, unless the caller expects another version (then
   * the log decides whether the caller or the views are behind).
   */
  private decidedOn(before: LoadedFold, expectedVersion?: number): { from?: ReturnType<typeof SourceViews.aggregateOf>; expectedVersion?: number } {
    if (expectedVersion === undefined) return { from: SourceViews.aggregateOf(before) };
    return expectedVersion === before.version ? { from: SourceViews.aggregateOf(before), expectedVersion } : { expectedVersion };
  }

  /** The changed source's document, folded from the events the command appended (no read of the store). */
  private async documentAfter(
    sourceId: string,
    before: LoadedFold,
    result: ExecuteResult<SourceState>,
    options: { includeDeleted?: boolean } = {},
  ): Promise<SourceDocument> {
    const fold = await this.deps.views.after(sourceId, before, result);
    const document = toSourceDocument(fold);
    if (!document || (document.source.state.state === 'Deleted' && !options.includeDeleted)) throw notFound(sourceId);
    return document;
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
