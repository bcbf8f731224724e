export { startHealth, type HealthOptions, type HealthRuntime } from './health.app';
export { healthEnvShape, loadHealthConfig, type HealthConfig } from './health.config';
export { HEALTH_COLLECTIONS, healthEvents, HealthProjection } from './health.projection';
export { HealthModel } from './health.model';
export { HealthReadModel, type HealthReadModelOptions } from './health.read-model';
export { HealthQueries, type ApiStatusView, type HealthEventView, type HealthLevel, type Page, type SourceStatusView } from './health.queries';
export type { HealthEventDoc } from './health-event.model';
export type { SourceStatusDoc } from './source-status.model';
export type { ApiStatusDoc } from './api-status.model';
