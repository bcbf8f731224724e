import {
  errorReplySchema,
  listSourcesReplySchema,
  ON_BEHALF_OF_HEADER,
  reencryptReplySchema,
  replayReplySchema,
  sourceHistoryReplySchema,
  sourceReplySchema,
  testReplySchema,
  type ListSourcesReply,
  type OnBehalfOf,
  type ReencryptReply,
  type ReplayReply,
  type SourceCommandName,
  type SourceHistoryReply,
  type SourceReply,
  type TestReply,
} from '@s1c/contracts';
import type { Logger } from '@s1c/logger';
import { CommandTimeoutError, InvalidReplyError, NoRespondersError, requestJson, subjects } from '@s1c/messaging';
import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import { ApiError } from './api.errors';
import type { CommandOrigin } from './request.context';

/** The header the registry records with the events and echoes in its logs. */
export const CORRELATION_HEADER = 'S1c-Correlation-Id';

/** Seconds a client should wait before retrying a 503. */
const RETRY_AFTER_SECONDS = '5';

const REPLY_SCHEMAS = {
  create: sourceReplySchema,
  update: sourceReplySchema,
  get: sourceReplySchema,
  delete: sourceReplySchema,
  restart: sourceReplySchema,
  list: listSourcesReplySchema,
  test: testReplySchema,
  replay: replayReplySchema,
  history: sourceHistoryReplySchema,
  reencrypt: reencryptReplySchema,
} satisfies Record<SourceCommandName, z.ZodType>;

type ReplyOf<Op extends SourceCommandName> = Op extends 'list'
  ? ListSourcesReply
  : Op extends 'test'
    ? TestReply
    : Op extends 'replay'
      ? ReplayReply
      : Op extends 'history'
        ? SourceHistoryReply
        : Op extends 'reencrypt'
          ? ReencryptReply
          : SourceReply;

/** Settings of {@link RegistryClient}. */
export abstract class RegistryClientSettings {
  abstract readonly nc: NatsConnection;
  abstract readonly timeoutMs: number;
  abstract readonly logger: Logger;
}

/**
 * Sends the source commands to the registry over NATS and turns every outcome that is not a
 * success into an {@link ApiError}: the registry's refusals keep their code and details; no
 * registry at all is 503, no answer in time is 504, a reply that is not a command reply is 502.
 */
export class RegistryClient {
  constructor(private readonly settings: RegistryClientSettings) {}

  /**
   * Sends one command for `origin`'s caller: the registry records the caller and address from
   * the `S1c-On-Behalf-Of` header, believed because this connection is a trusted gateway user.
   */
  async send<Op extends SourceCommandName>(op: Op, payload: unknown, origin: CommandOrigin): Promise<ReplyOf<Op>> {
    const subject = subjects.command(op);
    const { requestId } = origin;
    const onBehalfOf: OnBehalfOf = { caller: origin.caller, ip: origin.ip };
    let reply: unknown;
    try {
      reply = await requestJson(this.settings.nc, subject, payload, {
        timeoutMs: this.settings.timeoutMs,
        headers: { [CORRELATION_HEADER]: requestId, [ON_BEHALF_OF_HEADER]: JSON.stringify(onBehalfOf) },
      });
    } catch (error) {
      throw this.transportFailure(error, op, requestId);
    }
    const refused = errorReplySchema.safeParse(reply);
    if (refused.success) {
      const { code, message, details } = refused.data.error;
      throw new ApiError(code, message, details ?? [], code === 'Unavailable' ? { headers: { 'Retry-After': RETRY_AFTER_SECONDS } } : {});
    }
    const parsed = REPLY_SCHEMAS[op].safeParse(reply);
    if (!parsed.success) {
      this.settings.logger.error({ op, requestId, issues: parsed.error.issues.slice(0, 5) }, 'the registry sent a reply the gateway does not understand');
      throw new ApiError('BadGateway', `the registry's reply to ${op} was not understood (request id ${requestId})`);
    }
    // The original reply, not zod's copy: fields a newer registry adds still reach the client.
    return reply as ReplyOf<Op>;
  }

  private transportFailure(error: unknown, op: string, requestId: string): ApiError {
    if (error instanceof NoRespondersError) {
      this.settings.logger.warn({ op, requestId }, 'no registry is serving the command');
      return new ApiError('Unavailable', 'the source registry is not running (nothing serves its NATS commands); try again later', [], {
        headers: { 'Retry-After': RETRY_AFTER_SECONDS },
      });
    }
    if (error instanceof CommandTimeoutError) {
      this.settings.logger.warn({ op, requestId, timeoutMs: error.timeoutMs }, 'the registry did not answer in time');
      return new ApiError(
        'GatewayTimeout',
        `the source registry did not answer within ${error.timeoutMs} ms; the command may still take effect, so read the source before repeating it (request id ${requestId})`,
      );
    }
    if (error instanceof InvalidReplyError) {
      this.settings.logger.error({ op, requestId }, 'the registry sent a reply that is not JSON');
      return new ApiError('BadGateway', `the registry's reply to ${op} was not understood (request id ${requestId})`);
    }
    this.settings.logger.error({ op, requestId, err: error }, 'command request failed');
    return new ApiError('Unavailable', `the gateway cannot reach NATS; try again later (request id ${requestId})`, [], {
      headers: { 'Retry-After': RETRY_AFTER_SECONDS },
    });
  }
}
