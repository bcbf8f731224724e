import { startSimulator, type RunningSimulator } from '@s1c/s1-simulator';
import { startNatsCluster, waitForJetStream, type RunningNatsCluster } from '@s1c/test-harness';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { allResolved, consoleActivityIds, createActivitiesSource, jobLog, reportProgress, sleep, sourceState } from './faults.harness';
import { FAULT_SETTINGS } from './faults.scenario.harness';
import { FAULT_SERVICES, eventually, SystemUnderTest } from './system.harness';

/**
 * Issue 16: the system on a three-node JetStream cluster (every stream with three replicas, two
 * of every worker), with nodes lost: the leader of S1C_RAW, then the meta leader, each killed
 * (SIGKILL) mid-backfill and back 20 s later; a rolling restart of the three nodes during live
 * polling; one node lost for good. After each, every console record is in S1C_DATA exactly once.
 * MongoDB stays one FerretDB (it has no replica sets; docs/OPERATIONS.md).
 */
const RECORDS = 100_000;
const TOKEN = 'tok-cluster-e2e';
const tag = 'faults.cluster';

let cluster: RunningNatsCluster;
let simulator: RunningSimulator;
let system: SystemUnderTest;
let sourceId: string;

beforeAll(async () => {
  cluster = await startNatsCluster();
  simulator = await startSimulator({ accounts: 1, sitesPerAccount: 1, historyHours: 23, activities: RECORDS, agents: 10, threats: 10 });
  system = await SystemUnderTest.start(
    { ...FAULT_SETTINGS, S1C_STREAM_REPLICAS: '3' },
    {
      natsUrl: cluster.url,
      services: FAULT_SERVICES,
      replicas: { scheduler: 2, 'fetcher-activities': 2, 'fetcher-agents': 2, 'fetcher-threats': 2, enricher: 2 },
      supervise: true,
    },
  );
}, 180_000);

afterAll(async () => {
  await system?.close();
  await simulator?.close();
  await cluster?.stop();
});

const started = Date.now();
const at = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const subject = () => `s1c.data.activities.${sourceId}`;

/** Every activity of the console is in S1C_DATA once, and nothing else of the source is. */
async function expectEveryRecordOnce(): Promise<void> {
  const expected = await consoleActivityIds(simulator, TOKEN);
  await eventually(
    `all ${expected.length} records in the data stream`,
    async () => {
      const info = await (await system.nc.jetstreamManager()).streams.info('S1C_DATA', { subjects_filter: subject() });
      return (info.state.subjects?.[subject()] ?? 0) >= expected.length ? true : undefined;
    },
    180_000,
  ).catch(async (error: unknown) => {
    throw new Error(`${String(error)}\n${await clusterState()}`);
  });
  const data = await system.recordIds('S1C_DATA', subject());
  const duplicates = [...data.entries()].filter(([, n]) => n > 1);
  expect(duplicates.slice(0, 5), `${duplicates.length} duplicated record ids`).toEqual([]);
  const missing = expected.map((id) => `${sourceId}:activities:${id}`).filter((id) => !data.has(id));
  expect(missing.slice(0, 5), `${missing.length} records missing`).toEqual([]);
  expect(data.size).toBe(expected.length);
}

/** What the cluster says of the raw stream, the enricher's consumer and the data stream: for a failed wait. */
async function clusterState(): Promise<string> {
  try {
    const jsm = await system.nc.jetstreamManager();
    const raw = await jsm.streams.info('S1C_RAW');
    const data = await jsm.streams.info('S1C_DATA', { subjects_filter: subject() });
    const consumer = await jsm.consumers.info('S1C_RAW', 'enricher').catch((error: unknown) => String(error));
    return JSON.stringify({
      raw: { state: raw.state, cluster: raw.cluster },
      data: { records: data.state.subjects?.[subject()] ?? 0, last_seq: data.state.last_seq, cluster: data.cluster },
      enricher: typeof consumer === 'string' ? consumer : { delivered: consumer.delivered, ack_floor: consumer.ack_floor, num_pending: consumer.num_pending, num_ack_pending: consumer.num_ack_pending, num_waiting: consumer.num_waiting, cluster: consumer.cluster },
    });
  } catch (error) {
    return `cluster state unavailable: ${String(error)}`;
  }
}

/** Waits for `cycles` live polls of the source completed after the stream's version `after`. */
async function liveCycles(cycles: number, after: number): Promise<void> {
  await eventually(`${cycles} live cycles`, async () => ((await system.laneFinished(sourceId, 'activities', 'live', cycles, after)) ? true : undefined), 120_000).catch(
    async (error: unknown) => {
      throw new Error(`${String(error)}\n${await liveState(after)}`);
    },
  );
}

/** The collection's events since `after`, the jobs' stream and consumer, and the services' last warnings and errors: for a failed wait. */
async function liveState(after: number): Promise<string> {
  const lines: string[] = [];
  try {
    const events = (await system.stream(`collection-${sourceId}-activities`)).filter((e) => e.version > after);
    lines.push(`collection events since version ${after}: ${JSON.stringify(events.map((e) => ({ v: e.version, type: e.type, lane: e.data?.lane, at: e.time })))}`);
    const jsm = await system.nc.jetstreamManager();
    const jobs = await jsm.streams.info('S1C_JOBS');
    const consumer = await jsm.consumers.info('S1C_JOBS', 'fetcher-activities').catch((e: unknown) => String(e));
    lines.push(`S1C_JOBS: ${JSON.stringify({ state: jobs.state, cluster: jobs.cluster })}; fetcher-activities: ${typeof consumer === 'string' ? consumer : JSON.stringify({ delivered: consumer.delivered, ack_floor: consumer.ack_floor, num_pending: consumer.num_pending, num_ack_pending: consumer.num_ack_pending, num_waiting: consumer.num_waiting, cluster: consumer.cluster })}`);
    const relayed = await jsm.streams.info('S1C_EVENTS');
    lines.push(`S1C_EVENTS: ${JSON.stringify({ last_seq: relayed.state.last_seq, cluster: relayed.cluster })}`);
  } catch (error) {
    lines.push(`state unavailable: ${String(error)}`);
  }
  for (const instance of system.instances()) {
    const loud = system.outputOf(instance).split('\n').filter((line) => /"level":"(warn|error|fatal)"/.test(line));
    if (loud.length > 0) lines.push(`${instance}, last warnings and errors:\n  ${loud.slice(-8).map((l) => l.slice(0, 400)).join('\n  ')}`);
  }
  return lines.join('\n');
}

