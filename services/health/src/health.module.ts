import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthSettings, BearerAuthGuard } from './auth.guard';
import { DASHBOARD_ASSETS, DashboardController, type DashboardAssets } from './dashboard.controller';
import { CLOCK, HealthApiController, OpsController } from './health.controller';
import { HealthQueries } from './health.queries';
import { DependencyProbes } from './probes';

export interface HealthModuleOptions {
  readonly queries: HealthQueries;
  readonly probes: DependencyProbes;
  readonly token: string | undefined;
  readonly clock: () => Date;
  readonly assets: DashboardAssets;
}

@Module({})
export class HealthModule {
  static register(options: HealthModuleOptions): DynamicModule {
    return {
      module: HealthModule,
      controllers: [HealthApiController, OpsController, DashboardController],
      providers: [
        { provide: HealthQueries, useValue: options.queries },
        { provide: DependencyProbes, useValue: options.probes },
        { provide: AuthSettings, useValue: { token: options.token } },
        { provide: CLOCK, useValue: options.clock },
        { provide: DASHBOARD_ASSETS, useValue: options.assets },
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
    };
  }
}
