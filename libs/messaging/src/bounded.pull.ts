import type { Consumer, ConsumerMessages, JsMsg } from 'nats';

export interface BoundedPullOptions {
  /** Messages held at most: received and not yet taken by the reader. */
  readonly max: number;
  /** How long one pull stays open on the server waiting for messages. */
  readonly expiresMs: number;
}

/**
 * A consumer's messages, in order, with at most `max` of them held in memory: the next pull is made
 * once the reader has taken half of what is held. nats.js's own `consume()` pulls again as soon as
 * messages arrive, taken or not, so a reader slower than the stream (far behind it after a restart,
 * or held by a failing handler) would hold the whole backlog.
 *
 * Each pull's messages are moved off nats.js's iterator as they come, with nothing awaited in
 * between: the iterator of a pull ends as soon as its last message arrives and drops the messages
 * not yet taken (an ordered consumer counts them read all the same).
 *
 * The iteration ends when {@link stop} is called, and throws what a pull threw (or asking after the
 * consumer once a pull came back empty), after the messages received before it.
 */
export class BoundedPull implements AsyncIterable<JsMsg> {
  private readonly held: JsMsg[] = [];
  private pull: ConsumerMessages | undefined;
  private stopped = false;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wakeReader: (() => void) | undefined;
  private wakePuller: (() => void) | undefined;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: BoundedPullOptions,
  ) {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.pull?.stop();
    this.wakePuller?.();
    this.wakeReader?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsMsg> {
    try {
      for (;;) {
        if (this.stopped) return;
        const message = this.held.shift();
        if (message) {
          if (this.held.length <= this.options.max / 2) this.wakePuller?.();
          yield message;
          continue;
        }
        if (this.ended) {
          if (this.failure) throw this.failure.error;
          return;
        }
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.stop();
    }
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.held.length > this.options.max / 2) {
          await new Promise<void>((resolve) => (this.wakePuller = resolve));
          continue;
        }
        const pull = await this.consumer.fetch({ max_messages: this.options.max - this.held.length, expires: this.options.expiresMs });
        this.pull = pull;
        if (this.stopped) pull.stop();
        let received = 0;
        for await (const message of pull) {
          received++;
          this.held.push(message);
          this.wakeReader?.();
        }
        // A pull to a consumer that is gone without a word (its node lost for good) just ends empty,
        // every time: asking after it fails then, and the reader can start again elsewhere.
        if (received === 0 && !this.stopped) await this.consumer.info();
      }
    } catch (error) {
      this.failure = { error };
    } finally {
      this.pull = undefined;
      this.ended = true;
      this.wakeReader?.();
    }
  }
}