async function collectionVersion(): Promise<number> {
  return system.streamVersion(`collection-${sourceId}-activities`);
}

describe('on a three-node JetStream cluster: R3 streams, two of every worker', () => {
  it('declares every stream with three replicas', async () => {
    const jsm = await system.nc.jetstreamManager();
    for (const name of ['S1C_EVENTS', 'S1C_JOBS', 'S1C_RAW', 'S1C_DATA', 'S1C_DLQ']) {
      const info = await jsm.streams.info(name);
      expect({ name, replicas: info.config.num_replicas, peers: (info.cluster?.replicas?.length ?? 0) + 1 }).toEqual({ name, replicas: 3, peers: 3 });
    }
  });

  it(`a ${RECORDS.toLocaleString('en')}-record backfill while the leader of S1C_RAW, then the meta leader, is killed and back 20 s later: every record once, Collecting, outages resolved`, async () => {
    simulator.admin.addToken({ token: TOKEN, label: 'cluster', accounts: [0] });
    sourceId = await createActivitiesSource(system, simulator, 'Cluster test', TOKEN);
    const faults: string[] = [];
    const progress = setInterval(() => void reportProgress(system, sourceId, at()), 10_000);
    onTestFinished(() => clearInterval(progress));
    await eventually('the first backfill pages', async () =>
      (await system.stream(`collection-${sourceId}-activities`)).filter((e) => e.type === 'PageCollected').length >= 3 ? true : undefined,
    );
    const jsm = await system.nc.jetstreamManager();

    const rawLeader = cluster.names.indexOf((await jsm.streams.info('S1C_RAW')).cluster?.leader ?? '');
    expect(rawLeader, 'the leader of S1C_RAW').toBeGreaterThanOrEqual(0);
    faults.push(`${at()} kill -9 ${cluster.names[rawLeader]} (leader of S1C_RAW)`);
    await cluster.nodes[rawLeader]!.kill();
    await sleep(20_000);
    await cluster.nodes[rawLeader]!.restart();
    faults.push(`${at()}   back`);
    await waitForJetStream(cluster.url, 60_000, 3);

    await sleep(5_000);
    const metaLeader = await cluster.metaLeader();
    faults.push(`${at()} kill -9 ${cluster.names[metaLeader]} (meta leader)`);
    await cluster.nodes[metaLeader]!.kill();
    await sleep(20_000);
    await cluster.nodes[metaLeader]!.restart();
    faults.push(`${at()}   back`);

    const backfillDone = async () =>
      (await system.stream(`collection-${sourceId}-activities`)).some((e) => e.type === 'JobCompleted' && e.data.lane === 'backfill' && e.data.finished);
    const unfinishedAtLastFault = !(await backfillDone());
    console.log(`${tag}: ${faults.join('\n  ')}`);
    await eventually('the backfill to finish', async () => ((await backfillDone()) ? true : undefined), 300_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${faults.join('\n')}\n${jobLog(await system.stream(`collection-${sourceId}-activities`)).join('\n')}`);
    });
    await expectEveryRecordOnce();
    // The test's premise: both nodes were lost while the backfill ran.
    expect(unfinishedAtLastFault, faults.join('\n')).toBe(true);
    await eventually('the source to be Collecting', async () => ((await sourceState(system, sourceId)) === 'Collecting' ? true : undefined), 60_000);
    await allResolved(system, sourceId);
  }, 600_000);

  it('goes on polling through a rolling restart of the three nodes, one at a time: every new record once', async () => {
    for (const [i, node] of cluster.nodes.entries()) {
      simulator.admin.createRecords('activities', 30);
      const before = await collectionVersion();
      console.log(`${tag}: ${at()} restarting ${cluster.names[i]}`);
      await node.restart();
      await waitForJetStream(cluster.url, 60_000, 3);
      await liveCycles(1, before);
    }
    simulator.admin.createRecords('activities', 30);
    await liveCycles(2, await collectionVersion());
    await expectEveryRecordOnce();
  }, 600_000);

  it('goes on with two nodes when one is lost for good', async () => {
    const lost = await cluster.metaLeader();
    console.log(`${tag}: ${at()} kill -9 ${cluster.names[lost]}, not restarted`);
    await cluster.nodes[lost]!.kill();
    for (const round of [1, 2]) {
      simulator.admin.createRecords('activities', 30);
      await liveCycles(2, await collectionVersion());
      console.log(`${tag}: ${at()} two live cycles (round ${round}) with ${cluster.names[lost]} lost`);
    }
    await expectEveryRecordOnce();
    expect(await sourceState(system, sourceId)).toBe('Collecting');
  }, 600_000);

  it('leaves every service running, none restarted by the supervisor', () => {
    const exits = system.unexpectedExits();
    expect(exits.map((e) => `${e.instance} ${String(e.exit)} at ${e.at}: ${e.tail.slice(-400)}`)).toEqual([]);
    expect(system.alive().sort()).toEqual([...system.instances()].sort());
  });
});
