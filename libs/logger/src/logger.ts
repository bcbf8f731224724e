import type { LoggerService } from '@nestjs/common';
import { format } from 'node:util';
import pino, { type DestinationStream, type Logger } from 'pino';
import { redactDeep, scrubString } from './redaction';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** The service name, on every line. */
  readonly name: string;
  readonly level?: string;
  /** Where lines go; stdout when omitted (tests pass a stream to capture them). */
  readonly destination?: DestinationStream;
}

/**
 * A pino logger that redacts secrets itself: every argument (merging objects, messages, format
 * arguments, errors) and every child binding is scrubbed before it is written, so no call site
 * has to remember to.
 */
export function createLogger(options: LoggerOptions): Logger {
  const logger = pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors are already turned into redacted plain objects; pino's serializer would relabel them.
      serializers: { err: (value: unknown) => value },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => redactDeep(bindings) as Record<string, unknown>,
      },
      hooks: {
        logMethod(args, method) {
          method.apply(this, redactArguments(args) as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
  // pino builds children with Object.create(parent), so this own property reaches every
  // descendant; their bindings bypass logMethod and need redacting here.
  const child = Object.getPrototypeOf(logger).child as (this: Logger, bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => Logger;
  Object.defineProperty(logger, 'child', {
    value(this: Logger, bindings: pino.Bindings, childOptions?: pino.ChildLoggerOptions) {
      return child.call(this, redactDeep(bindings) as pino.Bindings, childOptions);
    },
  });
  return logger;
}

/** Redacts the merging object and renders the message with its format arguments before scrubbing it. */
function redactArguments(args: unknown[]): unknown[] {
  const [first, ...rest] = args;
  if (typeof first === 'string') return [scrubString(format(first, ...rest))];
  const merged = redactDeep(first);
  if (rest.length === 0) return [merged];
  const [message, ...formatArgs] = rest;
  return [merged, scrubString(typeof message === 'string' ? format(message, ...formatArgs) : format(message, ...formatArgs))];
}

/** Adapts a pino logger to NestJS, so framework messages get the same fields and redaction. */
export class NestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: pino.Level, message: unknown, params: unknown[]): void {
    // Nest passes the context (a class name) last, and a stack trace before it for errors.
    const context = typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    if (typeof params[0] === 'string' && level === 'error') fields.stack = params[0];
    if (message instanceof Error) this.logger[level]({ ...fields, err: message }, message.message);
    else if (typeof message === 'object' && message !== null) this.logger[level]({ ...fields, ...message });
    else this.logger[level](fields, String(message));
  }
}
