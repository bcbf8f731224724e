import { inspect } from 'node:util';
import type { ErrorType } from '@s1c/domain';

/** Why a call to SentinelOne failed; stable names that callers and health events can switch on. */
export const S1_ERROR_REASONS = [
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'Redirect',
  'UnknownHost',
  'TlsError',
  'AddressNotAllowed',
  'RateLimited',
  'ServerError',
  'Timeout',
  'ConnectionFailed',
  'MalformedResponse',
  'BodyTooLarge',
  'InvalidCursor',
  'BadRequest',
  'ResponseErrors',
  'UnexpectedStatus',
  'InvalidBaseUrl',
  'ProxyFailed',
  'Aborted',
] as const;
export type S1ErrorReason = (typeof S1_ERROR_REASONS)[number];

/** Which error type (docs/DESIGN.md "Error types and retries") each reason maps to. */
export const S1_ERROR_TYPES: Readonly<Record<S1ErrorReason, ErrorType>> = {
  Unauthorized: 'ThirdPartyConfig',
  Forbidden: 'ThirdPartyConfig',
  NotFound: 'ThirdPartyConfig',
  Redirect: 'ThirdPartyConfig',
  UnknownHost: 'ThirdPartyConfig',
  TlsError: 'ThirdPartyConfig',
  AddressNotAllowed: 'ThirdPartyConfig',
  RateLimited: 'ThirdPartyGeneric',
  ServerError: 'ThirdPartyGeneric',
  Timeout: 'ThirdPartyGeneric',
  ConnectionFailed: 'ThirdPartyGeneric',
  MalformedResponse: 'ThirdPartyGeneric',
  BodyTooLarge: 'ThirdPartyGeneric',
  InvalidCursor: 'ThirdPartyGeneric',
  BadRequest: 'FirstPartyGeneric',
  ResponseErrors: 'ThirdPartyGeneric',
  UnexpectedStatus: 'ThirdPartyGeneric',
  InvalidBaseUrl: 'ThirdPartyConfig',
  // HTTPS_PROXY unreachable or refusing the tunnel: our side's network, retried.
  ProxyFailed: 'FirstPartyGeneric',
  // The caller cancelled (shutdown): our side, and retrying later is right.
  Aborted: 'FirstPartyGeneric',
};

/** The plain shape of an {@link S1Error}, as logged or stored (never holds the token). */
export interface S1ErrorJson {
  readonly name: 'S1Error';
  readonly errorType: ErrorType;
  readonly reason: S1ErrorReason;
  readonly message: string;
  readonly status?: number;
  readonly retryAfterMs?: number;
}

/**
 * A failed call to the SentinelOne API, classified for the retry policy. The message says what
 * happened and what to do; it is built only from redacted text, so it never contains the token.
 * An unknown host counts as ThirdPartyGeneric (not Config) once the host has resolved before
 * in this process, since a console that worked yesterday is not a typo.
 */
export class S1Error extends Error {
  override readonly name = 'S1Error';
  readonly errorType: ErrorType;
  readonly reason: S1ErrorReason;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(reason: S1ErrorReason, message: string, details: { status?: number; retryAfterMs?: number; errorType?: ErrorType } = {}) {
    super(message);
    this.reason = reason;
    this.errorType = details.errorType ?? S1_ERROR_TYPES[reason];
    if (details.status !== undefined) this.status = details.status;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
  }

  /** Whether the caller may retry with backoff (everything but ThirdPartyConfig). */
  get retryable(): boolean {
    return this.errorType !== 'ThirdPartyConfig';
  }

  toJSON(): S1ErrorJson {
    return {
      name: 'S1Error',
      errorType: this.errorType,
      reason: this.reason,
      message: this.message,
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...(this.retryAfterMs !== undefined ? { retryAfterMs: this.retryAfterMs } : {}),
    };
  }

  // Only our own fields: a `cause` from the socket layer is deliberately not attached.
  [inspect.custom](): string {
    return `${this.stack ?? `S1Error: ${this.message}`} ${inspect(this.toJSON())}`;
  }
}

/** Whether a value is an {@link S1Error}. */
export function isS1Error(value: unknown): value is S1Error {
  return value instanceof S1Error;
}

/** One entry of S1's error envelope `{"errors":[{"code","detail","title"}]}`. */
export interface S1ErrorEntry {
  readonly code?: number | string;
  readonly title?: string;
  readonly detail?: string;
}

/** `code title: detail` for each entry, e.g. `4010010 Authentication Failed`. */
export function describeErrorEntries(entries: readonly S1ErrorEntry[]): string {
  return entries
    .slice(0, 3)
    .map((e) => [e.code, e.title].filter((x) => x !== undefined && x !== '').join(' ') + (e.detail ? `: ${e.detail}` : ''))
    .filter((s) => s !== '')
    .join('; ');
}
