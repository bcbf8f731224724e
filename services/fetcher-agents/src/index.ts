export { agentsApi } from './agents.fetcher';
