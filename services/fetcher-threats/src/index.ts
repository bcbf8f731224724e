export { threatsApi } from './threats.fetcher';
