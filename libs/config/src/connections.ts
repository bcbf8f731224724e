import { readFileSync } from 'node:fs';
import { registerSecret } from '@s1c/logger';
import { z } from 'zod';
import { env } from './env.builders';
import { ConfigError } from './config.error';

const NATS_USER = /^[A-Za-z0-9_-]{1,64}$/;

/** How to reach NATS: the URL, the service's own credentials and TLS files. */
export const natsEnvShape = {
  /** One server, or the servers of a cluster as a comma-separated list (the client picks one and fails over). */
  NATS_URL: env.urlList(['nats:', 'tls:', 'ws:', 'wss:'], 'nats://127.0.0.1:4222'),
  /** This service's NATS user (infra/nats/nats.conf has one per service). */
  NATS_USER: z.string().regex(NATS_USER, 'must be 1-64 letters, digits, "_" or "-"').optional(),
  NATS_PASSWORD: z.string().optional(),
  /** A file holding the password (a container secret); instead of NATS_PASSWORD. */
  NATS_PASSWORD_FILE: env.file().optional(),
  /** CA bundle to verify the server's certificate with; setting it turns TLS on. */
  NATS_TLS_CA_FILE: env.file().optional(),
  /** Client certificate (PEM) for a server that verifies clients; needs NATS_TLS_KEY_FILE. */
  NATS_TLS_CERT_FILE: env.file().optional(),
  NATS_TLS_KEY_FILE: env.file().optional(),
};

/** How to reach MongoDB: the URL, the services' database user, TLS files (all may also be URL options). */
export const mongoEnvShape = {
  MONGO_URL: env.url(['mongodb:', 'mongodb+srv:'], 'mongodb://127.0.0.1:27017/'),
  /** The services' database user (authenticates against the URL's `authSource`, default `admin`). */
  MONGO_USER: z.string().min(1).optional(),
  MONGO_PASSWORD: z.string().optional(),
  /** A file holding the password (a container secret); instead of MONGO_PASSWORD. */
  MONGO_PASSWORD_FILE: env.file().optional(),
  /** CA bundle to verify the server's certificate with; setting it turns TLS on. */
  MONGO_TLS_CA_FILE: env.file().optional(),
  /** Client certificate and its key in one PEM file, as the MongoDB driver wants them. */
  MONGO_TLS_CERT_KEY_FILE: env.file().optional(),
  /**
   * Write concern of every write: `majority` (default: on a replica set an append is on most
   * members before it counts; on one server, the same as 1) or a number of members.
   */
  S1C_MONGO_WRITE_CONCERN: z.union([z.literal('majority'), z.coerce.number().int().min(0).max(50)]).default('majority'),
  /** Read concern of every read: `majority` (default: only what a majority holds, never rolled back) or `local`. */
  S1C_MONGO_READ_CONCERN: z.enum(['majority', 'local']).default('majority'),
};

type NatsEnv = { [K in keyof typeof natsEnvShape]?: z.infer<(typeof natsEnvShape)[K]> } & { NATS_URL: string };
type MongoEnv = { [K in keyof typeof mongoEnvShape]?: z.infer<(typeof mongoEnvShape)[K]> } & { MONGO_URL: string };

/** The rules that tie connection variables together; `loadConfig` reports them with the rest. */
export function connectionProblems(config: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const set = (name: string) => config[name] !== undefined;
  if (set('NATS_PASSWORD') && set('NATS_PASSWORD_FILE')) problems.push('NATS_PASSWORD_FILE: set either NATS_PASSWORD or NATS_PASSWORD_FILE, not both');
  if ((set('NATS_PASSWORD') || set('NATS_PASSWORD_FILE')) && !set('NATS_USER')) problems.push('NATS_USER: is required when a NATS password is set');
  if (set('NATS_USER') && !set('NATS_PASSWORD') && !set('NATS_PASSWORD_FILE')) problems.push('NATS_PASSWORD: is required when NATS_USER is set (or NATS_PASSWORD_FILE)');
  if (set('MONGO_PASSWORD') && set('MONGO_PASSWORD_FILE')) problems.push('MONGO_PASSWORD_FILE: set either MONGO_PASSWORD or MONGO_PASSWORD_FILE, not both');
  if ((set('MONGO_PASSWORD') || set('MONGO_PASSWORD_FILE')) && !set('MONGO_USER')) problems.push('MONGO_USER: is required when a MongoDB password is set');
  if (set('MONGO_USER') && !set('MONGO_PASSWORD') && !set('MONGO_PASSWORD_FILE')) problems.push('MONGO_PASSWORD: is required when MONGO_USER is set (or MONGO_PASSWORD_FILE)');
  if (set('NATS_TLS_CERT_FILE') !== set('NATS_TLS_KEY_FILE')) {
    problems.push(`${set('NATS_TLS_CERT_FILE') ? 'NATS_TLS_KEY_FILE' : 'NATS_TLS_CERT_FILE'}: a client certificate needs both NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE`);
  }
  return problems;
}

