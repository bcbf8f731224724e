import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from 'nats';
import type { LoggerLike } from './logger.interface';
import { askJetStream } from './jetstream.api';
import type { LostConsumerGuard } from './lost.consumer';

export interface BatchConsumerOptions {
  readonly stream: string;
  readonly durable: string;
  /** Messages per batch handed to the handler, at most. */
  readonly batchSize: number;
  /**
   * The bytes of message data per batch, at most (a batch holds at least one message); with it,
   * what the consumer holds is bounded by bytes too: light traffic of small messages can go in
   * large batches while large messages still go a few at a time. A pull then asks for as many
   * messages as fit in the room left at `maxMessageBytes` each (the largest a message can be).
   */
  readonly batch?: { readonly bytes: number; readonly maxMessageBytes: number };
  /** Batches in flight at once. */
  readonly concurrency: number;
  /**
   * The consumer's ack wait: every third of it, the messages of running batches and the ones still
   * waiting in the buffer get `working()` (a message moving from the buffer to a batch can go two
   * intervals without one: still a third of the ack wait short of a redelivery).
   */
  readonly ackWaitMs: number;
  /**
   * How long one batch may run before the consumer stops keeping its messages alive and frees its
   * slot (JetStream then redelivers them); default four ack waits, at least a minute.
   */
  readonly batchTimeoutMs?: number;
  /**
   * For a handler that keeps messages after it returns and settles them later (a sink batching
   * for a slow collector): true while it holds as much as it should. No pull then until
   * {@link BatchConsumer.resume}; the backlog stays on the server.
   */
  readonly full?: () => boolean;
  /**
   * How long a batch short of `batchSize` waits for more messages before it starts (from its first
   * message's arrival); default 0. Light traffic then goes in fuller batches, fewer handler calls
   * (for the enricher, fewer store writes); under load batches are full and nothing waits.
   */
  readonly lingerMs?: number;
  /** Declares the consumer again if the server loses it (for a handler that checks every message against what it did), or reports it. */
  readonly lost?: LostConsumerGuard;
}

/** Handles one batch; settles (ack, nak, term) every message itself, and never throws for one message. */
export type BatchHandler = (messages: readonly JsMsg[]) => Promise<void>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Runs a durable pull consumer in batches: whatever has arrived is handed to the handler in batches
 * of at most `batchSize`, with up to `concurrency` batches in flight. Under load batches fill up;
 * when traffic is light a message is handled at once (or after `lingerMs`), alone or with the few
 * that came with it.
 *
 * It holds at most two rounds of batches (`batchSize × concurrency × 2` messages, running or
 * waiting; with `batch.bytes`, also at most `batch.bytes × concurrency × 2` bytes) and pulls only
 * when there is room: the next round is here when a slot frees up, and a backlog stays on the
 * server. (nats.js's `consume()` pulls again as soon as messages arrive, handled or not: a backlog
 * of raw batches up to `max_ack_pending` would sit in memory.)
 *
 * The NestJS transport (`NatsTransport`) handles one message per handler call with a confirmed ack
 * each; at tens of thousands of records per second the enricher needs one MongoDB round trip per
 * batch instead, and plain acks (its delivered set makes a lost ack harmless).
 */
export class BatchConsumer {
  private readonly buffer: JsMsg[] = [];
  /** When each buffered message arrived (ms), in the buffer's order: what `lingerMs` counts from. */
  private readonly arrivals: number[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly inflight = new Set<Promise<void>>();
  /** Messages in the batches in flight. */
  private running = 0;
  /** Bytes of message data in the buffer and in the batches in flight. */
  private held = 0;
  private fetch: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopping = false;
  private scheduled = false;
  private bufferHeartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly options: BatchConsumerOptions,
    private readonly handler: BatchHandler,
    private readonly logger: LoggerLike,
  ) {}

  private get capacity(): number {
    return this.options.batchSize * this.options.concurrency * 2;
  }

  /**
   * How many messages a pull may bring now (0 when full). With a byte budget, only as many as fit
   * in it at the largest size a message can have: a pull asking for bytes instead would not end
   * when the server has sent its last message (nats.js 2.29 waits for the bytes or the expiry).
   */
  private room(): number {
    if (this.options.full?.()) return 0;
    const messages = this.capacity - this.buffer.length - this.running;
    const batch = this.options.batch;
    if (!batch) return Math.max(messages, 0);
    const bytes = Math.max(batch.bytes * this.options.concurrency * 2, batch.maxMessageBytes) - this.held;
    return Math.max(Math.min(messages, Math.floor(bytes / batch.maxMessageBytes)), 0);
  }

