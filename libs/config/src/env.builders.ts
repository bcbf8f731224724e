import { accessSync, constants, statSync } from 'node:fs';
import { parseDurationMs } from '@s1c/domain';
import { z } from 'zod';

export { parseDurationMs };

/** Schema builders for environment variables: every value arrives as a string. */
export const env = {
  /** `true`/`false` (also 1/0, yes/no, on/off), parsed explicitly: `z.coerce.boolean()` would read "false" as true. */
  boolean: (defaultValue: boolean) => z.stringbool().default(defaultValue),
  /** A duration with a unit (`90s`, `5m`, `24h`), as milliseconds; with `zero`, also `0` (none). */
  durationMs: (defaultValue: string, options: { zero?: boolean } = {}) =>
    z
      .string()
      .default(defaultValue)
      .transform((value, ctx) => {
        const ms = options.zero && value.trim() === '0' ? 0 : parseDurationMs(value);
        if (ms === undefined || ms < 0 || (ms === 0 && !options.zero)) {
          const kind = options.zero ? 'a duration such as 1500ms, 90s or 5m, or 0' : 'a positive duration such as 1500ms, 90s, 5m or 24h';
          ctx.addIssue({ code: 'custom', message: `must be ${kind} (got "${value}")` });
          return z.NEVER;
        }
        return ms;
      }),
  /** A URL whose scheme is one of `protocols` (e.g. `nats:`, `mongodb:`). */
  url: (protocols: readonly string[], defaultValue?: string) => {
    const base = z.string().refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
    );
    return defaultValue === undefined ? base : base.default(defaultValue);
  },
  /**
   * One URL or a comma-separated list of them (the servers of a cluster), each with a scheme of
   * `protocols`; kept as written.
   */
  urlList: (protocols: readonly string[], defaultValue: string) =>
    z
      .string()
      .refine(
        (value) =>
          value.split(',').every((part) => {
            try {
              return protocols.includes(new URL(part.trim()).protocol);
            } catch {
              return false;
            }
          }),
        { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}, or a comma-separated list of them` },
      )
      .default(defaultValue),
  /** A path to a file this process can read (checked at start-up, so a typo is named at once). */
  file: () =>
    z.string().refine(
      (path) => {
        try {
          accessSync(path, constants.R_OK);
          return statSync(path).isFile();
        } catch {
          return false;
        }
      },
      { message: 'must name a readable file' },
    ),
  port: (defaultValue: number) => z.coerce.number().int().min(0).max(65_535).default(defaultValue),
  positiveInt: (defaultValue: number) => z.coerce.number().int().positive().default(defaultValue),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};
