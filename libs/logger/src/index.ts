export { createLogger, NestLogger, type Logger, type LoggerOptions } from './logger';
export { redactDeep, REDACTED, registerSecret, scrubString } from './redaction';
