/**
 * A service for run-service.unit.spec.ts, run as its own process: FIXTURE picks how its start and
 * its close() behave; S1C_SHUTDOWN_DEADLINE and LOG_LEVEL are read as every service reads them.
 */
import { commonEnvShape, ConfigError, loadConfig } from '@s1c/config';
import { setTimeout as sleep } from 'node:timers/promises';
import { runService, type ServiceRuntime } from '../run-service';

class KeyFormatError extends Error {}

const scenario = process.env.FIXTURE ?? 'clean';
const say = (line: string) => process.stdout.write(`fixture: ${line}\n`);
const forever = () => new Promise<never>(() => undefined);

void runService({
  name: 'fixture',
  loadConfig: () => {
    if (scenario === 'bad-config') throw new ConfigError(['S1C_SOMETHING: is required', 'S1C_OTHER: must be a number']);
    return loadConfig({ LOG_LEVEL: commonEnvShape.LOG_LEVEL, S1C_SHUTDOWN_DEADLINE: commonEnvShape.S1C_SHUTDOWN_DEADLINE });
  },
  startConfigError: (error) => (error instanceof KeyFormatError ? `S1C_SECRET_KEY: ${error.message}` : undefined),
  start: async (): Promise<ServiceRuntime> => {
    say('starting');
    if (scenario === 'start-fails') throw new Error('cannot reach the store');
    if (scenario === 'start-config') throw new KeyFormatError('must be 32 bytes');
    // What a service's connections do: keep the event loop alive until close() ends them.
    const connection = setInterval(() => undefined, 1_000);
    if (scenario === 'slow-start') await sleep(1_500);
    if (scenario === 'start-hangs') await forever();
    return {
      async close() {
        say('closing');
        if (scenario === 'close-hangs') await forever();
        clearInterval(connection);
        if (scenario === 'close-stalls') await forever();
        if (scenario === 'close-fails') throw new Error('the drain failed');
        await sleep(100);
        say('closed');
      },
      pendingWork: () => ({ jobs: ['job-1'] }),
    };
  },
  started: () => say('started'),
});
