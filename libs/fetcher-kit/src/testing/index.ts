export { eventsOf, eventually, SIM_START, startFetcherFixture, type FetcherFixture, type FetcherFixtureOptions, type RawRecordSeen, type SimRecord } from './fetcher.fixture';
export { startFetcherServiceUnderTest, type FetcherServiceUnderTest } from './fetcher.service.fixture';
export { countingStore, type StoreTraffic } from './counting.store';
