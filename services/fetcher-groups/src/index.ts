export { groupsApi } from './groups.fetcher';
