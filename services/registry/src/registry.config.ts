import { commonEnvShape, env, loadConfig, METRICS_PORTS, metricsEnvShape } from '@s1c/config';
import { loadS1Network, s1NetworkEnvShape } from '@s1c/s1-client';
import { z } from 'zod';

/** The registry's environment, parsed once at start-up. */
export const registryEnvShape = {
  ...commonEnvShape,
  ...metricsEnvShape(METRICS_PORTS.registry),
  /** AES-256 key(s) for API tokens: `base64` or `kid:base64[,kid:base64...]`; the first encrypts. */
  S1C_SECRET_KEY: z.string().min(1),
  /** Allows http and private/loopback console URLs: for tests and the simulator only. */
  S1C_ALLOW_INSECURE_BASE_URL: env.boolean(false),
  /** How `test` reaches consoles: S1C_S1_CA_FILE, S1C_S1_PRIVATE_CONSOLES (also what create and update accept), HTTPS_PROXY, NO_PROXY. */
  ...s1NetworkEnvShape,
  /**
   * Who completes deletions (Stopping → Deleted): the scheduler, once collection has stopped, or
   * the registry at once (for a registry running without the rest of the system).
   */
  S1C_DELETION_COMPLETION: z.enum(['scheduler', 'immediate']).default('scheduler'),
  /**
   * NATS users allowed to name the HTTP caller a command is sent for (header `S1c-On-Behalf-Of`):
   * comma-separated `user` (any account) or `ACCOUNT/user`. Only used when NATS authenticates its
   * users (commands then carry `Nats-Request-Info`).
   */
  S1C_TRUSTED_GATEWAY_USERS: z
    .string()
    .default('gateway')
    .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(z.string().regex(/^([A-Za-z0-9_-]{1,64}\/)?[A-Za-z0-9._@-]{1,128}$/, 'each entry must be a NATS user or ACCOUNT/user'))),
  /** How long a tailing reader waits for a missing log position before filling it. */
  S1C_EVENT_GAP_TIMEOUT: env.durationMs('2s'),
  /** How often the registry's relay looks for outboxes other writers abandoned (a list of collection names). */
  S1C_EVENT_POLL_INTERVAL: env.durationMs('1s'),
};

export type RegistryConfig = ReturnType<typeof loadRegistryConfig>;

export function loadRegistryConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(registryEnvShape, source);
  return Object.freeze({ ...config, s1Network: loadS1Network(config) });
}
