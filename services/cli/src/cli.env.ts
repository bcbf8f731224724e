/** Where s1c connects and how it authenticates, from the environment and global flags. */
export interface CliSettings {
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  /** A NATS `.creds` file (JWT + nkey seed). */
  natsCreds?: string;
  /** TLS to NATS: a CA to verify the server with; a client certificate and key when it verifies clients. */
  natsTls?: { caFile?: string; certFile?: string; keyFile?: string };
  healthUrl: string;
  apiToken?: string;
  /** How long one request may take. */
  timeoutMs: number;
}

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_HEALTH_URL = 'http://127.0.0.1:8080';
export const DEFAULT_TIMEOUT_MS = 15_000;

/** The global flags that override the environment. */
export interface GlobalFlags {
  natsUrl?: string;
  creds?: string;
  healthUrl?: string;
  timeout?: number;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value);

/**
 * Reads the settings: flags first, then `NATS_URL`, `NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`,
 * `NATS_CREDS`, `NATS_TLS_CA_FILE`/`NATS_TLS_CERT_FILE`/`NATS_TLS_KEY_FILE`, `S1C_HEALTH_URL`,
 * `S1C_API_TOKEN`.
 */
export function settingsFrom(env: NodeJS.ProcessEnv, flags: GlobalFlags): CliSettings {
  const settings: CliSettings = {
    natsUrl: nonEmpty(flags.natsUrl) ?? nonEmpty(env.NATS_URL) ?? DEFAULT_NATS_URL,
    healthUrl: (nonEmpty(flags.healthUrl) ?? nonEmpty(env.S1C_HEALTH_URL) ?? DEFAULT_HEALTH_URL).replace(/\/+$/, ''),
    timeoutMs: flags.timeout ?? DEFAULT_TIMEOUT_MS,
  };
  const user = nonEmpty(env.NATS_USER);
  const password = nonEmpty(env.NATS_PASSWORD);
  const token = nonEmpty(env.NATS_TOKEN);
  const creds = nonEmpty(flags.creds) ?? nonEmpty(env.NATS_CREDS);
  const apiToken = nonEmpty(env.S1C_API_TOKEN);
  if (user) settings.natsUser = user;
  if (password) settings.natsPassword = password;
  if (token) settings.natsToken = token;
  if (creds) settings.natsCreds = creds;
  if (apiToken) settings.apiToken = apiToken;
  const tls = {
    ...(nonEmpty(env.NATS_TLS_CA_FILE) ? { caFile: env.NATS_TLS_CA_FILE! } : {}),
    ...(nonEmpty(env.NATS_TLS_CERT_FILE) ? { certFile: env.NATS_TLS_CERT_FILE! } : {}),
    ...(nonEmpty(env.NATS_TLS_KEY_FILE) ? { keyFile: env.NATS_TLS_KEY_FILE! } : {}),
  };
  if (Object.keys(tls).length > 0) settings.natsTls = tls;
  return settings;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `1500ms`, `20s`, `5m`, `1h` (a bare number is seconds); undefined when it is not one. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNITS[match[2] ?? 's']!;
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : undefined;
}
