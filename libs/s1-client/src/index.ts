export {
  API_PATHS,
  API_PREFIX,
  DEFAULT_LIMIT,
  DEFAULT_MAX_429_RETRIES,
  DEFAULT_MAX_429_WAIT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_TIMEOUT_MS,
  S1Client,
  type CallOptions,
  type ListQuery,
  type S1Api,
  type S1ClientOptions,
  type S1RequestOutcome,
  type S1Page,
  type TokenDetails,
} from './s1.client';
export {
  isS1Error,
  S1_ERROR_REASONS,
  S1_ERROR_TYPES,
  S1Error,
  type S1ErrorJson,
  type S1ErrorReason,
} from './s1.errors';
export {
  ConsoleRateLimiter,
  DEFAULT_REQUESTS_PER_SECOND,
  systemClock,
  type ConsoleRateLimiterOptions,
  type LimiterClock,
} from './console.rate-limiter';
export { AddressNotAllowedError, guardedLookup, nonPublicAddressesOf, systemResolver, type AddressResolver } from './guarded.lookup';
export { listBodyOf, MalformedBodyError, parseListBody, splitListBody, type ParsedList, type S1Record } from './page.parser';
export { loadS1Network, PROXY_REFUSED, s1NetworkEnvShape, TunnelAgent, usesProxy, type S1Network } from './network';
