export { activitiesApi } from './activities.fetcher';
