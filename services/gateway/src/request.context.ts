import type { Logger } from '@s1c/logger';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Histogram } from 'prom-client';

export const REQUEST_ID_HEADER = 'X-Request-Id';
/** What the gateway accepts as a caller's request id; anything else is replaced by a new one. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID = Symbol('s1c:requestId');
const CALLER = Symbol('s1c:caller');

type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string; [CALLER]?: string };

/** Where a command comes from: the request's id, its authenticated caller and the caller's address. */
export interface CommandOrigin {
  readonly requestId: string;
  readonly caller: string;
  readonly ip: string | null;
}

/** Records who the authentication guard accepted. */
export function setCallerOf(req: IncomingMessage, caller: string): void {
  (req as WithRequestId)[CALLER] = caller;
}

/**
 * The origin of a request the guard let through. The address is the TCP peer's: a proxy's
 * `X-Forwarded-For` is not believed, as nothing here says which proxies to trust.
 */
export function originOf(req: IncomingMessage): CommandOrigin {
  const caller = (req as WithRequestId)[CALLER];
  // A route that sends commands is never public, so the guard has always named its caller.
  if (caller === undefined) throw new Error('no authenticated caller for this request');
  return { requestId: requestIdOf(req), caller, ip: req.socket.remoteAddress ?? null };
}

/** The request's id: the caller's `X-Request-Id` when it is safe to log and forward, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const tagged = req as WithRequestId;
  if (tagged[REQUEST_ID] === undefined) {
    const given = req.headers['x-request-id'];
    tagged[REQUEST_ID] = typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
  }
  return tagged[REQUEST_ID];
}

/** The HTTP source API's requests (no path label: paths carry source ids). */
const requestDuration = new Histogram({
  name: 's1c_gateway_request_duration_seconds',
  help: 'Duration of requests to the HTTP source API, by method and status.',
  labelNames: ['method', 'status'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
});

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
      requestDuration.observe({ method: req.method ?? '', status: String(res.statusCode) }, (performance.now() - started) / 1000);
      const path = (req.url ?? '').split('?')[0]!.slice(0, 300);
      const fields = { requestId, method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) };
      if (res.statusCode >= 500) logger.warn(fields, 'request failed');
      else logger.info(fields, 'request handled');
    });
    next();
  };
}
