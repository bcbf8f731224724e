/**
 * @packageDocumentation
 * The runtime every service shares:
 * - {@link runService}, the process entry point: configuration (exit 2 when unusable), start
 *   (exit 1 when it fails), and a stop on SIGTERM/SIGINT bounded by `S1C_SHUTDOWN_DEADLINE`;
 * - {@link openConnections}: MongoDB (the event log's indexes ensured) and NATS, the same way everywhere;
 * - {@link RuntimeModule} and {@link startServiceApplication}: the service as a Nest application
 *   whose providers get configuration, logger, clock and connections by the {@link RUNTIME} tokens,
 *   start and stop in the same lifecycle phases, and whose connections close last.
 *
 * @example
 * ```ts
 * void runService({ name: 'scheduler', loadConfig: loadSchedulerConfig, start: (config, { logger }) => startScheduler(config, { logger }) });
 * ```
 */
export {
  DEFAULT_SHUTDOWN_DEADLINE_MS,
  EXIT,
  REPEATED_SIGNAL_MS,
  runService,
  type RunServiceOptions,
  type ServiceConfig,
  type ServiceContext,
  type ServiceRuntime,
} from './run-service';
export { openConnections, type ConnectionConfig, type OpenConnectionsOptions, type ServiceConnections } from './service.connections';
export { RUNTIME, RuntimeModule, startHttpServiceApplication, startServiceApplication, type RuntimeModuleOptions, type ServiceApplication } from './service.module';
export { collectProcessMetrics, MetricsEndpoint, startMetricsServer, type ConsumedDurable, type MetricsServer, type MetricsSettings } from './metrics';
