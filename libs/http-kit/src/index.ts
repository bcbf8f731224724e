export { bearerRefusal, bearerTokenChecker, namedTokenChecker, Public, PUBLIC_ROUTE, type BearerVerdict, type CallerVerdict, type NamedToken } from './bearer-token';
export { parseRetryAfter } from './retry-after';
export { securityHeaders } from './security-headers';
export { openApiQueryParameters, openApiSchema } from './openapi-schema';
