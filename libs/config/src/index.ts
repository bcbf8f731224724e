export { commonEnvShape, env, parseDurationMs } from './env.schema';
export { ConfigError, loadConfig } from './load-config';
