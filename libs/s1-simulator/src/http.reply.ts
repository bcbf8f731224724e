/** A response before it is written: controllers return these, the server writes them. */
export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export function ok(body: unknown): Reply {
  return { status: 200, body };
}

function errorBody(code: number, title: string, detail: string | null): unknown {
  return { errors: [{ code, detail, title }] };
}

/** 400, S1's "Validation Error" (code 4000010). */
export function validationError(detail: string): Reply {
  return { status: 400, body: errorBody(4000010, 'Validation Error', detail) };
}

export function unauthorized(): Reply {
  return { status: 401, body: errorBody(4010010, 'Authentication Failed', null) };
}

/** 403 for a valid token without access to the API; the code is our guess (not public). */
export function forbidden(): Reply {
  return { status: 403, body: errorBody(4030010, 'Insufficient permissions', null) };
}

export function notFound(): Reply {
  return { status: 404, body: errorBody(4040010, 'Resource not found', null) };
}

export function methodNotAllowed(): Reply {
  return { status: 405, body: errorBody(4050010, 'Method not allowed', null) };
}

export function tooManyRequests(retryAfterSeconds: number | undefined): Reply {
  return {
    status: 429,
    body: errorBody(4290010, 'Too many requests', 'Rate limit exceeded'),
    ...(retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  };
}

/** Any 5xx, with S1's 500 body (code = status * 10000 + 10). */
export function serverError(status = 500, retryAfterSeconds?: number): Reply {
  const title = status === 500 ? 'Internal server error' : status === 503 ? 'Service unavailable' : 'Server error';
  return {
    status,
    body: errorBody(status * 10_000 + 10, title, 'Server could not process the request.'),
    ...(retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  };
}

/** A reply for an injected status: 429 and 5xx get S1-like bodies, others a generic one. */
export function statusReply(status: number, retryAfterSeconds?: number): Reply {
  if (status === 429) return tooManyRequests(retryAfterSeconds);
  if (status >= 500) return serverError(status, retryAfterSeconds);
  return {
    status,
    body: errorBody(status * 10_000 + 10, 'Injected error', null),
    ...(retryAfterSeconds !== undefined && { headers: { 'Retry-After': String(retryAfterSeconds) } }),
  };
}
