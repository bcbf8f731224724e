import { commonEnvShape, env, loadConfig, natsEnvShape } from '@s1c/config';
import { z } from 'zod';
import { ApiTokensError, parseApiTokens } from './api-tokens';

/** The gateway's environment, parsed once at start-up. It talks to NATS only, never to MongoDB. */
export const gatewayEnvShape = {
  ...natsEnvShape,
  LOG_LEVEL: commonEnvShape.LOG_LEVEL,
  S1C_SHUTDOWN_DEADLINE: commonEnvShape.S1C_SHUTDOWN_DEADLINE,
  /** Port of the HTTP source API. */
  S1C_GATEWAY_PORT: env.port(8081),
  /** Interface to listen on. */
  S1C_GATEWAY_HOST: z.string().min(1).default('0.0.0.0'),
  /**
   * When any token is set (here, in S1C_API_TOKENS or in S1C_API_TOKENS_FILE), every request but
   * `/healthz` must carry `Authorization: Bearer <token>`. This one is known as the caller "api".
   */
  S1C_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Named API tokens: `name:token[:expiry],...`. The name is recorded as the caller of each
   * command in the source's history; after its expiry (ISO-8601) a token is refused.
   */
  S1C_API_TOKENS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return undefined;
      try {
        return parseApiTokens(value, 'S1C_API_TOKENS');
      } catch (error) {
        if (!(error instanceof ApiTokensError)) throw error;
        ctx.addIssue({ code: 'custom', message: error.message });
        return z.NEVER;
      }
    }),
  /** A file of named API tokens, one `name:token[:expiry]` per line (`#` starts a comment); read at start-up. */
  S1C_API_TOKENS_FILE: z.string().min(1).optional(),
  /** How long the gateway waits for the registry's reply to one command (then 504). */
  S1C_COMMAND_TIMEOUT: env.durationMs('15s'),
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env) {
  return loadConfig(gatewayEnvShape, source);
}
