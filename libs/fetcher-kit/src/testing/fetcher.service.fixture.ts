import type { JobCompleted } from '@s1c/domain';
import type { ApiSpec } from '../api-spec';
import { startFetcher } from '../fetcher.app';
import { eventsOf, eventually, startFetcherFixture, type FetcherFixture, type FetcherFixtureOptions } from './fetcher.fixture';

/** A fetcher service running on a {@link FetcherFixture}, with one planned source of its API: what each fetcher's own spec starts from. */
export interface FetcherServiceUnderTest {
  readonly f: FetcherFixture;
  readonly sourceId: string;
  /** Waits for at least `count` JobCompleted events in the source's collection and returns them all. */
  completedJobs(count: number): Promise<JobCompleted[]>;
  close(): Promise<void>;
}

/** Starts the fixture, the fetcher service of `spec`, and a source of that API with its collection planned. */
export async function startFetcherServiceUnderTest(spec: ApiSpec, options: FetcherFixtureOptions = {}): Promise<FetcherServiceUnderTest> {
  const f = await startFetcherFixture(options);
  const fetcher = await startFetcher(spec, f.config(), { logger: f.logger, clock: f.clock });
  const sourceId = await f.createSource([spec.api]);
  await f.plan(sourceId, spec.api);
  return {
    f,
    sourceId,
    completedJobs: (count) =>
      eventually(async () => {
        const done = eventsOf(await f.collectionEvents(sourceId, spec.api), 'JobCompleted');
        return done.length >= count && done;
      }, 20_000, `${count} completed jobs`),
    async close() {
      await fetcher.close();
      await f.close();
    },
  };
}
