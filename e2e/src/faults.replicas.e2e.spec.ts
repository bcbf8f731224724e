import { expect } from 'vitest';
import { describeCrashScenario } from './faults.scenario.harness';
import type { Json } from './system.harness';

/**
 * Issue 8, fault tolerance (2): the crash scenario (faults.scenario.harness.ts) with two schedulers
 * and two of each fetcher on the same durable consumers; one replica of each is the one killed.
 * On top of the exact data stream: every record was fetched into S1C_RAW once, every job was
 * dispatched once, and each job's recorded progress only ever grew.
 */
describeCrashScenario({
  name: 'faults.replicas',
  records: 100_000,
  replicas: { scheduler: 2, 'fetcher-activities': 2, 'fetcher-agents': 2, 'fetcher-threats': 2 },
  requireOutageHealthEvent: false,
  async extraChecks({ system, sourceId, events }) {
    const raw = await system.rawRecords(sourceId, 'activities');
    const fetchedTwice = [...raw.entries()].filter(([, n]) => n > 1);
    expect(fetchedTwice.slice(0, 5), `${fetchedTwice.length} records fetched twice into S1C_RAW`).toEqual([]);

    const dispatched = events.filter((e) => e.type === 'JobDispatched').map((e) => e.data.jobId as string);
    expect(dispatched.length - new Set(dispatched).size, 'jobs dispatched twice').toBe(0);

    const pagesByJob = new Map<string, number[]>();
    for (const e of events.filter((x: Json) => x.type === 'PageCollected')) {
      const pages = pagesByJob.get(e.data.jobId) ?? [];
      pages.push(e.data.progress.pages as number);
      pagesByJob.set(e.data.jobId, pages);
    }
    for (const [jobId, pages] of pagesByJob) {
      expect(pages.every((p, i) => i === 0 || p > pages[i - 1]!), `${jobId}: pages ${pages.join(',')}`).toBe(true);
    }
  },
});
