import 'reflect-metadata';
import { createLogger, type Logger } from '@s1c/logger';
import { openConnections, startServiceApplication } from '@s1c/runtime';
import type { Db } from 'mongodb';
import type { NatsConnection } from 'nats';
import { DeliveredSet, ENRICHER_DURABLE, FILE_SINK_DURABLE, HTTP_SINK_DURABLE, type FileSink, type HttpSink, type RawEnricher, type SourceDirectory } from '@s1c/delivery';
import { STREAMS } from '@s1c/messaging';
import type { ConsumedDurable } from '@s1c/runtime';
import type { EnricherConfig } from './enricher.config';
import { DeliveredCleanup, EnricherModule, EnricherSources, FileSinkService, HttpSinkService, RawEnricherService } from './enricher.module';

export interface EnricherOptions {
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** Jitter source for the sink's backoff, a number in [0, 1). */
  readonly random?: () => number;
}

export interface EnricherRuntime {
  readonly enricher: RawEnricher;
  readonly httpSink: HttpSink | undefined;
  readonly fileSink: FileSink | undefined;
  readonly delivered: DeliveredSet;
  readonly sources: SourceDirectory;
  readonly db: Db;
  readonly nc: NatsConnection;
  /** Removes expired delivered-set entries now (the periodic cleanup does the same). */
  cleanupDelivered(): Promise<number>;
  /** Stops consuming, finishes batches in flight, hands held messages back, closes every connection. */
  close(): Promise<void>;
}

/**
 * Starts the enricher as a Nest application on the shared runtime: the `enricher` consumer on
 * `S1C_RAW` (tagging, exactly-once output to `S1C_DATA`), and, when configured, the HTTP sink
 * (`sink-http`) and the file sink (`sink-file`) on `S1C_DATA` (see {@link EnricherModule}).
 */
export async function startEnricher(config: EnricherConfig, options: EnricherOptions = {}): Promise<EnricherRuntime> {
  const logger = options.logger ?? createLogger({ name: 'enricher', level: config.LOG_LEVEL });
  const connections = await openConnections(config, { name: 'enricher', logger, ...(options.clock ? { clock: options.clock } : {}) });
  const { app, close } = await startServiceApplication(
    EnricherModule.register(
      { config, logger, connections, ...(options.clock ? { clock: options.clock } : {}), metrics: { port: config.S1C_METRICS_PORT, host: config.S1C_METRICS_HOST, consumers: consumedDurables(config) } },
      { random: options.random ?? Math.random },
    ),
    { logger, connections },
  );
  const cleanup = app.get(DeliveredCleanup);
  logger.info(
    {
      db: config.S1C_DB_NAME,
      httpSink: config.S1C_SINK_HTTP_URL ? new URL(config.S1C_SINK_HTTP_URL).host : null,
      fileSink: config.S1C_SINK_FILE_DIR ?? null,
    },
    'enricher started',
  );
  return {
    enricher: app.get(RawEnricherService).enricher,
    httpSink: config.S1C_SINK_HTTP_URL ? app.get(HttpSinkService).sink : undefined,
    fileSink: config.S1C_SINK_FILE_DIR ? app.get(FileSinkService).sink : undefined,
    delivered: app.get(DeliveredSet),
    sources: app.get(EnricherSources).directory,
    db: connections.db,
    nc: connections.nc,
    cleanupDelivered: () => cleanup.run(),
    close,
  };
}

/** The durable consumers this enricher reads: their backlog is in its metrics. */
function consumedDurables(config: EnricherConfig): ConsumedDurable[] {
  return [
    { stream: STREAMS.raw.name, durable: ENRICHER_DURABLE },
    ...(config.S1C_SINK_HTTP_URL ? [{ stream: STREAMS.data.name, durable: HTTP_SINK_DURABLE }] : []),
    ...(config.S1C_SINK_FILE_DIR ? [{ stream: STREAMS.data.name, durable: FILE_SINK_DURABLE }] : []),
  ];
}
