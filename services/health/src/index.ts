export { startHealth, type HealthOptions, type HealthRuntime } from './health.app';
export { healthEnvShape, loadHealthConfig, type HealthConfig } from './health.config';
export { HEALTH_COLLECTIONS, healthCollections, healthProjection } from './health.projection';
export { HealthQueries, type ApiStatusView, type HealthEventView, type HealthLevel, type Page, type SourceStatusView } from './health.queries';
export type { HealthEventDoc } from './health-event.model';
export type { SourceStatusDoc } from './source-status.model';
export type { ApiStatusDoc } from './api-status.model';
