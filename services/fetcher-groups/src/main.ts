import { runFetcherProcess } from '@s1c/fetcher-kit';
import { groupsApi } from './groups.fetcher';

void runFetcherProcess(groupsApi);
