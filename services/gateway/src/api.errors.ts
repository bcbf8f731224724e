import type { ErrorDetail } from '@s1c/contracts';
import type { z } from 'zod';
import type { apiErrorBodySchema, apiErrorItemSchema } from './api.schemas';

/** One entry of {@link ApiErrorBody.errors}. */
export type ApiErrorItem = z.infer<typeof apiErrorItemSchema>;

/** The hosted product's error body ({@link apiErrorBodySchema}). */
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;

/**
 * Status of each registry error code. A code the gateway does not know (a newer registry) is a 500
 * that keeps its code, so nothing is hidden and nothing is guessed.
 */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  InvalidJson: 400,
  ValidationError: 400,
  InvalidSourceType: 400,
  ImmutableField: 400,
  SourceNotFound: 404,
  DuplicateResourceName: 409,
  IllegalStateTransition: 409,
  ReplayPending: 409,
  // The request is well formed but the source's configuration does not collect that API.
  CollectionNotPlanned: 409,
  VersionConflict: 412,
  PayloadTooLarge: 413,
  InternalError: 500,
  Unavailable: 503,
  // The gateway's own codes, for failures that never reach the registry.
  NotFound: 404,
  Unauthorized: 401,
  UnsupportedMediaType: 415,
  PreconditionRequired: 428,
  BadGateway: 502,
  GatewayTimeout: 504,
};

export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/**
 * A request the gateway answers with an error: thrown anywhere in a handler, rendered by
 * `ApiExceptionFilter` in the hosted product's error shape.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  /** Extra response headers (`WWW-Authenticate`, `Retry-After`, ...). */
  readonly headers: Record<string, string>;
  /** `meta` of the single entry of `errors` when there are no field details. */
  readonly meta: Record<string, unknown>;

  constructor(
    readonly code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
    options: { status?: number; headers?: Record<string, string>; meta?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.status = options.status ?? statusForCode(code);
    this.headers = options.headers ?? {};
    this.meta = options.meta ?? {};
  }

  body(requestId: string): ApiErrorBody {
    const errors: ApiErrorItem[] =
      this.details.length > 0
        ? this.details.map((d) => ({ code: this.code, message: `${d.path || '(body)'} ${d.message}`, meta: { path: d.path } }))
        : [{ code: this.code, message: this.message, meta: { ...this.meta } }];
    return { status: this.status, id: requestId, code: this.code, message: this.message, errors };
  }
}
