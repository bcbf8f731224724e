export { startGateway, type GatewayOptions, type GatewayRuntime } from './gateway.app';
export { gatewayEnvShape, loadGatewayConfig, type GatewayConfig } from './gateway.config';
export { STATUS_BY_CODE, statusForCode, type ApiErrorBody, type ApiErrorItem } from './api.errors';
export { etagOf } from './etag';
