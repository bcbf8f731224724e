import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@s1c/logger';
import { createServer, type Server } from 'node:http';
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

/** Serves `GET /metrics` (Prometheus text format) on the service's metrics port, from start to stop. */
@Injectable()
export class MetricsEndpoint implements OnApplicationBootstrap, OnApplicationShutdown {
  private server: Server | undefined;

  constructor(
    @Inject(METRICS_SETTINGS) private readonly settings: MetricsSettings,
    @Inject(RUNTIME.connections) private readonly connections: ServiceConnections,
    @Inject(RUNTIME.logger) private readonly logger: Logger,
  ) {}

  /** The port it listens on (0 when it does not). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.port === 0) return;
    collectProcessMetrics();
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.render().then(
        (text) => res.writeHead(200, { 'Content-Type': register.contentType }).end(text),
        (error: unknown) => {
          this.logger.warn({ err: error }, 'could not render the metrics');
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.settings.port, this.settings.host, () => resolve());
    });
    this.server = server;
    this.logger.info({ metrics: `http://${this.settings.host}:${this.port}/metrics` }, 'metrics served');
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The consumers' gauges read now (a consumer that cannot be read keeps its last values), then everything. */
  async render(): Promise<string> {
    await Promise.all(
      this.settings.consumers.map(async ({ stream, durable }) => {
        const info = await this.connections.jsm.consumers.info(stream, durable).catch(() => undefined);
        if (!info) return;
        consumerPending.set({ stream, durable }, info.num_pending);
        consumerAckPending.set({ stream, durable }, info.num_ack_pending);
        consumerRedelivered.set({ stream, durable }, info.num_redelivered);
      }),
    );
    return register.metrics();
  }
}
