import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { DeliverPolicy, Events, nanos, type JetStreamClient, type Msg, type NatsConnection, type Subscription } from 'nats';
import { isObservable, lastValueFrom, type Observable } from 'rxjs';
import { CommandContext } from './command.context';
import { JETSTREAM_EXTRAS_KEY, type JetStreamConsumerOptions } from './jetstream-consumer.decorator';
import { askJetStream } from './jetstream.api';
import { JetStreamWorker } from './jetstream.worker';
import { LostConsumerGuard } from './lost.consumer';
import { encodeJson } from './json.codec';
import { type LoggerLike, silentLogger } from './logger.interface';
import { CommandError } from '@s1c/contracts';
import { CommandRefusal, HandlerFailure, isPermissionViolation, NatsPermissionError, type CommandErrorBody } from './messaging.errors';
import { connectNats, DRAIN_TIMEOUT_MS, drainNats, isNatsConnected, type ConnectNatsOptions } from './nats.connection';
import { STREAMS, declareStreams, ensureConsumer, type ConsumerDeclaration, type StreamDeclaration } from './stream.declarations';
import { subjectToken } from './subjects';

/** Default largest command body accepted: 256 KiB. */
export const DEFAULT_MAX_COMMAND_BYTES = 256 * 1024;

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** Connection settings (the transport connects and drains on close) or a connection the caller owns. */
  connection: ConnectNatsOptions | NatsConnection;
  logger?: LoggerLike;
  /**
   * Queue group of the command subscriptions, shared by all replicas of a service; default the
   * connection name (so give replicas one name), or `s1c` when a connection is passed in.
   */
  queueGroup?: string;
  /** Commands with a larger body are refused with `PayloadTooLarge`; default 256 KiB. */
  maxPayloadBytes?: number;
  /** Streams declared before consumers are created; default all of {@link STREAMS}; `[]` for none. */
  streams?: readonly StreamDeclaration[];
  /** Replicas of those streams (S1C_STREAM_REPLICAS); default the declarations' (one). */
  streamReplicas?: number;
  /** How long close waits for handlers in flight; default 30 s. */
  closeTimeoutMs?: number;
  /** Lifetime of one pull request; shorter means a faster close; default 5 s (minimum 1 s). */
  fetchExpiresMs?: number;
}

type StatusCallback = (data: unknown) => void;
/** Connection events a caller can subscribe to with `transport.on(event, callback)`. */
export type NatsTransportEvents = Record<'disconnect' | 'reconnect' | 'error' | 'ldm', StatusCallback>;
/** Values of `transport.status`. */
export type NatsTransportStatus = 'connected' | 'disconnected' | 'reconnected' | 'closed';

/** The reply to a command that failed: `{"ok":false,"error":{code,message,details?}}`. */
export interface CommandFailureReply {
  ok: false;
  error: CommandErrorBody;
}

function isNatsConnection(value: ConnectNatsOptions | NatsConnection): value is NatsConnection {
  return typeof (value as NatsConnection).subscribe === 'function';
}

function failure(code: string, message: string, details?: unknown): CommandFailureReply {
  return { ok: false, error: details === undefined ? { code, message } : { code, message, details } };
}

function isErrorBody(value: unknown): value is CommandErrorBody {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as CommandErrorBody).code === 'string' &&
    typeof (value as CommandErrorBody).message === 'string'
  );
}

const DELIVER_POLICIES: Record<NonNullable<JetStreamConsumerOptions['deliverPolicy']>, DeliverPolicy> = {
  all: DeliverPolicy.All,
  new: DeliverPolicy.New,
  last: DeliverPolicy.Last,
  last_per_subject: DeliverPolicy.LastPerSubject,
};

