import { runFetcherProcess } from '@s1c/fetcher-kit';
import { alertsApi } from './alerts.fetcher';

void runFetcherProcess(alertsApi);
