import { isTokenHealthEvent, tokenHealthDecider, tokenStreamId, type RecordTokenExpiry, type TokenHealthEvent, type TokenHealthState } from '@s1c/domain';
import { AggregateRepository, ConcurrencyError, type FoldedStreams, type LoadedAggregate, type MongoEventStore } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import type { S1Client } from '@s1c/s1-client';

const DAY_MS = 86_400_000;
/** After a check that failed (SentinelOne or the log unreachable), the next one is this much later. */
const RETRY_MS = 3_600_000;
const EMPTY_STREAM: LoadedAggregate<TokenHealthState> = { state: tokenHealthDecider.initialState(), version: 0, position: 0 };
/** Sources whose next check time is kept; beyond it the oldest is forgotten (checked again early). */
const MAX_TRACKED = 20_000;

/** What a {@link TokenExpiryWatch} needs. */
export interface TokenExpiryWatchOptions {
  readonly store: MongoEventStore;
  /** S1C_TOKEN_EXPIRY_WARNING_DAYS; 0 turns the check off. */
  readonly warningDays: number;
  readonly clock: () => Date;
  readonly logger: Logger;
  /** Each source's token health folded from the relayed events; without it a source's stream is read from the log at its first check. */
  readonly folds?: Pick<FoldedStreams<TokenHealthState>, 'head'>;
}

/**
 * The daily check of each source's API token expiry (`users/api-token-details`), recorded in the
 * source's `token-<sourceId>` stream ({@link tokenHealthDecider}): a warning before the token
 * expires, resolved once the token is replaced. A job calls it after its token was accepted; it
 * asks SentinelOne at most once a day per source and configuration generation (an update, which
 * may bring a new token, checks again at its first job). It never fails the job: a failed check is
 * logged and tried again an hour later.
 *
 * The stream's state comes from the relayed events when given (`folds`; a stream they do not hold
 * is taken as empty), otherwise from the log once; a fold behind the log loses the append's race
 * on the stream version, and only then is the stream read.
 */
export class TokenExpiryWatch {
  private readonly repository: AggregateRepository<TokenHealthState, RecordTokenExpiry, TokenHealthEvent>;
  /** Per source: the generation checked and when it is due again (ms). */
  private readonly due = new Map<string, { generation: number; at: number }>();
  private readonly written = new Map<string, LoadedAggregate<TokenHealthState>>();

  constructor(private readonly options: TokenExpiryWatchOptions) {
    this.repository = new AggregateRepository(options.store, tokenHealthDecider, isTokenHealthEvent);
  }

  /** Whether the source's token is due for a check now. */
  isDue(sourceId: string, generation: number): boolean {
    if (this.options.warningDays <= 0) return false;
    const due = this.due.get(sourceId);
    return !due || due.generation !== generation || due.at <= this.options.clock().getTime();
  }

  /** Checks the token when due and records what it found; never throws. */
  async checkIfDue(sourceId: string, generation: number, client: Pick<S1Client, 'tokenDetails'>, signal: AbortSignal, log: Logger): Promise<void> {
    if (!this.isDue(sourceId, generation)) return;
    const now = this.options.clock();
    // Taken before asking, so that jobs of the source's other lanes running now do not ask too.
    this.track(sourceId, generation, now.getTime() + DAY_MS);
    try {
      const details = await client.tokenDetails({ signal });
      const expiresAt = details?.expiresAt ?? null;
      if (expiresAt === null) log.debug({ sourceId }, 'SentinelOne does not tell this token\'s expiry (it may not read api-token-details): no expiry warning');
      await this.record(sourceId, { type: 'RecordTokenExpiry', data: { sourceId, expiresAt, warningDays: this.options.warningDays, at: now } }, log);
    } catch (error) {
      if (signal.aborted) {
        this.due.delete(sourceId);
        return;
      }
      this.track(sourceId, generation, now.getTime() + RETRY_MS);
      log.warn({ sourceId, err: error }, "the check of the API token's expiry failed; trying again in an hour");
    }
  }

  private async record(sourceId: string, command: RecordTokenExpiry, log: Logger): Promise<void> {
    const streamId = tokenStreamId(sourceId);
    const relayed = this.options.folds?.head(streamId);
    const kept = this.written.get(sourceId);
    // With the relayed folds, a stream they do not hold has no events yet (or they are still on
    // their way): it is taken as empty rather than read, since a read of the log scans it on
    // FerretDB. A wrong guess only loses the append's race on the version, and is read then.
    const from = (relayed && (!kept || relayed.version >= kept.version) ? relayed : kept) ?? (this.options.folds ? EMPTY_STREAM : undefined);
    let result;
    try {
      result = await this.repository.execute(streamId, () => command, from ? { from } : {});
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      // Another fetcher recorded the same check meanwhile: what it wrote stands.
      return;
    }
    if (result.events.length === 0) return;
    this.written.set(sourceId, result);
    if (this.written.size > MAX_TRACKED) this.written.delete(this.written.keys().next().value!);
    for (const event of result.events as unknown as readonly TokenHealthEvent[]) {
      if (event.type === 'HealthEventRaised') log.warn({ sourceId, healthEventId: event.data.healthEventId, expiresAt: event.data.expiresAt }, "the API token's expiry is near; health warning raised");
      else log.info({ sourceId, healthEventId: event.data.healthEventId }, "the API token's expiry is no longer near; health warning resolved");
    }
  }

  private track(sourceId: string, generation: number, at: number): void {
    this.due.delete(sourceId);
    this.due.set(sourceId, { generation, at });
    if (this.due.size > MAX_TRACKED) this.due.delete(this.due.keys().next().value!);
  }
}