  async start(): Promise<void> {
    const consumer = await askJetStream(this.logger, `consumer ${this.options.stream}/${this.options.durable}`, () =>
      this.js.consumers.get(this.options.stream, this.options.durable),
    );
    this.options.lost?.watch(consumer);
    this.loop = this.pull(consumer);
    // A message waits in the buffer until a batch slot is free, which can take longer than the ack
    // wait when batches are slow. Without this the server redelivers it while the first copy still
    // waits here: both copies are handled, each redelivery costs the delivered set a lookup per
    // record, and the backlog feeds itself.
    this.bufferHeartbeat = setInterval(() => {
      for (const m of this.buffer) m.working();
    }, Math.max(250, this.options.ackWaitMs / 3));
    this.bufferHeartbeat.unref();
  }

  /** Stops pulling, waits up to `timeoutMs` for batches in flight, and hands buffered messages back. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.bufferHeartbeat);
    this.options.lost?.stop();
    this.fetch?.stop();
    this.wake?.();
    await this.loop;
    clearTimeout(this.lingerTimer);
    this.arrivals.length = 0;
    for (const m of this.buffer.splice(0)) {
      this.held -= m.data.length;
      m.nak();
    }
    await Promise.race([Promise.allSettled([...this.inflight]), sleep(timeoutMs)]);
    if (this.inflight.size > 0) {
      this.logger.warn({ durable: this.options.durable, inflight: this.inflight.size }, 'batches still running at close; their messages will be redelivered');
    }
  }

  /** Tells a consumer paused by {@link BatchConsumerOptions.full} to look again. */
  resume(): void {
    this.wake?.();
  }

  /** Pulls as many messages as there is room for, each pull open until they came or 5 s passed. */
  private async pull(consumer: Consumer): Promise<void> {
    while (!this.stopping) {
      const room = this.room();
      if (room === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        const messages = await consumer.fetch({ max_messages: room, expires: 5_000 });
        this.fetch = messages;
        if (this.stopping) messages.stop();
        for await (const m of messages) {
          if (this.stopping) {
            m.nak();
            continue;
          }
          this.buffer.push(m);
          this.held += m.data.length;
          this.arrivals.push(Date.now());
          this.schedule();
        }
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn({ durable: this.options.durable, err: error }, 'pull failed; retrying');
        await Promise.race([sleep(1000), new Promise<void>((resolve) => (this.wake = resolve))]);
      } finally {
        this.fetch = undefined;
      }
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Let the messages that arrive in the same tick join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.stopping && this.buffer.length > 0 && this.inflight.size < this.options.concurrency) {
      const { count, bytes, full } = this.nextBatch();
      const waitMs = full ? 0 : this.arrivals[0]! + (this.options.lingerMs ?? 0) - Date.now();
      if (waitMs > 0) {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = setTimeout(() => this.pump(), waitMs);
        return;
      }
      this.arrivals.splice(0, count);
      const batch = this.buffer.splice(0, count);
      this.running += batch.length;
      const task = this.run(batch).finally(() => {
        this.inflight.delete(task);
        this.running -= batch.length;
        this.held -= bytes;
        this.wake?.();
        this.pump();
      });
      this.inflight.add(task);
    }
  }

  /** The messages at the head of the buffer that make the next batch, their bytes, and whether it is full. */
  private nextBatch(): { count: number; bytes: number; full: boolean } {
    const limit = this.options.batch?.bytes ?? Infinity;
    const most = Math.min(this.buffer.length, this.options.batchSize);
    let count = 0;
    let bytes = 0;
    while (count < most && (count === 0 || bytes + this.buffer[count]!.data.length <= limit)) bytes += this.buffer[count++]!.data.length;
    return { count, bytes, full: count === this.options.batchSize || count < this.buffer.length };
  }

  private async run(batch: JsMsg[]): Promise<void> {
    const heartbeat = setInterval(() => {
      for (const m of batch) m.working();
    }, Math.max(250, this.options.ackWaitMs / 3));
    const limitMs = this.options.batchTimeoutMs ?? Math.max(60_000, this.options.ackWaitMs * 4);
    let timer: NodeJS.Timeout | undefined;
    // A handler stuck on a call that never settles would otherwise hold its slot, and keep its
    // messages alive, for ever: past the limit they are left to JetStream's redelivery, which the
    // exactly-once bookkeeping makes safe.
    const watchdog = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), limitMs);
    });
    try {
      const outcome = await Promise.race([this.handler(batch).then(() => 'done' as const), watchdog]);
      if (outcome === 'timeout') {
        this.logger.error({ durable: this.options.durable, size: batch.length, limitMs }, 'batch took too long; its messages will be redelivered');
      }
    } catch (error) {
      // The handler settles messages itself; whatever it left unsettled comes back after ack wait.
      this.logger.error({ durable: this.options.durable, err: error, size: batch.length }, 'batch handler failed');
    } finally {
      clearTimeout(timer);
      clearInterval(heartbeat);
    }
  }
}
