import { defineApiSpec, type ApiSpec } from '@s1c/fetcher-kit';

/**
 * Cloud-detection alerts (`/cloud-detection/alerts`, opt-in): incremental on `createdAt`, which
 * SentinelOne applies to `alertInfo.createdAt` and sorts as `alertInfoCreatedAt` (an alert's id
 * and dates are inside `alertInfo`); one record per alert, as Elastic's and Sentinel's collectors
 * read them (docs/COLLECTION.md "Alerts and groups").
 */
export const alertsApi: ApiSpec = defineApiSpec({
  api: 'alerts',
  timeField: 'createdAt',
  sortBy: 'alertInfoCreatedAt',
  timestampPath: ['alertInfo', 'createdAt'],
  idPath: ['alertInfo', 'alertId'],
  versioned: false,
});
