import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerRefusal, namedTokenChecker, PUBLIC_ROUTE, type NamedToken } from '@s1c/http-kit';
import type { IncomingMessage } from 'node:http';
import { ApiError } from './api.errors';
import { setCallerOf } from './request.context';

export { Public } from '@s1c/http-kit';

/** The name every caller gets when the gateway runs without tokens. */
export const ANONYMOUS_CALLER = 'anonymous';

/** Settings of {@link BearerAuthGuard}. */
export abstract class AuthSettings {
  /** Empty: no authentication. */
  abstract readonly tokens: readonly NamedToken[];
}

/**
 * With configured tokens, every handler not marked `Public` needs `Authorization: Bearer <token>`
 * with one that has not expired; the token's name becomes the request's caller.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly check: ReturnType<typeof namedTokenChecker> | undefined;

  constructor(
    private readonly reflector: Reflector,
    settings: AuthSettings,
  ) {
    this.check = settings.tokens.length > 0 ? namedTokenChecker(settings.tokens) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const req = context.switchToHttp().getRequest<IncomingMessage>();
    if (!this.check) {
      setCallerOf(req, ANONYMOUS_CALLER);
      return true;
    }
    const result = this.check(req.headers.authorization);
    if (result.verdict === 'accepted') {
      setCallerOf(req, result.caller);
      return true;
    }
    throw new ApiError('Unauthorized', bearerRefusal(result.verdict), [], { headers: { 'WWW-Authenticate': 'Bearer realm="s1c-gateway"' } });
  }
}
