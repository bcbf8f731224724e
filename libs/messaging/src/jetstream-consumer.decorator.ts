import 'reflect-metadata';
import { RpcException, EventPattern } from '@nestjs/microservices';
import { isObservable, catchError, throwError, type Observable } from 'rxjs';
import { HandlerFailure } from './messaging.errors';

/** Where a JetStream handler's consumer lives in the `@EventPattern` extras. */
export const JETSTREAM_EXTRAS_KEY = 'jetstream';

/**
 * A durable pull consumer served by {@link NatsTransport}. The transport declares it at
 * start-up (idempotently) with explicit acks.
 */
export interface JetStreamConsumerOptions {
  /** Stream name, e.g. `S1C_JOBS`. */
  stream: string;
  /** Durable consumer name, shared by every replica of the service. */
  durable: string;
  /** Only messages on this subject (wildcards allowed); one subject only on nats-server 2.9. */
  filterSubject?: string;
  /**
   * Deliveries before a failing message is dead-lettered. The server-side `max_deliver` is
   * set one higher, so a message whose last delivery ended without an outcome (crash, ack
   * timeout, failed dead-letter publish) comes back once more and is dead-lettered then.
   */
  maxDeliver: number;
  /** How long the server waits for an ack before redelivering; the handler is kept alive with `working()` at half of it. */
  ackWaitMs: number;
  /** Server-side cap on unacknowledged messages across all replicas. */
  maxAckPending?: number;
  /** Where a new consumer starts; default `all`. */
  deliverPolicy?: 'all' | 'new' | 'last' | 'last_per_subject';
  /** Redelivery delays after a retryable failure, by delivery count; the last entry repeats. */
  nakDelaysMs?: readonly number[];
  /** Messages handled at once by this process; default 1. */
  concurrency?: number;
  description?: string;
}

function copyMetadata(from: object, to: object): void {
  for (const key of Reflect.getOwnMetadataKeys(from)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
  }
}

function preserve(error: unknown): unknown {
  return error instanceof RpcException ? error : new HandlerFailure(error);
}

/**
 * Marks a method as the handler of a JetStream durable consumer (an `@EventPattern` whose
 * pattern is the durable name). Unlike a bare `@EventPattern`, unexpected errors reach the
 * transport intact (Nest would reduce them to "Internal server error"), so logs and
 * dead-letter headers carry the real reason.
 *
 * @example
 * ```ts
 * @JetStreamConsumer({ stream: 'S1C_JOBS', durable: 'fetcher-activities', filterSubject: subjects.job('activities'),
 *   maxDeliver: 10, ackWaitMs: 60_000 })
 * async onJob(@Payload() _data: Uint8Array, @Ctx() ctx: JetStreamContext): Promise<void> { ... }
 * ```
 */
export function JetStreamConsumer(options: JetStreamConsumerOptions): MethodDecorator {
  return (target, key, descriptor) => {
    const original: unknown = descriptor.value;
    if (typeof original !== 'function') throw new TypeError(`@JetStreamConsumer on ${String(key)}: not a method`);
    const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      try {
        const result: unknown = await (original as (...a: unknown[]) => unknown).apply(this, args);
        return isObservable(result)
          ? (result as Observable<unknown>).pipe(catchError((error: unknown) => throwError(() => preserve(error))))
          : result;
      } catch (error) {
        throw preserve(error);
      }
    };
    Object.defineProperty(wrapped, 'name', { value: (original as { name: string }).name });
    copyMetadata(original, wrapped);
    (descriptor as TypedPropertyDescriptor<unknown>).value = wrapped;
    return EventPattern(options.durable, { [JETSTREAM_EXTRAS_KEY]: options })(target, key, descriptor);
  };
}
