import { runFetcherProcess } from '@s1c/fetcher-kit';
import { activitiesApi } from './activities.fetcher';

void runFetcherProcess(activitiesApi);
