import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { NamedToken } from '@s1c/http-kit';
import type { NatsConnection } from 'nats';
import { AuthSettings, BearerAuthGuard } from './auth.guard';
import { NATS_CONNECTION, OpsController } from './ops.controller';
import { RegistryClient } from './registry.client';
import { SourcesController } from './sources.controller';

export interface GatewayModuleOptions {
  readonly registry: RegistryClient;
  readonly nc: NatsConnection;
  /** Empty: no authentication. */
  readonly tokens: readonly NamedToken[];
}

@Module({})
export class GatewayModule {
  static register(options: GatewayModuleOptions): DynamicModule {
    return {
      module: GatewayModule,
      controllers: [SourcesController, OpsController],
      providers: [
        { provide: RegistryClient, useValue: options.registry },
        { provide: NATS_CONNECTION, useValue: options.nc },
        { provide: AuthSettings, useValue: { tokens: options.tokens } },
        { provide: APP_GUARD, useClass: BearerAuthGuard },
      ],
    };
  }
}
