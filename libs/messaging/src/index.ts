/**
 * @packageDocumentation
 * NATS for s1-collector: connection, subjects, JetStream declarations, publish and
 * request helpers, and `NatsTransport`, the NestJS transport serving request/reply commands
 * and durable JetStream consumers.
 *
 * @example
 * ```ts
 * const app = await NestFactory.createMicroservice(AppModule, {
 *   strategy: new NatsTransport({ connection: { url: env.NATS_URL, name: 'registry' }, logger }),
 * });
 * await app.listen();
 *
 * @Controller()
 * class SourcesController {
 *   @MessagePattern(subjects.command('get'))
 *   get(@Payload() _body: string, @Ctx() ctx: CommandContext) {
 *     const cmd = GetSource.safeParse(ctx.json());
 *     if (!cmd.success) throw new CommandRefusal(commandErrorFromZod(cmd.error));
 *     return { ok: true, source: ... };
 *   }
 *
 *   @JetStreamConsumer({ stream: STREAMS.jobs.name, durable: 'fetcher-activities',
 *     filterSubject: subjects.job('activities'), maxDeliver: 10, ackWaitMs: 60_000 })
 *   async onJob(@Payload() _data: Uint8Array, @Ctx() msg: JetStreamContext) { ... }
 * }
 * ```
 */
export { connectNats, drainNats, DRAIN_TIMEOUT_MS, isNatsConnected, NatsConnectError, type ConnectNatsOptions } from './nats.connection';
export { silentLogger, type LoggerLike } from './logger.interface';
export { askJetStream, isJetStreamUnavailable } from './jetstream.api';
export { InvalidSubjectTokenError, subjectToken, subjects } from './subjects';
export {
  STREAMS,
  declareStreams,
  ensureConsumer,
  ensureStream,
  fetcherJobsDurable,
  type ConsumerDeclaration,
  type DeclarationResult,
  type EnsureStreamOptions,
  type StreamDeclaration,
} from './stream.declarations';
export {
  CommandRefusal,
  CommandTimeoutError,
  DeclarationConflictError,
  InvalidReplyError,
  isPermissionViolation,
  NatsPermissionError,
  NoRespondersError,
  PoisonMessageError,
  refusedSubject,
  RetryableError,
  type CommandErrorBody,
} from './messaging.errors';
export { requestJson, type RequestJsonOptions } from './command.client';
export { deliveredSequence, publishBytes, publishJson, publishJsonPast, type PublishedPast, type PublishOptions } from './jetstream.publisher';
export { ByteSlab } from './byte.slab';
export { HeaderBlock, isHeaderValue } from './header.block';
export { PipelinedPublisher, PublishFailedError, type PipelinedPublisherOptions } from './pipelined.publisher';
export { CommandContext } from './command.context';
export { JetStreamContext } from './jetstream.context';
export { JETSTREAM_EXTRAS_KEY, JetStreamConsumer, type JetStreamConsumerOptions } from './jetstream-consumer.decorator';
export { BatchConsumer, type BatchConsumerOptions, type BatchHandler } from './batch.consumer';
export { isConsumerNotFound, LostConsumerGuard } from './lost.consumer';
export { recentMsgIds, type RecentMsgIds, type RecentMsgIdsOptions } from './recent.msg-ids';
export { BoundedPull, type BoundedPullOptions } from './bounded.pull';
export { DEAD_LETTER_HEADERS, deadLetter, type DeadLetterReason, type DeadLetterSource, type HeaderView } from './dead-letter';
export { DEFAULT_NAK_DELAYS_MS, nakDelayFor } from './nak-delay.policy';
export {
  DEFAULT_MAX_COMMAND_BYTES,
  NatsTransport,
  consumerDeclaration,
  type CommandFailureReply,
  type NatsTransportEvents,
  type NatsTransportOptions,
  type NatsTransportStatus,
} from './nats.transport';