/** The server-side consumer for a handler's options. */
export function consumerDeclaration(options: JetStreamConsumerOptions): ConsumerDeclaration {
  const config: ConsumerDeclaration = {
    durable_name: options.durable,
    ack_wait: nanos(options.ackWaitMs),
    // One spare delivery lets the worker dead-letter a message whose last delivery had no outcome.
    max_deliver: options.maxDeliver + 1,
  };
  if (options.filterSubject !== undefined) config.filter_subject = options.filterSubject;
  if (options.maxAckPending !== undefined) config.max_ack_pending = options.maxAckPending;
  if (options.deliverPolicy !== undefined) config.deliver_policy = DELIVER_POLICIES[options.deliverPolicy];
  if (options.description !== undefined) config.description = options.description;
  return config;
}

function validateConsumerOptions(pattern: string, options: JetStreamConsumerOptions): void {
  subjectToken(`stream of handler ${pattern}`, options.stream);
  subjectToken(`durable of handler ${pattern}`, options.durable);
  if (!Number.isInteger(options.maxDeliver) || options.maxDeliver < 1) {
    throw new Error(`handler ${pattern}: maxDeliver must be a finite integer >= 1`);
  }
  if (!Number.isFinite(options.ackWaitMs) || options.ackWaitMs < 1000) {
    throw new Error(`handler ${pattern}: ackWaitMs must be at least 1000`);
  }
  if (options.nakDelaysMs?.some((d) => !Number.isFinite(d) || d < 0)) {
    throw new Error(`handler ${pattern}: nakDelaysMs must be non-negative numbers`);
  }
}

/**
 * NestJS transport over NATS. It serves two kinds of handlers:
 *
 * - `@MessagePattern('<subject>')`: core request/reply commands, subscribed in a queue group.
 *   The handler gets the body as a string (`@Payload()`) and a {@link CommandContext}
 *   (`@Ctx()`); what it returns is replied as plain JSON. A thrown {@link CommandRefusal} is
 *   replied as `{"ok":false,"error":{code,message,details}}`, any other error as
 *   `InternalError` without details or stack. Bodies above `maxPayloadBytes` are refused
 *   with `PayloadTooLarge` before the handler runs.
 * - `@JetStreamConsumer({...})` (or `@EventPattern(durable, { jetstream: {...} })`): a durable
 *   pull consumer, declared at start-up. Return → ack; {@link RetryableError} or any other
 *   error → nak with a delay; {@link PoisonMessageError} or the last allowed delivery →
 *   dead-letter to `s1c.dlq.<stream>.<durable>` and term.
 *
 * Duplicate patterns, or two handlers on one durable, fail start-up.
 */
export class NatsTransport extends Server<NatsTransportEvents, NatsTransportStatus> implements CustomTransportStrategy {
  private nc: NatsConnection | undefined;
  private ownsConnection = false;
  private readonly log: LoggerLike;
  private readonly subscriptions: Subscription[] = [];
  private readonly workers: JetStreamWorker[] = [];
  private readonly inflightCommands = new Set<Promise<void>>();
  private readonly callbacks = new Map<string, StatusCallback[]>();
  private closing: Promise<void> | undefined;

  constructor(private readonly options: NatsTransportOptions) {
    super();
    this.log = options.logger ?? silentLogger;
  }

  /** Registers a handler; a second handler for the same pattern is a start-up error. */
  override addHandler(
    pattern: unknown,
    callback: MessageHandler,
    isEventHandler?: boolean,
    extras?: Record<string, unknown>,
  ): void {
    const route = this.normalizePattern(pattern as string);
    if (this.messageHandlers.has(route)) {
      throw new Error(`NatsTransport: more than one handler for pattern ${route}`);
    }
    super.addHandler(pattern, callback, isEventHandler, extras);
  }

