import { defineApiSpec, type ApiSpec } from '@s1c/fetcher-kit';

/**
 * Threats change (status, verdict, mitigation): collected on `updatedAt`, which SentinelOne applies to
 * `threatInfo.updatedAt` (v2.1 threats have no top-level dates); each version is its own record.
 */
export const threatsApi: ApiSpec = defineApiSpec({ api: 'threats', timeField: 'updatedAt', timestampPath: ['threatInfo', 'updatedAt'], versioned: true });
