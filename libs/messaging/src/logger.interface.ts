/**
 * The logging surface this package needs: structured fields first, message second, as pino
 * does. A pino logger satisfies it as is.
 */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

/** A logger that discards everything; the default when none is given. */
export const silentLogger: LoggerLike = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  debug: () => undefined,
};
