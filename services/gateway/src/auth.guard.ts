import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError } from './api.errors';

const PUBLIC = 's1c:public';

/** Marks a handler that needs no token (`/healthz`). */
export const Public = () => SetMetadata(PUBLIC, true);

/** Settings of {@link BearerAuthGuard}. */
export abstract class AuthSettings {
  abstract readonly token: string | undefined;
}

/**
 * With a configured token, every handler not marked {@link Public} needs
 * `Authorization: Bearer <token>`. The comparison is constant-time: both sides are hashed first
 * so that neither their content nor their length leaks through timing.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly expected: Buffer | undefined;

  constructor(
    private readonly reflector: Reflector,
    settings: AuthSettings,
  ) {
    this.expected = settings.token === undefined ? undefined : digest(settings.token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.expected === undefined) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match && timingSafeEqual(digest(match[1]!), this.expected)) return true;
    throw new ApiError('Unauthorized', match ? 'the bearer token is not valid' : 'an Authorization: Bearer <token> header is required', [], {
      headers: { 'WWW-Authenticate': 'Bearer realm="s1c-gateway"' },
    });
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
