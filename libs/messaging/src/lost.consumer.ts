import { DeliverPolicy, NatsError, RetentionPolicy, type Consumer, type JetStreamManager } from 'nats';
import type { LoggerLike } from './logger.interface';
import { DeclarationConflictError } from './messaging.errors';
import { ensureConsumer, type ConsumerDeclaration } from './stream.declarations';

/** How often the consumer is asked after (its ack floor read, or found gone). */
const CHECK_INTERVAL_MS = 5_000;
/** How long a consumer may go unanswered while its stream has a leader before it is taken for broken. */
const LEADERLESS_MS = 30_000;
/** How often a guard that only reports says again that the consumer is lost. */
const REPORT_INTERVAL_MS = 60_000;
/** JetStream's error code for "consumer not found". */
const CONSUMER_NOT_FOUND = 10014;

export function isConsumerNotFound(error: unknown): boolean {
  return error instanceof NatsError && (error.api_error?.err_code === CONSUMER_NOT_FOUND || error.message === 'consumer not found');
}

/**
 * Declares a durable pull consumer again when the server has lost it. nats-server 2.9.10 on a
 * three-node cluster was seen to lose a replicated durable for good when its stream's leader and
 * then the meta leader were killed and came back: every request about it answered "consumer not
 * found", or went unanswered (503: the consumer had no leader) while its stream answered, also
 * after each node restarted, and its readers waited for ever.
 *
 * The guard asks after the consumer every 5 s and notes its ack floor. When the server says it is
 * gone, or it has not answered for 30 s while its stream has a leader (a broken consumer is then
 * deleted first), the guard declares it again, starting at the stream sequence after the last
 * floor noted. The floor only rises, so every message not acked lies above it; the ones acked
 * since the last reading come again, as first deliveries. So a guard is for readers that check
 * every message against what they have done (the enricher's delivered set), or for a work queue
 * (acked messages have left the stream: its consumer is declared again as it was). For any other
 * reader, a guard made with `declareAgain: false` only says, once a minute at error level, that
 * the consumer is lost and its reader waits.
 */
export class LostConsumerGuard {
  private floor = 0;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** When the consumer first went unanswered, since it last answered. */
  private unansweredSince: number | undefined;
  /** True from finding the consumer gone (or deleting it) until it is declared again: each check tries. */
  private gone = false;
  private reportedAt = 0;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly declaration: ConsumerDeclaration,
    private readonly logger: LoggerLike,
    private readonly options: { readonly declareAgain: boolean } = { declareAgain: true },
  ) {}

  /** Starts asking after `consumer`. */
  watch(consumer: Consumer): void {
    this.timer = setInterval(() => void this.check(consumer), CHECK_INTERVAL_MS);
    this.timer.unref();
    void this.check(consumer);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(consumer: Consumer): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const info = await consumer.info();
      this.floor = Math.max(this.floor, info.ack_floor.stream_seq);
      this.unansweredSince = undefined;
      this.gone = false;
    } catch (error) {
      if (this.gone || isConsumerNotFound(error)) await this.declareAgain();
      else await this.unanswered(error);
    } finally {
      this.checking = false;
    }
  }

  /** A timeout or an election usually: the next check asks again. Past 30 s with the stream led, the consumer is broken. */
  private async unanswered(error: unknown): Promise<void> {
    const now = Date.now();
    this.unansweredSince ??= now;
    if (now - this.unansweredSince < LEADERLESS_MS) return;
    const durable = this.declaration.durable_name;
    try {
      const stream = await this.jsm.streams.info(this.stream);
      if (stream.cluster && !stream.cluster.leader) return;
      if (!this.options.declareAgain) return this.report('has not answered for 30 s while its stream has a leader');
      this.logger.error(
        { stream: this.stream, durable, unansweredMs: now - this.unansweredSince, err: error },
        'the durable consumer has not answered while its stream has a leader: deleting it to declare it again',
      );
      await this.jsm.consumers.delete(this.stream, durable).catch((e: unknown) => {
        if (!isConsumerNotFound(e)) throw e;
      });
      this.unansweredSince = undefined;
      await this.declareAgain();
    } catch (e) {
      this.logger.warn({ stream: this.stream, durable, err: e }, 'a durable consumer that does not answer could not be replaced: trying again at the next check');
    }
  }

  private async declareAgain(): Promise<void> {
    if (!this.options.declareAgain) return this.report('is gone from the server');
    const durable = this.declaration.durable_name;
    this.gone = true;
    try {
      const { config } = await this.jsm.streams.info(this.stream);
      const fromSeq = this.floor + 1;
      const declaration: ConsumerDeclaration =
        config.retention === RetentionPolicy.Workqueue ? this.declaration : { ...this.declaration, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq };
      // Another replica of the service may have declared it again already: from another floor, which the server will not change.
      const { action } = await ensureConsumer(this.jsm, this.stream, declaration).catch((error: unknown) => {
        if (error instanceof DeclarationConflictError) return { action: 'declared again by another reader' };
        throw error;
      });
      this.gone = false;
      this.logger.error(
        { stream: this.stream, durable, action, ...(declaration.opt_start_seq ? { fromSeq } : {}) },
        'the server had lost this durable consumer: declared again (messages acked since its ack floor was last read come again)',
      );
    } catch (error) {
      this.logger.warn({ stream: this.stream, durable, err: error }, 'declaring a lost durable consumer again failed: trying again at the next check');
    }
  }

  private report(what: string): void {
    if (Date.now() - this.reportedAt < REPORT_INTERVAL_MS) return;
    this.reportedAt = Date.now();
    this.logger.error(
      { stream: this.stream, durable: this.declaration.durable_name },
      `the durable consumer ${what}: its reader waits; declare it again by hand (docs/OPERATIONS.md, "A durable consumer the server lost")`,
    );
  }
}
