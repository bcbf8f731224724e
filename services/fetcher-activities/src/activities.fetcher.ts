import { defineApiSpec, type ApiSpec } from '@s1c/fetcher-kit';

/**
 * Activities never change: collected incrementally on `createdAt`, one record per activity id.
 */
export const activitiesApi: ApiSpec = defineApiSpec({ api: 'activities', timeField: 'createdAt', timestampPath: ['createdAt'], versioned: false });
