import { CommandError, ERROR_CODES, type ErrorCode, type ErrorReply } from '@s1c/contracts';
import { DomainError } from '@s1c/domain';
import type { Logger } from '@s1c/logger';

const UNAVAILABLE = new Set(['MongoNetworkError', 'MongoServerSelectionError', 'MongoNotConnectedError', 'MongoTopologyClosedError']);

/**
 * The reply for a failed command: refusals say what to fix; our own failures say only that they
 * happened and the correlation id to find them in the logs (never a stack or an internal message).
 */
export function errorReply(error: unknown, correlationId: string, logger: Logger): ErrorReply {
  if (error instanceof CommandError) return error.toReply();
  if (error instanceof DomainError) {
    const code: ErrorCode = (ERROR_CODES as readonly string[]).includes(error.code) ? (error.code as ErrorCode) : 'IllegalStateTransition';
    return new CommandError(code, error.message).toReply();
  }
  if (error instanceof Error && UNAVAILABLE.has(error.name)) {
    logger.warn({ err: error, correlationId }, 'database unavailable');
    return new CommandError('Unavailable', `the registry cannot reach its database; try again (correlation id ${correlationId})`).toReply();
  }
  logger.error({ err: error, correlationId }, 'command failed');
  return new CommandError('InternalError', `the command failed inside the registry (correlation id ${correlationId})`).toReply();
}
