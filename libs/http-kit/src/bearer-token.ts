import { SetMetadata } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';

/** Metadata key of {@link Public}. */
export const PUBLIC_ROUTE = 's1c:public';

/** Marks a handler (or controller) that needs no token, such as `/healthz`. */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** The verdict on an `Authorization` header. */
export type BearerVerdict = 'accepted' | 'missing' | 'invalid';

/**
 * Checks `Authorization: Bearer <token>` headers against a configured token (none configured:
 * everything is accepted). The comparison is constant-time: both sides are hashed first so that
 * neither their content nor their length leaks through timing.
 */
export function bearerTokenChecker(token: string | undefined): (authorization: string | undefined) => BearerVerdict {
  if (token === undefined) return () => 'accepted';
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return 'missing';
    return timingSafeEqual(digest(match[1]!), expected) ? 'accepted' : 'invalid';
  };
}

/** What to tell a caller whose token was refused. */
export function bearerRefusal(verdict: Exclude<BearerVerdict, 'accepted'>): string {
  return verdict === 'invalid' ? 'the bearer token is not valid' : 'an Authorization: Bearer <token> header is required';
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
