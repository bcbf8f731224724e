import {
  Inject,
  Injectable,
  Module,
  Optional,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common';
import { collectionDecider, isCollectionEvent } from '@s1c/domain';
import { AggregateRepository } from '@s1c/event-store';
import type { Logger } from '@s1c/logger';
import { ensureStream, STREAMS } from '@s1c/messaging';
import { RUNTIME, RuntimeModule, type RuntimeModuleOptions, type ServiceConnections } from '@s1c/runtime';
import type { SecretBox } from '@s1c/secrets';
import { randomUUID } from 'node:crypto';
import { ImmediateDeletionCompleter } from './deletion.completer';
import { BASE_URL_POLICY, RegistryController, TRUSTED_GATEWAYS } from './registry.controller';
import type { RegistryConfig } from './registry.config';
import type { ConnectionPolicy } from './connection.tester';
import { SourceNameRegistry } from './source-name.registry';
import { SourceRepository } from './source.repository';
import { SourceViews } from './source.views';
import { SourcesService } from './sources.service';

const SECRETS = Symbol('s1c.registry.secrets');

/** Starts and stops the registry's read model: every source relayed so far is held before the first command is served. */
@Injectable()
class RegistryLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
    private readonly views: SourceViews,
    @Optional() private readonly completer?: ImmediateDeletionCompleter,
  ) {}

  async onModuleInit(): Promise<void> {
    await ensureStream(this.connections.jsm, STREAMS.events, { logger: this.logger, replicas: this.connections.streamReplicas });
    await this.views.start();
  }

  /** Deletions a previous run left under way are completed. */
  async onApplicationBootstrap(): Promise<void> {
    await this.completer?.resume();
  }

  /** After the transport stopped serving: deletions under way finish, then the read model stops. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.completer?.idle();
    await this.views.stop();
  }
}

/** The registry's Nest module: the shared runtime, the read model, and the commands routed to the {@link SourcesService}. */
@Module({})
export class RegistryModule {
  static register(deps: { runtime: RuntimeModuleOptions & { readonly config: RegistryConfig }; secrets: SecretBox; policy: ConnectionPolicy }): DynamicModule {
    const { config } = deps.runtime;
    const providers: Provider[] = [
      { provide: SECRETS, useValue: deps.secrets },
      { provide: BASE_URL_POLICY, useValue: deps.policy },
      { provide: TRUSTED_GATEWAYS, useValue: config.S1C_TRUSTED_GATEWAY_USERS },
      {
        provide: SourceViews,
        inject: [RUNTIME.connections, RUNTIME.logger],
        useFactory: (c: ServiceConnections, logger: Logger) => new SourceViews(c.store, c.nc, { gapTimeoutMs: config.S1C_EVENT_GAP_TIMEOUT, logger }),
      },
      {
        provide: SourcesService,
        inject: [RUNTIME.connections, RUNTIME.clock, SECRETS, SourceViews],
        useFactory: (c: ServiceConnections, clock: () => Date, secrets: SecretBox, views: SourceViews) =>
          new SourcesService({
            repository: new SourceRepository(c.store),
            collections: new AggregateRepository(c.store, collectionDecider(), isCollectionEvent),
            names: new SourceNameRegistry(c.store, async (sourceId) => (await views.load(sourceId)).state.source, clock),
            secrets,
            views,
            clock,
            newId: randomUUID,
          }),
      },
      RegistryLifecycle,
    ];
    if (config.S1C_DELETION_COMPLETION === 'immediate') {
      providers.push({
        provide: ImmediateDeletionCompleter,
        inject: [SourcesService, RUNTIME.logger],
        useFactory: (sources: SourcesService, logger: Logger) => {
          const completer = new ImmediateDeletionCompleter(sources, logger);
          sources.useDeletionCompleter(completer);
          return completer;
        },
      });
    }
    return { module: RegistryModule, imports: [RuntimeModule.forRoot(deps.runtime)], controllers: [RegistryController], providers };
  }
}
