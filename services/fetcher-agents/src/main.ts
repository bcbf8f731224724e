import { runFetcherProcess } from '@s1c/fetcher-kit';
import { agentsApi } from './agents.fetcher';

void runFetcherProcess(agentsApi);
