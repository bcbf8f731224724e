import { SetMetadata } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';

/** Metadata key of {@link Public}. */
export const PUBLIC_ROUTE = 's1c:public';

/** Marks a handler (or controller) that needs no token, such as `/healthz`. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** The verdict on an `Authorization` header. */
export type BearerVerdict = 'accepted' | 'missing' | 'invalid' | 'expired';

/** An API token with the name its holder is known by, and an optional end of validity. */
export interface NamedToken {
  readonly name: string;
  readonly token: string;
  readonly expiresAt?: Date;
}

/** What {@link namedTokenChecker} decided: accepted callers are named. */
export type CallerVerdict = { readonly verdict: 'accepted'; readonly caller: string } | { readonly verdict: Exclude<BearerVerdict, 'accepted'> };

/**
 * Checks `Authorization: Bearer <token>` headers against named tokens and says who the caller
 * is. Every configured token is compared, in constant time and on hashes of both sides, so
 * neither which token matched nor the content or length of any leaks through timing. A token
 * past its `expiresAt` (by `clock`) is `expired`.
 */
export function namedTokenChecker(tokens: readonly NamedToken[], clock: () => Date = () => new Date()): (authorization: string | undefined) => CallerVerdict {
  const expected = tokens.map((t) => ({ ...t, digest: digest(t.token) }));
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { verdict: 'missing' };
    const given = digest(match[1]!);
    let found: (typeof expected)[number] | undefined;
    for (const candidate of expected) {
      if (timingSafeEqual(given, candidate.digest) && found === undefined) found = candidate;
    }
    if (!found) return { verdict: 'invalid' };
    if (found.expiresAt !== undefined && found.expiresAt.getTime() <= clock().getTime()) return { verdict: 'expired' };
    return { verdict: 'accepted', caller: found.name };
  };
}

/**
 * Checks `Authorization: Bearer <token>` headers against a configured token (none configured:
 * everything is accepted). The comparison is constant-time: both sides are hashed first so that
 * neither their content nor their length leaks through timing.
 */
export function bearerTokenChecker(token: string | undefined): (authorization: string | undefined) => BearerVerdict {
  if (token === undefined) return () => 'accepted';
  const check = namedTokenChecker([{ name: 'api', token }]);
  return (authorization) => check(authorization).verdict;
}

/** What to tell a caller whose token was refused. */
export function bearerRefusal(verdict: Exclude<BearerVerdict, 'accepted'>): string {
  switch (verdict) {
    case 'invalid':
      return 'the bearer token is not valid';
    case 'expired':
      return 'the bearer token has expired';
    case 'missing':
      return 'an Authorization: Bearer <token> header is required';
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
