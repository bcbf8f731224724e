import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses a duration such as `1500ms`, `90s`, `5m`, `24h` or `7d` into milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
}

/** Schema builders for environment variables: every value arrives as a string. */
export const env = {
  /** `true`/`false` (also 1/0, yes/no, on/off), parsed explicitly: `z.coerce.boolean()` would read "false" as true. */
  boolean: (defaultValue: boolean) => z.stringbool().default(defaultValue),
  /** A duration with a unit (`90s`, `5m`, `24h`), as milliseconds. */
  durationMs: (defaultValue: string) =>
    z
      .string()
      .default(defaultValue)
      .transform((value, ctx) => {
        const ms = parseDurationMs(value);
        if (ms === undefined || ms <= 0) {
          ctx.addIssue({ code: 'custom', message: `must be a positive duration such as 1500ms, 90s, 5m or 24h (got "${value}")` });
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
  port: (defaultValue: number) => z.coerce.number().int().min(0).max(65_535).default(defaultValue),
  positiveInt: (defaultValue: number) => z.coerce.number().int().positive().default(defaultValue),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Variables every service reads. */
export const commonEnvShape = {
  NATS_URL: env.url(['nats:', 'tls:', 'ws:', 'wss:'], 'nats://127.0.0.1:4222'),
  MONGO_URL: env.url(['mongodb:', 'mongodb+srv:'], 'mongodb://127.0.0.1:27017/'),
  S1C_DB_NAME: z
    .string()
    .regex(/^[A-Za-z]{1,63}$/, 'must be 1-63 latin letters (FerretDB accepts nothing else)')
    .default('sonecollector'),
  LOG_LEVEL: env.logLevel(),
};
