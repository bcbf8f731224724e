import { BaseRpcContext } from '@nestjs/microservices';
import { type JsMsg, type MsgHdrs } from 'nats';
import { decodeText } from './json.codec';
import { PoisonMessageError } from './messaging.errors';

/**
 * What a JetStream handler gets with `@Ctx()`: the message and its delivery facts. Its
 * `@Payload()` is the raw body (`Uint8Array`). The handler does not ack: the transport acks when
 * it returns, naks when it throws a retryable error and dead-letters poison messages.
 */
export class JetStreamContext extends BaseRpcContext<[JsMsg]> {
  constructor(
    private readonly msg: JsMsg,
    /** The durable consumer that delivered the message. */
    readonly durable: string,
  ) {
    super([msg]);
  }

  /** The raw body. */
  get data(): Uint8Array {
    return this.msg.data;
  }

  get subject(): string {
    return this.msg.subject;
  }

  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }

  /** 1 on the first delivery, 2 on the first redelivery, and so on. */
  get deliveryCount(): number {
    return this.msg.info.deliveryCount;
  }

  /** The publisher's `Nats-Msg-Id`, if it set one. */
  get msgId(): string | undefined {
    return this.header('Nats-Msg-Id');
  }

  get stream(): string {
    return this.msg.info.stream;
  }

  /** The message's sequence in its stream; stable across redeliveries. */
  get streamSequence(): number {
    return this.msg.info.streamSequence;
  }

  /** When the message was stored in the stream. */
  get storedAt(): Date {
    return new Date(Math.floor(this.msg.info.timestampNanos / 1_000_000));
  }

  /** The first value of a header, or undefined. */
  header(name: string): string | undefined {
    const value = this.msg.headers?.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  text(): string {
    return decodeText(this.msg.data);
  }

  /**
   * The body parsed as JSON. The type parameter is a promise, not a check: validate with zod.
   * A body that is not JSON never will be, so it raises {@link PoisonMessageError}.
   */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (error) {
      throw new PoisonMessageError(`message body is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Tells the server the message is still being worked on, restarting its ack wait. The
   * transport already does this every ackWait/2 while the handler runs; call it for finer control.
   */
  working(): void {
    this.msg.working();
  }
}
