import type { Logger } from '@s1c/logger';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** What the gateway accepts as a caller's request id; anything else is replaced by a new one. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID = Symbol('s1c:requestId');

type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string };

/** The request's id: the caller's `X-Request-Id` when it is safe to log and forward, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const tagged = req as WithRequestId;
  if (tagged[REQUEST_ID] === undefined) {
    const given = req.headers['x-request-id'];
    tagged[REQUEST_ID] = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  }
  return tagged[REQUEST_ID];
}

/**
 * Express middleware: gives every request its id, echoes it in `X-Request-Id`, and logs one line
 * per request when the response is done (never headers or bodies, which can carry tokens).
 */
export function requestContext(logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const requestId = requestIdOf(req);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const started = performance.now();
    res.once('finish', () => {
      const path = (req.url ?? '').split('?')[0]!.slice(0, 300);
      const fields = { requestId, method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) };
      if (res.statusCode >= 500) logger.warn(fields, 'request failed');
      else logger.info(fields, 'request handled');
    });
    next();
  };
}
