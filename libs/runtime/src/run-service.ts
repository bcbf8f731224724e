import { ConfigError } from '@s1c/config';
import { createLogger, scrubString, type Logger } from '@s1c/logger';

/** How long a stop may take after the first SIGTERM/SIGINT when `S1C_SHUTDOWN_DEADLINE` is not set. */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 8_000;

/**
 * A signal this soon after the first is the same request delivered twice, not a second one: a
 * terminal's Ctrl-C reaches the whole process group, and npm forwards it to its child again.
 */
export const REPEATED_SIGNAL_MS = 1_000;

/** Exit codes of a service process. */
export const EXIT = {
  /** Stopped on a signal, and close() finished. */
  stopped: 0,
  /** Did not start, close() failed, the shutdown deadline passed, or a second signal came. */
  failed: 1,
  /** The configuration is unusable (the message on stderr names every problem). */
  config: 2,
} as const;

/** What a started service hands back: how to stop it. */
export interface ServiceRuntime {
  /**
   * Stops taking work, lets what is under way finish or hands it back, and closes every
   * connection. May take at most the shutdown deadline; what is still running then is cut off
   * (unacknowledged JetStream messages are redelivered to another process).
   */
  close(): Promise<void>;
  /** What the service is still doing, logged when the shutdown deadline passes (optional). */
  pendingWork?(): unknown;
}

/** The settings every service's configuration carries (libs/config `commonEnvShape`). */
export interface ServiceConfig {
  readonly LOG_LEVEL?: string;
  /** `S1C_SHUTDOWN_DEADLINE` in milliseconds. */
  readonly S1C_SHUTDOWN_DEADLINE?: number;
}

export interface ServiceContext {
  readonly logger: Logger;
}

export interface RunServiceOptions<C extends ServiceConfig, R extends ServiceRuntime> {
  /** The service's name: the logger's name and the prefix of messages on stderr. */
  readonly name: string;
  /** Reads the environment; a {@link ConfigError} exits with code 2. */
  readonly loadConfig: () => C;
  /** Starts the service; a rejection exits with code 1 (or 2, see `startConfigError`). */
  readonly start: (config: C, context: ServiceContext) => Promise<R>;
  /** Called once the service runs (e.g. to print where it listens); not called when a signal came during start. */
  readonly started?: (runtime: R, context: ServiceContext) => void;
  /**
   * Says whether an error of `start` is a configuration problem found only then (a malformed key,
   * say): returns the message to print on stderr (exit 2), or undefined for an ordinary failure.
   */
  readonly startConfigError?: (error: unknown) => string | undefined;
  /** Overrides the configuration's `S1C_SHUTDOWN_DEADLINE` (tests). */
  readonly shutdownDeadlineMs?: number;
}

/**
 * The whole life of a service process, the same for every service:
 * - the configuration is read; a {@link ConfigError} prints its problems on stderr and exits 2;
 * - the service starts; a failure is logged (fatal) and exits 1;
 * - the first SIGTERM or SIGINT (also during start) logs, calls `close()` and exits 0 when it
 *   resolves, 1 when it rejects;
 * - if `close()` has not settled within the shutdown deadline (`S1C_SHUTDOWN_DEADLINE`, default
 *   8 s), what was still pending is logged and the process exits 1; it exits 1 as well if
 *   `close()` waits on something that can no longer happen (nothing is left in the event loop);
 * - a second signal exits 1 at once (one within {@link REPEATED_SIGNAL_MS} of the first is taken
 *   for the same one delivered twice, and ignored).
 * Nothing is acknowledged on the way out: work cut off by the deadline stays unacknowledged and
 * JetStream delivers it again, to this service's next process or to another replica.
 */
export async function runService<C extends ServiceConfig, R extends ServiceRuntime>(options: RunServiceOptions<C, R>): Promise<void> {
  const { name } = options;
  let config: C;
  try {
    config = options.loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
      return exit(EXIT.config);
    }
    process.stderr.write(`${name}: could not read the configuration: ${scrubString(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    return exit(EXIT.failed);
  }
  const logger = createLogger({ name, level: config.LOG_LEVEL ?? 'info' });
  const context: ServiceContext = { logger };
  const deadlineMs = options.shutdownDeadlineMs ?? config.S1C_SHUTDOWN_DEADLINE ?? DEFAULT_SHUTDOWN_DEADLINE_MS;

  let runtime: R | undefined;
  let stopping: { signal: string; since: number } | undefined;

  const pending = () => {
    const resources: Record<string, number> = {};
    for (const resource of process.getActiveResourcesInfo()) resources[resource] = (resources[resource] ?? 0) + 1;
    let work: unknown;
    try {
      work = runtime?.pendingWork?.();
    } catch (error) {
      work = `pendingWork() failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    return { phase: runtime ? 'closing' : 'starting', ...(work !== undefined ? { work } : {}), activeResources: resources };
  };

  const close = (service: R) => {
    // A close() that throws before returning its promise is a failed close like any other.
    Promise.resolve()
      .then(() => service.close())
      .then(
        () => {
          logger.info({ elapsedMs: Date.now() - stopping!.since }, `${name} stopped`);
          exit(EXIT.stopped);
        },
        (error: unknown) => {
          logger.error({ err: error, elapsedMs: Date.now() - stopping!.since }, `${name} did not stop cleanly`);
          exit(EXIT.failed);
        },
      );
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping && Date.now() - stopping.since < REPEATED_SIGNAL_MS) {
      logger.debug({ signal }, `${name}: signal repeated; already stopping`);
      return;
    }
    if (stopping) {
      logger.warn({ signal, elapsedMs: Date.now() - stopping.since, pending: pending() }, `${name}: second signal, exiting now; work under way is left for redelivery`);
      exit(EXIT.failed);
      return;
    }
    stopping = { signal, since: Date.now() };
    logger.info({ signal, deadlineMs }, `${name} stopping`);
    // Unref'd: the deadline must not be what keeps a process alive whose close() is done.
    setTimeout(() => {
      logger.error(
        { deadlineMs, pending: pending() },
        `${name} did not stop within the shutdown deadline; exiting, work under way is left for redelivery`,
      );
      exit(EXIT.failed);
    }, deadlineMs).unref();
    if (runtime) close(runtime);
    // Otherwise start() is still running: close() follows as soon as it returns.
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // With the deadline unref'd, a close() waiting on a promise nothing will settle would end the
  // process with code 0 when the event loop runs dry; that is a failed stop.
  process.on('beforeExit', () => {
    if (!stopping) return;
    logger.error({ pending: pending() }, `${name} stopped waiting: close() did not finish and nothing is left to finish it`);
    exit(EXIT.failed);
  });

  try {
    runtime = await options.start(config, context);
  } catch (error) {
    const problem = options.startConfigError?.(error);
    if (problem !== undefined) {
      process.stderr.write(`${name}: ${problem}\n`);
      return exit(EXIT.config);
    }
    logger.fatal({ err: error }, `${name} failed to start`);
    return exit(EXIT.failed);
  }
  if (stopping) {
    close(runtime);
    return;
  }
  options.started?.(runtime, context);
}

let exiting = false;

/** Exits once; pino flushes its buffered lines on exit. */
function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  process.exit(code);
}
