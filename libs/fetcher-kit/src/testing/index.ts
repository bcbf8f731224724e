export { eventsOf, eventually, SIM_START, startFetcherFixture, type FetcherFixture, type FetcherFixtureOptions, type RawMessage, type SimRecord } from './fetcher.fixture';