  /** Connects, declares streams and consumers, subscribes; then calls back (with an error on failure). */
  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      await this.start();
      callback();
    } catch (error) {
      await this.close().catch(() => undefined);
      callback(error);
    }
  }

  /** Stops taking work, waits for handlers in flight, drains the connection if the transport opened it. */
  async close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Subscribes to a connection event: `disconnect`, `reconnect`, `error` or `ldm`. */
  on<K extends keyof NatsTransportEvents>(event: K, callback: NatsTransportEvents[K]): void {
    const list = this.callbacks.get(event) ?? [];
    list.push(callback);
    this.callbacks.set(event, list);
  }

  /** The NATS connection (once listening). */
  unwrap<T = NatsConnection>(): T {
    if (!this.nc) throw new Error('NatsTransport is not listening yet');
    return this.nc as T;
  }

  private async start(): Promise<void> {
    const commands: Array<[string, MessageHandler]> = [];
    const consumers: Array<[JetStreamConsumerOptions, MessageHandler]> = [];
    const durables = new Set<string>();
    for (const [pattern, handler] of this.messageHandlers) {
      if (!handler.isEventHandler) {
        if (/\s/.test(pattern) || pattern.length === 0) throw new Error(`command subject ${JSON.stringify(pattern)} is not valid`);
        commands.push([pattern, handler]);
        continue;
      }
      const spec = handler.extras?.[JETSTREAM_EXTRAS_KEY] as JetStreamConsumerOptions | undefined;
      if (!spec) {
        throw new Error(`NatsTransport: event handler ${pattern} has no jetstream options; use @JetStreamConsumer`);
      }
      validateConsumerOptions(pattern, spec);
      const key = `${spec.stream}/${spec.durable}`;
      if (durables.has(key)) throw new Error(`NatsTransport: more than one handler for consumer ${key}`);
      durables.add(key);
      consumers.push([spec, handler]);
    }

    const { connection } = this.options;
    if (isNatsConnection(connection)) {
      this.nc = connection;
    } else {
      this.nc = await connectNats({ ...connection, logger: connection.logger ?? this.log });
      this.ownsConnection = true;
    }
    const nc = this.nc;
    void this.watchStatus(nc);
    this._status$.next('connected');

    const streams = this.options.streams ?? Object.values(STREAMS);
    if (streams.length > 0 || consumers.length > 0) {
      const jsm = await askJetStream(this.log, 'JetStream', () => nc.jetstreamManager());
      await declareStreams(jsm, streams, { logger: this.log, ...(this.options.streamReplicas !== undefined ? { replicas: this.options.streamReplicas } : {}) });
      const js: JetStreamClient = nc.jetstream();
      for (const [spec, handler] of consumers) {
        const declaration = consumerDeclaration(spec);
        const declared = await ensureConsumer(jsm, spec.stream, declaration);
        this.log.info({ stream: spec.stream, durable: spec.durable, action: declared.action }, 'jetstream consumer declared');
        const consumer = await askJetStream(this.log, `consumer ${spec.stream}/${spec.durable}`, () => js.consumers.get(spec.stream, spec.durable));
        const expires = Math.max(1000, this.options.fetchExpiresMs ?? 5000);
        // Handlers here take a message twice without harm (JetStream delivers at least once), and the fetchers' jobs are a work queue.
        const lost = new LostConsumerGuard(jsm, spec.stream, declaration, this.log);
        this.workers.push(new JetStreamWorker(consumer, js, spec, handler, this.log, expires, lost));
      }
    }

    const queue = this.options.queueGroup ?? (isNatsConnection(connection) ? 's1c' : connection.name);
    const refused: string[] = [];
    for (const [subject, handler] of commands) {
      const sub = nc.subscribe(subject, {
        queue,
        callback: (error, msg) => {
          if (error) {
            if (isPermissionViolation(error)) refused.push(subject);
            this.log.error({ subject, err: error }, 'command subscription failed');
            return;
          }
          this.trackCommand(this.handleCommand(subject, handler, msg));
        },
      });
      this.subscriptions.push(sub);
      this.log.info({ subject, queue }, 'serving command');
    }
    // A flush round-trip means the server has registered our subscriptions: once listen
    // resolves, a request from another connection finds a responder. A refused subscription is
    // answered before the flush, so a service without the right to serve its commands stops here.
    await nc.flush();
    if (refused.length > 0) throw new NatsPermissionError('subscribe', refused[0]!, `serving commands on ${refused.join(', ')}`);
    for (const worker of this.workers) worker.start();
  }

  private trackCommand(task: Promise<void>): void {
    const tracked = task.finally(() => this.inflightCommands.delete(tracked));
    this.inflightCommands.add(tracked);
  }

  private async handleCommand(subject: string, handler: MessageHandler, msg: Msg): Promise<void> {
    const max = this.options.maxPayloadBytes ?? DEFAULT_MAX_COMMAND_BYTES;
    let reply: unknown;
    if (msg.data.length > max) {
      // Details follow the command contract: a list of {path, message}.
      reply = failure('PayloadTooLarge', `request body is ${msg.data.length} bytes; the limit is ${max}`, [
        { path: '(payload)', message: `must be at most ${max} bytes` },
      ]);
    } else {
      const ctx = new CommandContext(msg);
      try {
        let result: unknown = await handler(ctx.text(), ctx);
        if (isObservable(result)) result = await lastValueFrom(result as Observable<unknown>, { defaultValue: undefined });
        reply = result === undefined ? null : result;
      } catch (error) {
        reply = this.commandFailure(subject, error);
      }
    }
    if (!msg.reply) return;
    try {
      let data: Uint8Array;
      try {
        data = encodeJson(reply);
      } catch (error) {
        data = encodeJson(this.commandFailure(subject, error));
      }
      if (!msg.respond(data)) this.log.warn({ subject }, 'command reply not sent');
    } catch (error) {
      // e.g. a reply above the server's max_payload: tell the caller instead of leaving it to time out.
      this.log.error({ subject, err: error }, 'command reply failed');
      try {
        msg.respond(encodeJson(failure('InternalError', 'the reply could not be sent')));
      } catch {
        // The connection itself is gone; the caller gets a timeout.
      }
    }
  }

  private commandFailure(subject: string, error: unknown): CommandFailureReply {
    if (error instanceof CommandRefusal) return error.refusal.toReply();
    if (error instanceof CommandError) return error.toReply();
    if (error instanceof HandlerFailure) {
      this.log.error({ subject, err: error.original }, 'command handler failed');
      return failure('InternalError', 'Internal server error');
    }
    if (isErrorBody(error)) return failure(error.code, error.message, error.details);
    // Nest's exception filter has already logged the original error and replaced it with
    // `{status, message}`; anything else never passed through a filter, so log it here.
    if (!(error !== null && typeof error === 'object' && 'status' in error)) {
      this.log.error({ subject, err: error }, 'command handler failed');
    }
    return failure('InternalError', 'Internal server error');
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      const event = s.type as string;
      if (event === Events.Disconnect) this._status$.next('disconnected');
      if (event === Events.Reconnect) this._status$.next('reconnected');
      for (const cb of this.callbacks.get(event) ?? []) {
        try {
          cb(s.data);
        } catch (error) {
          this.log.warn({ event, err: error }, 'transport event listener failed');
        }
      }
    }
  }

  private async shutdown(): Promise<void> {
    const timeoutMs = this.options.closeTimeoutMs ?? 30_000;
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      const open = this.subscriptions.filter((s) => !s.isClosed());
      if (isNatsConnected(nc)) {
        // A drain waits for the server's answer to a flush: bounded, in case the server goes now.
        let timer: NodeJS.Timeout | undefined;
        const drained = Promise.allSettled(open.map((s) => s.drain()));
        await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)))]);
        clearTimeout(timer);
      } else {
        // No server to tell: just stop taking commands.
        for (const s of open) s.unsubscribe();
      }
    }
    const timer = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.inflightCommands]), timer]);
    await Promise.all(this.workers.map((w) => w.stop(timeoutMs)));
    if (nc && this.ownsConnection) await drainNats(nc);
    this._status$.next('closed');
  }
}
