import { RpcException } from '@nestjs/microservices';
import type { CommandError } from '@s1c/contracts';
import { ErrorCode, NatsError } from 'nats';

/** Nobody answered the request in time; names the subject so the caller knows which service to look at. */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
  ) {
    super(`no reply on ${subject} within ${timeoutMs} ms`);
  }
}

/** No subscriber serves the subject at all (e.g. the registry is not running). */
export class NoRespondersError extends Error {
  override readonly name = 'NoRespondersError';
  constructor(readonly subject: string) {
    super(`no responders on ${subject}: no service is serving it (is it running?)`);
  }
}

/** A reply arrived but was not valid JSON. */
export class InvalidReplyError extends Error {
  override readonly name = 'InvalidReplyError';
  constructor(
    readonly subject: string,
    cause: unknown,
  ) {
    super(`reply on ${subject} is not valid JSON`, { cause });
  }
}

/** An existing stream or consumer differs in a field the server will not change in place. */
export class DeclarationConflictError extends Error {
  override readonly name = 'DeclarationConflictError';
  constructor(
    readonly resource: string,
    readonly fields: readonly string[],
    cause?: unknown,
  ) {
    const reason = cause instanceof Error && cause.message ? `: the server said "${cause.message}"` : '';
    const hint = fields.includes('num_replicas') ? ' (S1C_STREAM_REPLICAS: a cluster needs at least that many servers with JetStream; one server takes only 1)' : '';
    super(`${resource} exists with a different ${fields.join(', ')} that cannot be updated in place${reason}${hint}`, { cause });
  }
}

/**
 * The NATS server refused an operation for this connection's user: its permissions
 * (infra/nats/nats.conf) do not allow publishing or subscribing to `subject`. Usually the service
 * runs with another service's credentials, or the server's configuration is older than the service.
 */
export class NatsPermissionError extends Error {
  override readonly name = 'NatsPermissionError';
  constructor(
    readonly operation: 'publish' | 'subscribe',
    readonly subject: string,
    what: string,
  ) {
    super(
      `NATS permission denied: this service's NATS user may not ${operation} ${JSON.stringify(subject)} (${what}); check NATS_USER / NATS_PASSWORD (another service's credentials?) and the server's permissions for that user`,
    );
  }
}

/** Whether `error` is the server refusing an operation on permission grounds. */
export function isPermissionViolation(error: unknown): error is NatsError {
  return error instanceof NatsError && error.code === ErrorCode.PermissionsViolation;
}

/** The subject a permission violation names (from the server's message), if any. */
export function refusedSubject(error: NatsError): string | undefined {
  return error.permissionContext?.subject ?? /to "([^"]+)"/.exec(error.message)?.[1];
}

/** Structured error body of a command reply: `{"ok":false,"error":{code,message,details}}`. */
export interface CommandErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/**
 * A command handler's refusal (a {@link CommandError} of `@s1c/contracts`), carried through Nest's
 * exception filter: the filter turns every error that is not an RpcException into a generic
 * "Internal server error", so the handler throws `new CommandRefusal(error)` and the transport
 * replies `error.toReply()`, `{"ok":false,"error":{code,message,details}}`.
 */
export class CommandRefusal extends RpcException {
  override readonly name = 'CommandRefusal';
  constructor(readonly refusal: CommandError) {
    super(refusal.message);
  }

  override getError(): object {
    return this;
  }
}

/**
 * Thrown by a JetStream handler for a transient failure: the message is `nak`ed and comes back
 * after `delayMs` (e.g. from a Retry-After header) or, without it, after the consumer's delay
 * for this delivery count. On the last allowed delivery it goes to the dead-letter stream.
 */
export class RetryableError extends RpcException {
  override readonly name = 'RetryableError';
  readonly delayMs: number | undefined;
  constructor(message: string, options: { delayMs?: number; cause?: unknown } = {}) {
    super(message);
    this.delayMs = options.delayMs;
    if (options.cause !== undefined) this.cause = options.cause;
  }

  override getError(): object {
    return this;
  }
}

/**
 * Thrown by a JetStream handler for a message that can never succeed (bad schema, unknown
 * type): it goes to the dead-letter stream at once and is terminated, without retries.
 */
export class PoisonMessageError extends RpcException {
  override readonly name = 'PoisonMessageError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message);
    if (options.cause !== undefined) this.cause = options.cause;
  }

  override getError(): object {
    return this;
  }
}

/**
 * Carries an unexpected handler error through Nest's exception filter unchanged, so the
 * transport can log it and put its message in dead-letter headers.
 * @internal
 */
export class HandlerFailure extends RpcException {
  override readonly name = 'HandlerFailure';
  constructor(readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original));
  }

  override getError(): object {
    return this;
  }
}
