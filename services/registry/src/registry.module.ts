import { Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from '@s1c/logger';
import type { TrustedGateways } from './actor.resolver';
import type { ConnectionPolicy } from './connection.tester';
import { BASE_URL_POLICY, LOGGER, RegistryController, SOURCES_SERVICE, TRUSTED_GATEWAYS } from './registry.controller';
import type { SourcesService } from './sources.service';

/** The registry's Nest module: a thin shell that routes commands to the {@link SourcesService}. */
@Module({})
export class RegistryModule {
  static register(deps: { sources: SourcesService; policy: ConnectionPolicy; logger: Logger; trustedGateways: TrustedGateways }): DynamicModule {
    return {
      module: RegistryModule,
      controllers: [RegistryController],
      providers: [
        { provide: SOURCES_SERVICE, useValue: deps.sources },
        { provide: BASE_URL_POLICY, useValue: deps.policy },
        { provide: LOGGER, useValue: deps.logger },
        { provide: TRUSTED_GATEWAYS, useValue: deps.trustedGateways },
      ],
    };
  }
}
