import { defineApiSpec, type ApiSpec } from '@s1c/fetcher-kit';

/**
 * The agent inventory: deltas on `updatedAt` (one record per agent version) and periodic full snapshots.
 */
export const agentsApi: ApiSpec = defineApiSpec({ api: 'agents', timeField: 'updatedAt', timestampPath: ['updatedAt'], versioned: true });
