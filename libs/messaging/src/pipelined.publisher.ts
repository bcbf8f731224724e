import { createInbox, type Msg, type NatsConnection, type PubAck, type Subscription } from 'nats';
import { ByteSlab } from './byte.slab';
import type { HeaderBlock } from './header.block';

/** Options of a {@link PipelinedPublisher}. */
export interface PipelinedPublisherOptions {
  /** Publishes waiting for their PubAck at most; beyond that, `publish` waits for one to settle. Default 4096. */
  readonly maxInFlight?: number;
  /** How long a PubAck may take before the publish fails; default 10000 ms. */
  readonly timeoutMs?: number;
}

/** A JetStream publish that did not get its PubAck: timed out, refused by the stream, or no stream takes the subject. */
export class PublishFailedError extends Error {
  override readonly name = 'PublishFailedError';
  constructor(
    readonly subject: string,
    reason: string,
  ) {
    super(`publish to ${subject}: ${reason}`);
  }
}

const decoder = new TextDecoder();

interface Pending {
  readonly subject: string;
  readonly deadline: number;
  resolve(ack: PubAck): void;
  reject(error: Error): void;
}

/**
 * JetStream publishes pipelined over one connection: each message goes out with a reply subject
 * under one inbox subscription of this publisher, and the PubAck that comes back settles its
 * promise. The same protocol as `js.publish` (a request per message, `Nats-Msg-Id` deduplication),
 * without its per-message request object, timer and error objects: on the enricher's hot path those
 * were a third of its CPU. At most `maxInFlight` publishes wait for their PubAck; more wait for a
 * slot, which is the back-pressure a slow server exerts. A sweep fails publishes past their timeout.
 */
export class PipelinedPublisher {
  private readonly inbox: string;
  private readonly subscription: Subscription;
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: Array<() => void> = [];
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  /** Header blocks live until the connection's next flush: cut from slabs. */
  private readonly headerBytes = new ByteSlab();
  private next = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    options: PipelinedPublisherOptions = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 4096;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    // The connection's inbox prefix: a NATS user may subscribe to its own inboxes only.
    this.inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.subscription = nc.subscribe(`${this.inbox}.*`, { callback: (error, msg) => this.settle(error, msg) });
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, this.timeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * Publishes `data` with `Nats-Msg-Id` = `msgId`, added to `headers` (without it; this takes them
   * over); resolves with the PubAck.
   */
  async publish(subject: string, data: Uint8Array, msgId: string, headers: HeaderBlock): Promise<PubAck> {
    while (this.pending.size >= this.maxInFlight && !this.closed) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.closed) throw new PublishFailedError(subject, 'the publisher is closed');
    headers.append('Nats-Msg-Id', msgId);
    const token = this.next++;
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: headers.asMsgHdrs(this.headerBytes) });
      } catch (error) {
        this.fail(token, error instanceof Error ? error.message : String(error));
      }
    });
  }

  /** Fails every publish still waiting for its PubAck and stops listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    for (const token of [...this.pending.keys()]) this.fail(token, 'the publisher was closed before the PubAck came');
    for (const wake of this.waiting.splice(0)) wake();
  }

  private settle(error: Error | null, msg: Msg): void {
    if (error) {
      // The inbox subscription itself failed (e.g. a permissions violation): nothing can be acked.
      for (const token of [...this.pending.keys()]) this.fail(token, error.message);
      return;
    }
    const token = Number(msg.subject.slice(this.inbox.length + 1));
    const p = this.pending.get(token);
    if (!p) return;
    if (msg.headers?.code === 503) return this.fail(token, 'no stream takes this subject (no responders)');
    let reply: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: unknown; description?: unknown } };
    try {
      reply = JSON.parse(decoder.decode(msg.data)) as typeof reply;
    } catch {
      return this.fail(token, 'the PubAck is not JSON');
    }
    if (reply.error) return this.fail(token, `refused by the stream: ${String(reply.error.description ?? reply.error.code)}`);
    if (typeof reply.stream !== 'string' || reply.stream === '' || typeof reply.seq !== 'number') return this.fail(token, 'the PubAck is not one');
    this.release(token);
    p.resolve({ stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true, domain: '' } as PubAck);
  }

  private sweep(): void {
    const now = Date.now();
    // Insertion order is publish order and every publish has the same timeout: stop at the first one still in time.
    for (const [token, p] of this.pending) {
      if (p.deadline > now) break;
      this.fail(token, `no PubAck within ${this.timeoutMs} ms`);
    }
  }

  private fail(token: number, reason: string): void {
    const p = this.pending.get(token);
    if (!p) return;
    this.release(token);
    p.reject(new PublishFailedError(p.subject, reason));
  }

  private release(token: number): void {
    this.pending.delete(token);
    this.waiting.shift()?.();
  }
}
