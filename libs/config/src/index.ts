export { commonEnvShape, env, METRICS_PORTS, metricsEnvShape, parseDurationMs } from './env.schema';
export {
  connectionProblems,
  mongoConnectionOf,
  mongoEnvShape,
  natsConnectionOf,
  natsEnvShape,
  type MongoConnectionSettings,
  type NatsConnectionSettings,
} from './connections';
export { ConfigError, loadConfig } from './load-config';
export { ALLOW_ANONYMOUS_VARIABLE, anonymousExposureProblem, isLoopbackHost, type ListenerSettings } from './exposure';
