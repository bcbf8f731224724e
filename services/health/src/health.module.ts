import { Inject, Injectable, Module, type BeforeApplicationShutdown, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Logger } from '@s1c/logger';
import { ensureStream, STREAMS } from '@s1c/messaging';
import { RUNTIME, RuntimeModule, type RuntimeModuleOptions, type ServiceConnections } from '@s1c/runtime';
import { AuthSettings, BearerAuthGuard } from './auth.guard';
import { DASHBOARD_ASSETS, DashboardController, type DashboardAssets } from './dashboard.controller';
import { HealthApiController, OpsController } from './health.controller';
import type { HealthConfig } from './health.config';
import { HealthQueries } from './health.queries';
import { HealthReadModel } from './health.read-model';
import { DependencyProbes } from './probes';

/**
 * Starts the read models as the application gets ready, and stops them after it stopped serving.
 * The registry owns S1C_EVENTS: this waits for it. Once started, a broken NATS connection only
 * holds the read models back: the API still answers.
 */
@Injectable()
class ReadModelLifecycle implements OnModuleInit, BeforeApplicationShutdown {
  constructor(
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    private readonly readModel: HealthReadModel,
  ) {}

  async onModuleInit(): Promise<void> {
    await ensureStream(this.connections.jsm, STREAMS.events, { logger: this.logger, replicas: this.connections.streamReplicas });
    await this.readModel.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.readModel.stop();
  }
}

@Module({})
export class HealthModule {
  static register(options: { runtime: RuntimeModuleOptions & { readonly config: HealthConfig }; assets: DashboardAssets }): DynamicModule {
    const { config } = options.runtime;
    return {
      module: HealthModule,
      imports: [RuntimeModule.forRoot(options.runtime)],
      controllers: [HealthApiController, OpsController, DashboardController],
      providers: [
        {
          // No checkpoint: the source and API status are only in memory, so a start reads the log
          // after the last snapshot of them (or all of it, without one).
          provide: HealthReadModel,
          inject: [RUNTIME.connections, RUNTIME.logger],
          useFactory: (c: ServiceConnections, logger: Logger) =>
            new HealthReadModel(c.store, c.db, c.nc, {
              streamName: STREAMS.events.name,
              gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT,
              logger,
              snapshots: { intervalMs: config.S1C_SNAPSHOT_INTERVAL },
            }),
        },
        ReadModelLifecycle,
        {
          provide: HealthQueries,
          inject: [RUNTIME.connections, RUNTIME.clock, HealthReadModel],
          useFactory: (c: ServiceConnections, clock: () => Date, readModel: HealthReadModel) => new HealthQueries(c.db, readModel.model, clock, c.store),
        },
        {
          provide: DependencyProbes,
          inject: [RUNTIME.connections, HealthReadModel],
          useFactory: (c: ServiceConnections, readModel: HealthReadModel) => new DependencyProbes(c.nc, c.db, () => ({ ready: readModel.ready, checkpoint: readModel.position })),
        },
        { provide: AuthSettings, useValue: { token: config.S1C_API_TOKEN } },
        { provide: DASHBOARD_ASSETS, useValue: options.assets },
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
    };
  }
}
