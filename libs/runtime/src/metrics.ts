import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@s1c/logger';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, register } from 'prom-client';
import { RUNTIME } from './runtime.tokens';
import type { ServiceConnections } from './service.connections';

/**
 * Every service's metrics live in prom-client's default registry: the libraries define theirs once
 * per process (module level), this adds the process and Node.js metrics, and {@link MetricsEndpoint}
 * serves them.
 */
let defaultsCollected = false;
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register });
}

/** The JetStream durable consumers a service reads, for the pending gauges. */
export interface ConsumedDurable {
  readonly stream: string;
  readonly durable: string;
}

const consumerPending = new Gauge({
  name: 's1c_consumer_pending_messages',
  help: 'Messages of the stream not yet delivered to the durable consumer.',
  labelNames: ['stream', 'durable'] as const,
});
const consumerAckPending = new Gauge({
  name: 's1c_consumer_ack_pending_messages',
  help: 'Messages delivered to the durable consumer and not yet acknowledged.',
  labelNames: ['stream', 'durable'] as const,
});
const consumerRedelivered = new Gauge({
  name: 's1c_consumer_redelivered_messages',
  help: 'Messages the durable consumer has had delivered more than once (its count, as the server keeps it).',
  labelNames: ['stream', 'durable'] as const,
});

export interface MetricsSettings {
  /** 0: no endpoint. */
  readonly port: number;
  readonly host: string;
  /** Read from the server at each scrape. */
  readonly consumers: readonly ConsumedDurable[];
}

export const METRICS_SETTINGS = Symbol('s1c.metrics.settings');

/** A running metrics server ({@link startMetricsServer}). */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (Prometheus text format, prom-client's default registry with the process
 * metrics) on `port` and `host`; `refresh` runs before each scrape (e.g. gauges read from a server).
 */
export async function startMetricsServer(options: { port: number; host: string; logger: Logger; refresh?: () => Promise<void> }): Promise<MetricsServer> {
  collectProcessMetrics();
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    (options.refresh ?? (async () => undefined))()
      .then(() => register.metrics())
      .then(
        (text) => res.writeHead(200, { 'Content-Type': register.contentType }).end(text),
        (error: unknown) => {
          options.logger.warn({ err: error }, 'could not render the metrics');
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ metrics: `http://${options.host}:${port}/metrics` }, 'metrics served');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves the service's metrics ({@link startMetricsServer}) from start to stop, with its consumers' backlog. */
@Injectable()
export class MetricsEndpoint implements OnApplicationBootstrap, OnApplicationShutdown {
  private server: MetricsServer | undefined;

  constructor(
    @Inject(METRICS_SETTINGS) private readonly settings: MetricsSettings,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
  ) {}

  /** The port it listens on (0 when it does not). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.port === 0) return;
    this.server = await startMetricsServer({ port: this.settings.port, host: this.settings.host, logger: this.logger, refresh: () => this.readConsumers() });
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  /** The consumers' gauges read now; a consumer that cannot be read keeps its last values. */
  private async readConsumers(): Promise<void> {
    await Promise.all(
      this.settings.consumers.map(async ({ stream, durable }) => {
        const info = await this.connections.jsm.consumers.info(stream, durable).catch(() => undefined);
        if (!info) return;
        consumerPending.set({ stream, durable }, info.num_pending);
        consumerAckPending.set({ stream, durable }, info.num_ack_pending);
        consumerRedelivered.set({ stream, durable }, info.num_redelivered);
      }),
    );
  }
}
