import { describeCrashScenario } from './faults.scenario.harness';

/**
 * Issue 8, fault tolerance (1): 100,000 activities backfilled while every service is killed once,
 * nats-server is killed and restarted and FerretDB is down for 20 s (faults.scenario.harness.ts);
 * one process per service. S1C_FAULT_SEED repeats a run; S1C_FAULTS=<name>,… runs only some faults.
 */
describeCrashScenario({ name: 'faults.crash', records: 100_000 });
