import { Controller, Get, Header, Inject, Param, Query, Res } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Public } from './auth.guard';
import { HealthQueries } from './health.queries';
import { notFound, parseQuery, parseSourceId } from './http.errors';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.renderer';
import { OPENAPI_DOCUMENT } from './openapi.document';
import { DependencyProbes } from './probes';
import { healthEventsQuerySchema, noQuerySchema, sourceHealthEventsQuerySchema, sourcesQuerySchema } from './query.schemas';
import { RUNTIME } from '@s1c/runtime';
import { register } from 'prom-client';


/** The read API: source status and health events. */
@Controller('api/v1')
export class HealthApiController {
  constructor(private readonly queries: HealthQueries) {}

  @Get('sources')
  listSources(@Query() query: unknown) {
    return this.queries.listSources(parseQuery(sourcesQuerySchema, query));
  }

  @Get('sources/:id')
  async getSource(@Param('id') rawId: string, @Query() query: unknown) {
    const id = parseSourceId(rawId);
    parseQuery(noQuerySchema, query);
    const source = await this.queries.getSource(id);
    if (!source) throw notFound(`source ${JSON.stringify(id)}`);
    return source;
  }

  @Get('sources/:id/health-events')
  async sourceHealthEvents(@Param('id') rawId: string, @Query() query: unknown) {
    const id = parseSourceId(rawId);
    const filters = parseQuery(sourceHealthEventsQuerySchema, query);
    if (!this.queries.sourceExists(id)) throw notFound(`source ${JSON.stringify(id)}`);
    return this.queries.listHealthEvents({ ...filters, source: id });
  }

  /** Who changed the source, when and what, from its log; secrets masked. */
  @Get('sources/:id/history')
  async sourceHistory(@Param('id') id: string, @Query() query: unknown) {
    parseQuery(noQuerySchema, query);
    const history = await this.queries.sourceHistory(parseSourceId(id));
    if (!history) throw notFound(`source ${JSON.stringify(id)}`);
    return history;
  }

  @Get('health-events')
  healthEvents(@Query() query: unknown) {
    return this.queries.listHealthEvents(parseQuery(healthEventsQuerySchema, query));
  }
}

/** Operations: liveness of dependencies, metrics, the API's description. */
@Controller()
export class OpsController {
  constructor(
    private readonly queries: HealthQueries,
    private readonly probes: DependencyProbes,
    @Inject(RUNTIME.clock) private readonly clock: () => Date,
  ) {}

  @Public()
  @Get('healthz')
  async healthz(@Res({ passthrough: true }) res: ServerResponse) {
    const readiness = await this.probes.check();
    res.statusCode = readiness.status === 'ok' ? 200 : 503;
    return readiness;
  }

  @Get('metrics')
  @Header('Content-Type', METRICS_CONTENT_TYPE)
  async metrics() {
    // The read models' figures (every replica the same), then this process's own (prom-client's registry).
    return `${renderMetrics(await this.queries.metricsSnapshot(), this.clock())}${await register.metrics()}`;
  }

  @Get('api/docs')
  docs() {
    return OPENAPI_DOCUMENT;
  }
}