/** What `connectNats` needs, from the environment; the password is registered for log redaction. */
export interface NatsConnectionSettings {
  url: string;
  user?: string;
  pass?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * The NATS connection settings of a parsed configuration: reads NATS_PASSWORD_FILE, turns TLS on
 * when a `tls://` URL or a TLS file asks for it, and registers every secret for redaction.
 */
export function natsConnectionOf(config: NatsEnv): NatsConnectionSettings {
  const settings: NatsConnectionSettings = { url: config.NATS_URL };
  for (const server of config.NATS_URL.split(',')) registerUrlPassword(server.trim());
  if (config.NATS_USER) settings.user = config.NATS_USER;
  const pass = config.NATS_PASSWORD ?? (config.NATS_PASSWORD_FILE ? readSecretFile('NATS_PASSWORD_FILE', config.NATS_PASSWORD_FILE) : undefined);
  if (pass !== undefined) {
    registerSecret(pass);
    settings.pass = pass;
  }
  const tls: NonNullable<NatsConnectionSettings['tls']> = {};
  if (config.NATS_TLS_CA_FILE) tls.caFile = config.NATS_TLS_CA_FILE;
  if (config.NATS_TLS_CERT_FILE) tls.certFile = config.NATS_TLS_CERT_FILE;
  if (config.NATS_TLS_KEY_FILE) tls.keyFile = config.NATS_TLS_KEY_FILE;
  if (Object.keys(tls).length > 0 || config.NATS_URL.split(',').some((server) => server.trim().startsWith('tls:'))) settings.tls = tls;
  return settings;
}

/** What `connectMongo` needs, from the environment; a password in the URL is registered for redaction. */
export interface MongoConnectionSettings {
  url: string;
  /** Write and read concerns of every operation (S1C_MONGO_WRITE_CONCERN, S1C_MONGO_READ_CONCERN). */
  concerns: { write: 'majority' | number; read: 'majority' | 'local' };
  auth?: { username: string; password: string };
  tls?: { caFile?: string; certKeyFile?: string };
}

/** The MongoDB connection settings of a parsed configuration; reads MONGO_PASSWORD_FILE, registers every secret for redaction. */
export function mongoConnectionOf(config: MongoEnv): MongoConnectionSettings {
  registerUrlPassword(config.MONGO_URL);
  const settings: MongoConnectionSettings = {
    url: config.MONGO_URL,
    concerns: { write: config.S1C_MONGO_WRITE_CONCERN ?? 'majority', read: config.S1C_MONGO_READ_CONCERN ?? 'majority' },
  };
  const password = config.MONGO_PASSWORD ?? (config.MONGO_PASSWORD_FILE ? readSecretFile('MONGO_PASSWORD_FILE', config.MONGO_PASSWORD_FILE) : undefined);
  if (config.MONGO_USER && password !== undefined) {
    registerSecret(password);
    settings.auth = { username: config.MONGO_USER, password };
  }
  if (config.MONGO_TLS_CA_FILE || config.MONGO_TLS_CERT_KEY_FILE) {
    settings.tls = {};
    if (config.MONGO_TLS_CA_FILE) settings.tls.caFile = config.MONGO_TLS_CA_FILE;
    if (config.MONGO_TLS_CERT_KEY_FILE) settings.tls.certKeyFile = config.MONGO_TLS_CERT_KEY_FILE;
  }
  return settings;
}

function registerUrlPassword(url: string): void {
  let password = '';
  try {
    password = new URL(url.split(',')[0]!.trim()).password;
  } catch {
    return;
  }
  if (!password) return;
  registerSecret(password);
  registerSecret(decodeURIComponent(password));
}

function readSecretFile(variable: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`]);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError([`${variable}: ${path} is empty`]);
  return value;
}
