import { runFetcherProcess } from '@s1c/fetcher-kit';
import { threatsApi } from './threats.fetcher';

void runFetcherProcess(threatsApi);
