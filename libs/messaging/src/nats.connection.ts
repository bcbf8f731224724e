import { connect, DebugEvents, Events, type NatsConnection } from 'nats';
import { type LoggerLike, silentLogger } from './logger.interface';

/** How to reach NATS. Credentials are optional; `name` shows up in the server's connection list. */
export interface ConnectNatsOptions {
  /** One URL or a comma-separated list, e.g. `nats://nats:4222`. */
  url: string;
  /** Client name, e.g. the service name. */
  name: string;
  /**
   * The service's NATS user. Its replies come to `_INBOX.<user>.…` rather than `_INBOX.…`, so the
   * server can let each user subscribe to its own inboxes only (infra/nats/nats.conf does).
   */
  user?: string;
  pass?: string;
  token?: string;
  /** TLS: a CA to verify the server with, and a client certificate and key when it verifies clients. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  logger?: LoggerLike;
  /** Delay between reconnect attempts; default 1000 ms. */
  reconnectTimeWaitMs?: number;
  /**
   * Keep retrying the first connection instead of failing (for boot ordering in compose);
   * default false, so a wrong URL fails fast at start-up.
   */
  waitOnFirstConnect?: boolean;
  /** How long the first connection (TCP, TLS, NATS handshake) may take; default 20 s. */
  connectTimeoutMs?: number;
}

/** The first connection failed; the message says where, as whom, and the likely cause. */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
  /** The client's error code, e.g. `AUTHORIZATION_VIOLATION`, `TIMEOUT`, `CONNECTION_REFUSED`. */
  readonly code: string | undefined;
  constructor(options: ConnectNatsOptions, cause: unknown) {
    const code = (cause as { code?: unknown }).code;
    super(`cannot connect to NATS at ${printable(options.url)} as ${options.user ? `user ${JSON.stringify(options.user)}` : 'no user'}${options.tls ? ' over TLS' : ''}: ${likelyCause(options, code, cause)}`, { cause });
    this.code = typeof code === 'string' ? code : undefined;
  }
}

function likelyCause(options: ConnectNatsOptions, code: unknown, cause: unknown): string {
  if (code === 'AUTHORIZATION_VIOLATION') return 'authorization refused: check NATS_USER and NATS_PASSWORD';
  // nats-server ends a TLS handshake whose client certificate it refuses without a word the
  // client can report: the connection attempt just times out.
  if (code === 'TIMEOUT' && options.tls) {
    return 'no handshake in time; over TLS this usually means the server refused the client certificate (NATS_TLS_CERT_FILE / NATS_TLS_KEY_FILE missing, or not signed by a CA the server trusts)';
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/** The URL without any password it may carry. */
function printable(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, '//');
}

/**
 * Connects to NATS and reconnects forever: a service must outlive any NATS outage. Status
 * changes (disconnect, reconnect, async errors) are logged through `logger`.
 */
export async function connectNats(options: ConnectNatsOptions): Promise<NatsConnection> {
  const logger = options.logger ?? silentLogger;
  let nc: NatsConnection;
  try {
    nc = await open(options);
  } catch (error) {
    throw new NatsConnectError(options, error);
  }
  logger.info({ server: nc.getServer(), name: options.name, user: options.user, tls: options.tls !== undefined }, 'nats connected');
  void logStatus(nc, logger, options.name, options.user);
  return nc;
}

/** Connections made by {@link connectNats} that lost their server and have not reconnected yet. */
const disconnected = new WeakSet<NatsConnection>();

/**
 * Whether the connection has a server now: false while it is trying to reconnect (and once
 * closed). Known for connections made by {@link connectNats}; others count as connected.
 */
export function isNatsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && !disconnected.has(nc);
}

function open(options: ConnectNatsOptions): Promise<NatsConnection> {
  return connect({
    servers: options.url.split(',').map((s) => s.trim()),
    name: options.name,
    user: options.user,
    pass: options.pass,
    token: options.token,
    ...(options.user ? { inboxPrefix: `_INBOX.${options.user}` } : {}),
    ...(options.tls ? { tls: { ...options.tls } } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    // A half-open TCP connection is only noticed by pings; the 2-minute default would leave
    // consumers idle for minutes after a silent network failure.
    pingInterval: 20_000,
    maxPingOut: 3,
    // Otherwise nats.js captures a stack trace for every request and JetStream publish: a fifth
    // of the CPU of a service that publishes per record.
    noAsyncTraces: true,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    ...(options.connectTimeoutMs ? { timeout: options.connectTimeoutMs } : {}),
  });
}

async function logStatus(nc: NatsConnection, logger: LoggerLike, name: string, user: string | undefined): Promise<void> {
  for await (const s of nc.status()) {
    const fields = { name, server: nc.getServer(), data: s.data };
    if (s.type === Events.Error && s.permissionContext) {
      // The operation that caused it fails (or, creating a stream another service owns, waits) on
      // its own; this says which user lacked which right.
      logger.warn({ ...fields, user, operation: s.permissionContext.operation, subject: s.permissionContext.subject }, 'nats permission denied');
      continue;
    }
    switch (s.type) {
      case Events.Disconnect:
        disconnected.add(nc);
        logger.warn(fields, 'nats disconnected');
        break;
      case Events.Reconnect:
        disconnected.delete(nc);
        logger.info(fields, 'nats reconnected');
        break;
      case Events.Error:
        logger.error(fields, 'nats async error');
        break;
      case Events.LDM:
        logger.warn(fields, 'nats server entering lame duck mode');
        break;
      case DebugEvents.Reconnecting:
      case DebugEvents.StaleConnection:
        logger.debug?.(fields, `nats ${s.type}`);
        break;
      default:
        break;
    }
  }
}

/** How long {@link drainNats} waits for a drain before it closes the connection anyway. */
export const DRAIN_TIMEOUT_MS = 2_000;

/**
 * Closes a connection cleanly: unsubscribes, lets in-flight messages finish, flushes what
 * was published, then closes. Safe to call on an already closed connection.
 *
 * Never waits for a server that is gone: a drain needs the server's answer to its flush, so
 * while the connection is reconnecting (the server was stopped or killed) it closes at once,
 * and a drain that takes longer than `timeoutMs` (default {@link DRAIN_TIMEOUT_MS}) is cut short
 * by a close. What was not flushed then is lost the way a crash loses it: unacknowledged
 * JetStream messages are delivered again, publishes were not confirmed to their callers.
 */
export async function drainNats(nc: NatsConnection, options: { timeoutMs?: number } = {}): Promise<void> {
  if (nc.isClosed()) return;
  if (isNatsConnected(nc)) {
    const drained = nc.isDraining() ? nc.closed().then(() => undefined) : nc.drain().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.timeoutMs ?? DRAIN_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }
  if (!nc.isClosed()) await nc.close();
}
