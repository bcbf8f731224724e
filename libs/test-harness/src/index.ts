export { findBinary, MissingBinaryError } from './binaries';
export { uniqueDbName } from './databases';
export {
  freePort,
  startFerretDb,
  startNatsCluster,
  startNatsServer,
  waitForJetStream,
  type RunningNatsCluster,
  type FerretDbOptions,
  type NatsServerOptions,
  type RunningServer,
  type ServerOptions,
  type ServerTlsFiles,
} from './servers';
export { serverUrls } from './urls';
export { rawHttpRequest, type RawHttpResponse } from './raw-http';
export { startConnectionTrap, type ConnectionTrap } from './connection-trap';
export { startFreezableProxy, type FreezableProxy } from './freezable-proxy';
export { documentedRoutes, openApiReplyChecker, servedRoutes } from './openapi-check';
