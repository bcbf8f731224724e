import 'reflect-metadata';
import {
  Global,
  Inject,
  Injectable,
  Module,
  type DynamicModule,
  type INestApplication,
  type INestApplicationContext,
  type OnApplicationShutdown,
  type Type,
} from '@nestjs/common';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { NestFactory } from '@nestjs/core';
import { NestLogger, type Logger } from '@s1c/logger';
import { METRICS_SETTINGS, MetricsEndpoint, type MetricsSettings } from './metrics';
import { RUNTIME } from './runtime.tokens';
import type { ServiceConnections } from './service.connections';

export { RUNTIME } from './runtime.tokens';

export interface RuntimeModuleOptions {
  readonly config: unknown;
  readonly logger: Logger;
  readonly connections: ServiceConnections;
  readonly clock?: () => Date;
  /** Where to serve `GET /metrics`, and the durable consumers whose backlog it reports; none: no endpoint. */
  readonly metrics?: MetricsSettings;
}

/** Closes the connections in the last phase of a stop, once every provider has handed its work back. */
@Injectable()
class ConnectionsCloser implements OnApplicationShutdown {
  constructor(@Inject(RUNTIME.connections) private readonly connections: ServiceConnections) {}

  onApplicationShutdown(): Promise<void> {
    return this.connections.close();
  }
}

/**
 * The runtime every service's Nest module imports: configuration, logger, clock and connections as
 * providers (tokens in {@link RUNTIME}), and the connections closed last when the application stops.
 */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(options: RuntimeModuleOptions): DynamicModule {
    const provided = [
      { provide: RUNTIME.config, useValue: options.config },
      { provide: RUNTIME.logger, useValue: options.logger },
      { provide: RUNTIME.connections, useValue: options.connections },
      { provide: RUNTIME.clock, useValue: options.clock ?? (() => new Date()) },
    ];
    const metrics = options.metrics ? [{ provide: METRICS_SETTINGS, useValue: options.metrics }, MetricsEndpoint] : [];
    return { module: RuntimeModule, global: true, providers: [...provided, ConnectionsCloser, ...metrics], exports: provided.map((p) => p.provide) };
  }
}

/** A started service application: its Nest context, and how to stop it. */
export interface ServiceApplication<A extends INestApplicationContext = INestApplicationContext> {
  readonly app: A;
  /**
   * `app.close()`, then the connections closed in any case: a lifecycle hook that throws would
   * otherwise end Nest's shutdown before its last phase.
   */
  close(): Promise<void>;
}

/**
 * Creates and starts a service's Nest application: a microservice listening with `transport` when
 * given (its handlers are controllers), else an application context (its work comes from consumers
 * and loops inside its providers). Start and stop go through Nest's lifecycle, the same phases in
 * every service:
 * 1. `onModuleInit`: get ready (streams, consumers declared, state read);
 * 2. `onApplicationBootstrap`: take work (consumers start, loops start);
 * then, on stop (a transport is closed before these, and waits for its handlers under way):
 * 3. `onModuleDestroy`: stop taking work (consumers stop pulling, loops stop);
 * 4. `beforeApplicationShutdown`: finish or hand back what is under way, save what the next start needs;
 * 5. `onApplicationShutdown`: the connections close ({@link RuntimeModule}).
 * Providers of one module run each phase side by side. A start that fails closes the connections
 * (what a provider had started ends with them) and rejects.
 */
export async function startServiceApplication(
  module: Type<unknown> | DynamicModule,
  options: { logger: Logger; connections: ServiceConnections; transport?: CustomTransportStrategy },
): Promise<ServiceApplication> {
  const { logger, connections, transport } = options;
  let app: INestApplicationContext;
  try {
    const nestOptions = { logger: new NestLogger(logger), abortOnError: false };
    if (transport) {
      const microservice = await NestFactory.createMicroservice(module, { ...nestOptions, strategy: transport });
      app = microservice;
      await microservice.listen().catch(async (error: unknown) => {
        await microservice.close().catch(() => undefined);
        throw error;
      });
    } else {
      app = await NestFactory.createApplicationContext(module, nestOptions);
    }
  } catch (error) {
    await connections.close();
    throw error;
  }
  return stoppable(app, options);
}

/**
 * Creates a service's Nest HTTP application (its API is controllers), lets `configure` set it up,
 * and listens on `port` and `host`; start and stop as {@link startServiceApplication} (Nest closes
 * the HTTP server after phase 4). Request bodies are left to the handlers (no body parser).
 */
export async function startHttpServiceApplication<A extends INestApplication>(
  module: Type<unknown> | DynamicModule,
  options: { logger: Logger; connections: ServiceConnections; port: number; host: string; configure?: (app: A) => void },
): Promise<ServiceApplication<A>> {
  const { logger, connections } = options;
  let app: A;
  try {
    app = await NestFactory.create<A>(module, { logger: new NestLogger(logger), bodyParser: false, abortOnError: false });
    options.configure?.(app);
    const created = app;
    await app.listen(options.port, options.host).catch(async (error: unknown) => {
      await created.close().catch(() => undefined);
      throw error;
    });
  } catch (error) {
    await connections.close();
    throw error;
  }
  return stoppable(app, options);
}

function stoppable<A extends INestApplicationContext>(app: A, { logger, connections }: { logger: Logger; connections: ServiceConnections }): ServiceApplication<A> {
  let closing: Promise<void> | undefined;
  return {
    app,
    close: () =>
      (closing ??= (async () => {
        try {
          await app.close();
        } catch (error) {
          logger.warn({ err: error }, 'a shutdown step failed; closing the connections');
        } finally {
          await connections.close();
        }
      })()),
  };
}
