export { alertsApi } from './alerts.fetcher';
