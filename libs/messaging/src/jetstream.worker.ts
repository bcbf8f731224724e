import { type MessageHandler } from '@nestjs/microservices';
import { type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from 'nats';
import { isObservable, lastValueFrom, type Observable } from 'rxjs';
import { JetStreamContext } from './jetstream.context';
import { type JetStreamConsumerOptions } from './jetstream-consumer.decorator';
import { type LoggerLike } from './logger.interface';
import { type LostConsumerGuard } from './lost.consumer';
import { deadLetter, type DeadLetterReason } from './dead-letter';
import { HandlerFailure, PoisonMessageError, RetryableError } from './messaging.errors';
import { nakDelayFor } from './nak-delay.policy';


type Outcome = { kind: 'retry'; message: string; delayMs?: number; error: unknown } | { kind: 'poison'; message: string; error: unknown };

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error !== null && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}

function classify(error: unknown): Outcome {
  const cause = error instanceof HandlerFailure ? error.original : error;
  if (cause instanceof PoisonMessageError) return { kind: 'poison', message: cause.message, error: cause };
  if (cause instanceof RetryableError) {
    return cause.delayMs === undefined
      ? { kind: 'retry', message: cause.message, error: cause }
      : { kind: 'retry', message: cause.message, delayMs: cause.delayMs, error: cause };
  }
  // Anything unexpected is treated as transient: poison must be declared, never guessed.
  return { kind: 'retry', message: describe(cause), error: cause };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Runs one durable pull consumer: fetches only as many messages as it has free handler
 * slots (a buffered message would burn its ack wait unseen), calls the handler, and turns
 * its outcome into ack, nak(delay) or dead-letter + term.
 * @internal
 */
export class JetStreamWorker {
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private fetch: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly concurrency: number;

  constructor(
    private readonly consumer: Consumer,
    private readonly js: JetStreamClient,
    private readonly options: JetStreamConsumerOptions,
    private readonly handler: MessageHandler,
    private readonly logger: LoggerLike,
    private readonly fetchExpiresMs: number,
    private readonly lost?: LostConsumerGuard,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
  }

  start(): void {
    this.lost?.watch(this.consumer);
    this.loop = this.run();
  }

  /** Stops fetching, then waits up to `timeoutMs` for the handlers in flight to finish and ack. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.lost?.stop();
    this.fetch?.stop();
    this.wake?.();
    await this.loop;
    const settled = Promise.allSettled([...this.inflight]);
    await Promise.race([settled, sleep(timeoutMs)]);
    if (this.inflight.size > 0) {
      this.logger.warn(
        { stream: this.options.stream, durable: this.options.durable, inflight: this.inflight.size },
        'jetstream handlers still running at close; their messages will be redelivered',
      );
    }
  }

  private async run(): Promise<void> {
    const { stream, durable } = this.options;
    while (!this.stopping) {
      await this.freeSlot();
      if (this.stopping) break;
      try {
        const batch = await this.consumer.fetch({
          max_messages: this.concurrency - this.inflight.size,
          expires: this.fetchExpiresMs,
        });
        this.fetch = batch;
        if (this.stopping) batch.stop();
        for await (const m of batch) {
          if (this.stopping) {
            m.nak();
            continue;
          }
          this.track(this.process(m));
        }
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn({ stream, durable, err: error }, 'jetstream fetch failed; retrying');
        await Promise.race([sleep(1000), new Promise<void>((resolve) => (this.wake = resolve))]);
      } finally {
        this.fetch = undefined;
      }
    }
  }

  private async freeSlot(): Promise<void> {
    while (!this.stopping && this.inflight.size >= this.concurrency) {
      await Promise.race([...this.inflight, new Promise<void>((resolve) => (this.wake = resolve))]);
    }
  }

  private track(task: Promise<void>): void {
    const tracked = task.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  private async process(m: JsMsg): Promise<void> {
    const { stream, durable, maxDeliver, ackWaitMs } = this.options;
    const log = { stream, durable, subject: m.subject, seq: m.seq, deliveryCount: m.info.deliveryCount };
    try {
      if (m.info.deliveryCount > maxDeliver) {
        await this.deadLetter(m, 'MaxDeliveriesExceeded', 'the previous delivery ended without an outcome');
        return;
      }
      const ctx = new JetStreamContext(m, durable);
      const heartbeat = setInterval(() => m.working(), Math.max(ackWaitMs / 2, 250));
      let outcome: Outcome | undefined;
      try {
        const result: unknown = await this.handler(m.data, ctx);
        if (isObservable(result)) await lastValueFrom(result as Observable<unknown>, { defaultValue: undefined });
      } catch (error) {
        outcome = classify(error);
      } finally {
        clearInterval(heartbeat);
      }
      if (!outcome) {
        await this.ack(m, log);
      } else if (outcome.kind === 'poison') {
        await this.deadLetter(m, 'PoisonMessage', outcome.message);
      } else if (m.info.deliveryCount >= maxDeliver) {
        await this.deadLetter(m, 'MaxDeliveriesExceeded', outcome.message);
      } else {
        const delayMs = outcome.delayMs ?? nakDelayFor(m.info.deliveryCount, this.options.nakDelaysMs);
        m.nak(delayMs);
        this.logger.warn({ ...log, delayMs, err: outcome.error }, `jetstream handler failed, retrying: ${outcome.message}`);
      }
    } catch (error) {
      // Leaving the message unacked is safe: the server redelivers it after ack wait.
      this.logger.error({ ...log, err: error }, 'jetstream message processing failed');
    }
  }

  private async ack(m: JsMsg, log: object): Promise<void> {
    try {
      // Double ack: we only count a message as done when the server confirms the ack.
      await m.ackAck();
    } catch (error) {
      this.logger.warn({ ...log, err: error }, 'jetstream ack not confirmed; the message may be redelivered');
    }
  }

  private async deadLetter(m: JsMsg, reason: DeadLetterReason, errorMessage: string): Promise<void> {
    const { stream, durable } = this.options;
    const log = { stream, durable, subject: m.subject, seq: m.seq, deliveryCount: m.info.deliveryCount, reason };
    try {
      await deadLetter(this.js, m, durable, reason, errorMessage);
    } catch (error) {
      this.logger.error({ ...log, err: error }, 'dead-letter publish failed; the message will be redelivered');
      m.nak(nakDelayFor(m.info.deliveryCount, this.options.nakDelaysMs));
      return;
    }
    this.logger.error({ ...log, error: errorMessage }, 'jetstream message dead-lettered');
  }
}
