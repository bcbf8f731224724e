import { errorReplySchema, formatPath, type SourceCommandName } from '@s1c/contracts';
import { CommandTimeoutError, InvalidReplyError, NoRespondersError, requestJson, subjects } from '@s1c/messaging';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { z } from 'zod';
import type { CliSettings } from './cli.env';
import { CliError, EXIT, printableUrl, RefusedError } from './cli.errors';

/** A NATS connection for one s1c invocation, with typed, validated commands. */
export class NatsSession {
  private constructor(
    readonly nc: NatsConnection,
    private readonly settings: CliSettings,
  ) {}

  /**
   * Connects, failing fast: a CLI should say at once that NATS is unreachable rather than retry
   * for ever as a service does (which is why this is not `connectNats`).
   */
  static async open(settings: CliSettings, options: { reconnect?: boolean } = {}): Promise<NatsSession> {
    const opts: ConnectionOptions = {
      servers: settings.natsUrl.split(',').map((s) => s.trim()),
      name: 's1c',
      timeout: Math.min(settings.timeoutMs, 5000),
      maxReconnectAttempts: options.reconnect ? -1 : 3,
      reconnectTimeWait: 1000,
      noAsyncTraces: true,
    };
    if (settings.natsUser) {
      opts.user = settings.natsUser;
      // infra/nats/nats.conf lets each operator subscribe to its own inboxes only.
      opts.inboxPrefix = `_INBOX.${settings.natsUser}`;
    }
    if (settings.natsTls) opts.tls = { ...settings.natsTls };
    if (settings.natsPassword) opts.pass = settings.natsPassword;
    if (settings.natsToken) opts.token = settings.natsToken;
    if (settings.natsCreds) {
      let creds: Uint8Array;
      try {
        creds = readFileSync(settings.natsCreds);
      } catch (error) {
        throw new CliError(EXIT.usage, `cannot read the NATS credentials file ${settings.natsCreds}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
      }
      opts.authenticator = credsAuthenticator(creds);
    }
    try {
      return new NatsSession(await connect(opts), settings);
    } catch (error) {
      throw new CliError(EXIT.unreachable, `cannot connect to NATS at ${printableUrl(settings.natsUrl)}: ${describeConnectError(error)}`, [
        'Set NATS_URL (or --nats-url) to the server the collector uses, and NATS_USER/NATS_PASSWORD, NATS_TOKEN or --creds if it needs credentials (NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE/NATS_TLS_KEY_FILE for TLS).',
      ]);
    }
  }

  /**
   * Sends one command and returns its reply once `schema` accepts it. A `{"ok":false}` reply is a
   * {@link RefusedError}; nobody serving the subject, an unreachable server, a timeout or a reply
   * that breaks the contract are {@link CliError}s with their exit codes.
   */
  async command<T>(op: SourceCommandName, payload: unknown, schema: z.ZodType<T>): Promise<T> {
    const subject = subjects.command(op);
    let reply: unknown;
    try {
      reply = await requestJson(this.nc, subject, payload, { timeoutMs: this.settings.timeoutMs });
    } catch (error) {
      if (error instanceof NoRespondersError) {
        throw new CliError(EXIT.unreachable, `no registry is answering on ${subject} at ${printableUrl(this.settings.natsUrl)}: is the registry running?`);
      }
      if (error instanceof CommandTimeoutError) {
        throw new CliError(EXIT.timeout, `no reply on ${subject} within ${this.settings.timeoutMs} ms (raise --timeout, or check the registry's logs)`);
      }
      if (error instanceof InvalidReplyError) throw new CliError(EXIT.badReply, `the reply on ${subject} is not JSON`);
      throw new CliError(EXIT.unreachable, `request on ${subject} failed: ${describeConnectError(error)}`);
    }
    return validateReply(subject, reply, schema);
  }

  /** How long one request may take. */
  get timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.close();
  }
}

/** The reply checked against the contract: a refusal, the expected success, or a malformed reply (exit 5). */
export function validateReply<T>(subject: string, reply: unknown, schema: z.ZodType<T>): T {
  if (typeof reply === 'object' && reply !== null && (reply as { ok?: unknown }).ok === false) {
    const refusal = errorReplySchema.safeParse(reply);
    if (refusal.success) throw new RefusedError(refusal.data);
  }
  const parsed = schema.safeParse(reply);
  if (!parsed.success) {
    throw new CliError(
      EXIT.badReply,
      `the reply on ${subject} does not match the command contract (is the registry a different version?)`,
      parsed.error.issues.slice(0, 10).map((issue) => `${formatPath(issue.path) || '(reply)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

function describeConnectError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'CONNECTION_REFUSED' || code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'AUTHORIZATION_VIOLATION') return 'authorization refused (check the credentials)';
  if (code === 'PERMISSIONS_VIOLATION') return `permission denied for this NATS user: ${(error as Error).message}`;
  if (code === 'AUTHENTICATION_EXPIRED') return 'credentials expired';
  if (code === 'TIMEOUT') return 'timed out';
  if (code === 'CONNECTION_CLOSED') return 'connection closed';
  if (code === 'ENOTFOUND') return 'unknown host';
  const message = error instanceof Error ? error.message : String(error);
  return typeof code === 'string' ? `${code}: ${message}` : message;
}
