import { defineApiSpec, type ApiSpec } from '@s1c/fetcher-kit';

/**
 * The group inventory (`/groups`, opt-in), collected as the agents are: deltas on `updatedAt` (one
 * record per group version) and periodic full snapshots.
 */
export const groupsApi: ApiSpec = defineApiSpec({ api: 'groups', timeField: 'updatedAt', timestampPath: ['updatedAt'], versioned: true });
