export { bearerRefusal, bearerTokenChecker, Public, PUBLIC_ROUTE, type BearerVerdict } from './bearer-token';
export { securityHeaders } from './security-headers';
