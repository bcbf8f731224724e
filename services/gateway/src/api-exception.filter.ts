import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Logger } from '@s1c/logger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './api.errors';
import { sendJson } from './http.reply';
import { requestIdOf } from './request.context';

const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'ValidationError',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'NotFound',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
};

/**
 * Renders every failure in the hosted product's error shape (see {@link ApiError.body}): the
 * gateway's own errors and the registry's refusals as they are, Nest's and Express's HTTP errors
 * (unknown route, undecodable path) by their status, and anything else as a 500 that says only
 * the request id to look for in the logs, never a message or a stack.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<IncomingMessage>();
    const res = http.getResponse<ServerResponse>();
    const requestId = requestIdOf(req);
    const error = this.toApiError(exception, req, requestId);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, error.status, error.body(requestId), error.headers);
  }

  private toApiError(exception: unknown, req: IncomingMessage, requestId: string): ApiError {
    if (exception instanceof ApiError) return exception;
    const status = exception instanceof HttpException ? exception.getStatus() : httpStatusOf(exception);
    if (status === 404 || status === 405) {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      return new ApiError('NotFound', `no such resource: ${req.method} ${path}`, [], { status: 404 });
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return new ApiError(CODE_BY_STATUS[status] ?? 'ValidationError', 'the request could not be understood (e.g. a malformed path or header)', [], { status });
    }
    this.logger.error({ err: exception, requestId }, 'request failed');
    return new ApiError('InternalError', `the request failed inside the gateway (request id ${requestId})`);
  }
}

/** Express and its body of middleware report client errors as `status` / `statusCode` on the error. */
function httpStatusOf(exception: unknown): number | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { status, statusCode } = exception as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined;
  return value !== undefined && Number.isInteger(value) ? value : undefined;
}
