import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerRefusal, bearerTokenChecker, PUBLIC_ROUTE } from '@s1c/http-kit';
import type { IncomingMessage } from 'node:http';
import { ApiError } from './api.errors';

export { Public } from '@s1c/http-kit';

/** Settings of {@link BearerAuthGuard}. */
export abstract class AuthSettings {
  abstract readonly token: string | undefined;
}

/** With a configured token, every handler not marked `Public` needs `Authorization: Bearer <token>`. */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly check: ReturnType<typeof bearerTokenChecker>;

  constructor(
    private readonly reflector: Reflector,
    settings: AuthSettings,
  ) {
    this.check = bearerTokenChecker(settings.token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const verdict = this.check(context.switchToHttp().getRequest<IncomingMessage>().headers.authorization);
    if (verdict === 'accepted') return true;
    throw new ApiError('Unauthorized', bearerRefusal(verdict), [], { headers: { 'WWW-Authenticate': 'Bearer realm="s1c-gateway"' } });
  }
}
