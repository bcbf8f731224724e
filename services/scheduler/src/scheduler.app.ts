import 'reflect-metadata';
import { createLogger, type Logger } from '@s1c/logger';
import { openConnections, startServiceApplication } from '@s1c/runtime';
import type { SchedulerConfig } from './scheduler.config';
import { SchedulerModule, SchedulerService } from './scheduler.module';
import type { SchedulerStateView } from './scheduler.state';

export interface SchedulerRuntime {
  /** Reads what S1C_EVENTS holds so far, then drives every source once (what each background tick does, after the read). */
  tick(): Promise<void>;
  /** The folded log, read-only. */
  readonly state: SchedulerStateView;
  /** Stops the loops, lets the current step finish, and closes every connection. */
  close(): Promise<void>;
}

export interface SchedulerOptions {
  readonly logger?: Logger;
  /** The time the scheduler decides with (plans, dispatches, stall timeouts). */
  readonly clock?: () => Date;
  /**
   * Run the tick loop (default true). Tests turn it off and call {@link SchedulerRuntime.tick}
   * with a manual clock. The events are read in the background either way.
   */
  readonly background?: boolean;
}

/** Starts the scheduler as a Nest application on the shared runtime (see {@link SchedulerService}). */
export async function startScheduler(config: SchedulerConfig, options: SchedulerOptions = {}): Promise<SchedulerRuntime> {
  const logger = options.logger ?? createLogger({ name: 'scheduler', level: config.LOG_LEVEL });
  const connections = await openConnections(config, { name: 'scheduler', logger });
  const { app, close } = await startServiceApplication(
    SchedulerModule.register(
      { config, logger, connections, ...(options.clock ? { clock: options.clock } : {}), metrics: { port: config.S1C_METRICS_PORT, host: config.S1C_METRICS_HOST, consumers: [] } },
      { background: options.background ?? true },
    ),
    { logger, connections },
  );
  const service = app.get(SchedulerService);
  return { tick: () => service.tick(), state: service.state, close };
}
