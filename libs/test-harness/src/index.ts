export { findBinary, MissingBinaryError } from './binaries';
export { uniqueDbName } from './databases';
export { freePort, startFerretDb, startNatsServer, type NatsServerOptions, type RunningServer, type ServerOptions } from './servers';
export { serverUrls } from './urls';
export { rawHttpRequest, type RawHttpResponse } from './raw-http';
