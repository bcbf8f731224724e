import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Logger } from '@s1c/logger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiErrorBody } from './api.schemas';

const CODE_BY_STATUS: Readonly<Record<number, string>> = { 400: 'BadRequest', 401: 'Unauthorized', 404: 'NotFound', 405: 'NotFound' };

/**
 * Renders every failure as `{"error": {code, message}}`: the API's own errors as they are, Nest's
 * and Express's HTTP errors (unknown route, undecodable path) by their status with a message of
 * ours (theirs may echo the path), and anything else as a 500 that says where to look, never a
 * message or a stack.
 */
@Catch()
export class HealthExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<IncomingMessage>();
    const res = http.getResponse<ServerResponse>();
    const [status, body] = this.render(exception, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  }

  private render(exception: unknown, req: IncomingMessage): [number, ApiErrorBody] {
    const status = exception instanceof HttpException ? exception.getStatus() : statusOf(exception);
    if (exception instanceof HttpException && isApiErrorBody(exception.getResponse())) return [status!, exception.getResponse() as ApiErrorBody];
    if (status === 404 || status === 405) {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 200);
      return [404, { error: { code: 'NotFound', message: `no such resource: ${req.method ?? 'GET'} ${JSON.stringify(path)}` } }];
    }
    if (status === 400 && exception instanceof Error && exception.message.startsWith('Failed to decode')) {
      return [400, { error: { code: 'BadRequest', message: 'the path is not valid percent-encoded UTF-8' } }];
    }
    if (status !== undefined && status >= 400 && status < 500) {
      return [status, { error: { code: CODE_BY_STATUS[status] ?? 'BadRequest', message: 'the request could not be understood (e.g. a malformed path or header)' } }];
    }
    this.logger.error({ err: exception, method: req.method, path: (req.url ?? '').split('?')[0] }, 'request failed');
    return [500, { error: { code: 'InternalError', message: 'the request failed inside the health service; the details are in its log' } }];
  }
}

function isApiErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const { error } = value as { error: unknown };
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}

/** Express reports client errors as `status` / `statusCode` on the error. */
function statusOf(exception: unknown): number | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { status, statusCode } = exception as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined;
  return value !== undefined && Number.isInteger(value) ? value : undefined;
}
