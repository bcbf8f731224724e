export { enricherEnvShape, loadEnricherConfig, type EnricherConfig } from './enricher.config';
export { startEnricher, type EnricherOptions, type EnricherRuntime } from './enricher.app';
