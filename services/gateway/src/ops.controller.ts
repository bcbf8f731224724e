import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from 'nats';
import { Public } from './auth.guard';
import { sendJson } from './http.reply';
import { OPENAPI_DOCUMENT } from './openapi.document';

export const NATS_CONNECTION = Symbol('NatsConnection');

/** Liveness and the API's description. */
@Controller()
export class OpsController {
  constructor(@Inject(NATS_CONNECTION) private readonly nc: NatsConnection) {}

  /** Whether the gateway reaches NATS (no token needed). A registry outage shows as 503 on the API itself. */
  @Public()
  @Get('healthz')
  async healthz(@Req() _req: IncomingMessage, @Res() res: ServerResponse) {
    const started = performance.now();
    let nats: { ok: boolean; latencyMs?: number; error?: string };
    try {
      if (this.nc.isClosed()) throw new Error('connection closed');
      await withTimeout(this.nc.rtt(), 2000);
      nats = { ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      nats = { ok: false, error: error instanceof Error && /closed|within/.test(error.message) ? error.message : 'unreachable' };
    }
    sendJson(res, nats.ok ? 200 : 503, { status: nats.ok ? 'ok' : 'unavailable', checks: { nats } });
  }

  @Get('api/docs')
  docs(@Res() res: ServerResponse) {
    sendJson(res, 200, OPENAPI_DOCUMENT);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
