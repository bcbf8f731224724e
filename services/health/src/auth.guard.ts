import { type CanActivate, type ExecutionContext, HttpException, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { bearerRefusal, bearerTokenChecker, PUBLIC_ROUTE } from '@s1c/http-kit';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiErrorBody } from './api.schemas';

export { Public } from '@s1c/http-kit';

/** Settings of {@link BearerAuthGuard}. */
export abstract class AuthSettings {
  abstract readonly token: string | undefined;
}

/**
 * With a configured token, every handler not marked `Public` (`/healthz`, the dashboard's static
 * files) needs `Authorization: Bearer <token>`.
 */
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
    const http = context.switchToHttp();
    const verdict = this.check(http.getRequest<IncomingMessage>().headers.authorization);
    if (verdict === 'accepted') return true;
    http.getResponse<ServerResponse>().setHeader('WWW-Authenticate', 'Bearer realm="s1c-health"');
    const body: ApiErrorBody = { error: { code: 'Unauthorized', message: bearerRefusal(verdict) } };
    throw new HttpException(body, HttpStatus.UNAUTHORIZED);
  }
}
