import { Controller, Inject } from '@nestjs/common';
import { Ctx, MessagePattern } from '@nestjs/microservices';
import {
  createSourceCommandSchema,
  listSourcesCommandSchema,
  parseCommand,
  parseJsonPayload,
  reencryptCommandSchema,
  replaySourceCommandSchema,
  sourceHistoryCommandSchema,
  sourceRefCommandSchema,
  updateSourceCommandSchema,
  validateCommand,
  type ErrorReply,
  type ListSourcesReply,
  type ReencryptReply,
  type ReplayReply,
  type SourceHistoryReply,
  type SourceReply,
  type TestReply,
} from '@s1c/contracts';
import { describeActor, type SourceApi } from '@s1c/domain';
import type { Logger } from '@s1c/logger';
import { CommandContext, subjects } from '@s1c/messaging';
import { RUNTIME } from '@s1c/runtime';
import { randomUUID } from 'node:crypto';
import { resolveActor, type TrustedGateways } from './actor.resolver';
import { errorReply } from './command-replies';
import { refuseNonPublicResolution, testConnection, type ConnectionPolicy, type ConnectionTarget } from './connection.tester';
import { SourcesService, type RequestContext } from './sources.service';

export const BASE_URL_POLICY = Symbol('BaseUrlPolicy');
export const TRUSTED_GATEWAYS = Symbol('TrustedGateways');

const CORRELATION_HEADER = 'S1c-Correlation-Id';
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type Reply = SourceReply | ListSourcesReply | ReplayReply | TestReply | SourceHistoryReply | ReencryptReply | ErrorReply;

/** `s1c.cmd.source.*` over NATS request/reply: plain JSON in, `{"ok":...}` JSON out. */
@Controller()
export class RegistryController {
  private readonly createSchema;
  private readonly updateSchema;

  constructor(
    private readonly sources: SourcesService,
    @Inject(BASE_URL_POLICY) private readonly policy: ConnectionPolicy,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    @Inject(TRUSTED_GATEWAYS) private readonly trustedGateways: TrustedGateways,
  ) {
    this.createSchema = createSourceCommandSchema(policy);
    this.updateSchema = updateSourceCommandSchema(policy);
  }

  @MessagePattern(subjects.command('create'))
  create(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'create', async (request) => {
      const command = parseCommand(this.createSchema, ctx.data);
      await refuseNonPublicResolution(command.source.config.base_url, this.policy);
      return { ok: true, ...(await this.sources.create(command, request)) };
    });
  }

  @MessagePattern(subjects.command('update'))
  update(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'update', async (request) => {
      const command = parseCommand(this.updateSchema, ctx.data);
      await refuseNonPublicResolution(command.source.config.base_url, this.policy);
      return { ok: true, ...(await this.sources.update(command, request)) };
    });
  }

  @MessagePattern(subjects.command('get'))
  get(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'get', async () => ({ ok: true, ...(await this.sources.get(parseCommand(sourceRefCommandSchema, ctx.data))) }));
  }

  @MessagePattern(subjects.command('list'))
  list(@Ctx() ctx: CommandContext): Promise<Reply> {
    // `nats req s1c.cmd.source.list ''` is the obvious way to list everything.
    const body = ctx.data.length === 0 ? new TextEncoder().encode('{}') : ctx.data;
    return this.run(ctx, 'list', () => this.sources.list(parseCommand(listSourcesCommandSchema, body)));
  }

  @MessagePattern(subjects.command('restart'))
  restart(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'restart', async (request) => ({ ok: true, ...(await this.sources.restart(parseCommand(sourceRefCommandSchema, ctx.data), request)) }));
  }

  @MessagePattern(subjects.command('delete'))
  delete(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'delete', async (request) => ({ ok: true, ...(await this.sources.delete(parseCommand(sourceRefCommandSchema, ctx.data), request)) }));
  }

  /** `{"id"}` tests a stored source; a create document tests a configuration before creating it. */
  @MessagePattern(subjects.command('test'))
  test(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'test', async () => {
      const value = parseJsonPayload(ctx.data);
      let target;
      if (typeof value === 'object' && value !== null && 'id' in value) {
        target = await this.sources.storedTarget(validateCommand(sourceRefCommandSchema, value));
      } else {
        target = targetOf(validateCommand(this.createSchema, value));
        await refuseNonPublicResolution(target.baseUrl, this.policy);
      }
      return testConnection(target, this.policy);
    });
  }

  @MessagePattern(subjects.command('replay'))
  replay(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'replay', (request) => this.sources.replay(parseCommand(replaySourceCommandSchema, ctx.data), request));
  }

  /** Who changed the source, when, and what: derived from its log, secrets masked. */
  @MessagePattern(subjects.command('history'))
  history(@Ctx() ctx: CommandContext): Promise<Reply> {
    return this.run(ctx, 'history', () => this.sources.history(parseCommand(sourceHistoryCommandSchema, ctx.data)));
  }

  /** Encrypts every stored token that is not under the newest key again (key rotation). */
  @MessagePattern(subjects.command('reencrypt'))
  reencrypt(@Ctx() ctx: CommandContext): Promise<Reply> {
    const body = ctx.data.length === 0 ? new TextEncoder().encode('{}') : ctx.data;
    return this.run(ctx, 'reencrypt', (request) => {
      parseCommand(reencryptCommandSchema, body);
      return this.sources.reencrypt(request);
    });
  }

  private async run(ctx: CommandContext, op: string, handle: (request: RequestContext) => Promise<Reply>): Promise<Reply> {
    const given = ctx.header(CORRELATION_HEADER);
    const request: RequestContext = {
      correlationId: given && SAFE_ID.test(given) ? given : randomUUID(),
      actor: resolveActor((name) => ctx.header(name), this.trustedGateways, this.logger),
    };
    const started = Date.now();
    try {
      const reply = await handle(request);
      this.logger.info({ op, correlationId: request.correlationId, actor: describeActor(request.actor), ms: Date.now() - started }, 'command handled');
      return reply;
    } catch (error) {
      const reply = errorReply(error, request.correlationId, this.logger);
      this.logger.info({ op, correlationId: request.correlationId, actor: describeActor(request.actor), code: reply.error.code, ms: Date.now() - started }, 'command refused');
      return reply;
    }
  }
}

function targetOf(command: { source: { config: { base_url: string; api_secret: string; supported_apis: SourceApi[] } } }): ConnectionTarget {
  return { baseUrl: command.source.config.base_url, token: command.source.config.api_secret, apis: command.source.config.supported_apis };
}
