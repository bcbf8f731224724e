import { commonEnvShape, env, loadConfig, natsEnvShape } from '@s1c/config';
import { z } from 'zod';

/** The gateway's environment, parsed once at start-up. It talks to NATS only, never to MongoDB. */
export const gatewayEnvShape = {
  ...natsEnvShape,
  LOG_LEVEL: commonEnvShape.LOG_LEVEL,
  /** Port of the HTTP source API. */
  S1C_GATEWAY_PORT: env.port(8081),
  /** Interface to listen on. */
  S1C_GATEWAY_HOST: z.string().min(1).default('0.0.0.0'),
  /** When set, every request but `/healthz` must carry `Authorization: Bearer <token>`. */
  S1C_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How long the gateway waits for the registry's reply to one command (then 504). */
  S1C_COMMAND_TIMEOUT: env.durationMs('15s'),
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(gatewayEnvShape, source);
}
