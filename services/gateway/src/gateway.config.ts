import { anonymousExposureProblem, commonEnvShape, ConfigError, env, loadConfig, METRICS_PORTS, metricsEnvShape, natsEnvShape } from '@s1c/config';
import { z } from 'zod';
import { ApiTokensError, parseApiTokens } from './api-tokens';

/** The gateway's environment, parsed once at start-up. It talks to NATS only, never to MongoDB. */
export const gatewayEnvShape = {
  ...natsEnvShape,
  LOG_LEVEL: commonEnvShape.LOG_LEVEL,
  S1C_SHUTDOWN_DEADLINE: commonEnvShape.S1C_SHUTDOWN_DEADLINE,
  ...metricsEnvShape(METRICS_PORTS.gateway),
  /** Port of the HTTP source API. */
  S1C_GATEWAY_PORT: env.port(8081),
  /** Interface to listen on: loopback unless named (compose names 0.0.0.0 inside the container). */
  S1C_GATEWAY_HOST: z.string().min(1).default('127.0.0.1'),
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
  /**
   * Lets the gateway listen beyond loopback (S1C_GATEWAY_HOST) without any API token, taking
   * commands from anyone who reaches it; without it, that configuration is refused at start-up.
   */
  S1C_ALLOW_ANONYMOUS: env.boolean(false),
  /** How long the gateway waits for the registry's reply to one command (then 504). */
  S1C_COMMAND_TIMEOUT: env.durationMs('15s'),
};

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;

/** The variables that give the gateway its tokens. */
export const TOKEN_VARIABLES = ['S1C_API_TOKEN', 'S1C_API_TOKENS', 'S1C_API_TOKENS_FILE'] as const;

export function loadGatewayConfig(source: Record<string, string | undefined> = process.env) {
  const config = loadConfig(gatewayEnvShape, source);
  // A token file is read at start-up; startGateway checks again once it knows what it holds.
  const problem = exposureProblem(config, Boolean(config.S1C_API_TOKEN || config.S1C_API_TOKENS?.length || config.S1C_API_TOKENS_FILE));
  if (problem) throw new ConfigError([problem]);
  return config;
}

/**
 * Why the gateway must not start as configured: it listens beyond loopback with no token and
 * S1C_ALLOW_ANONYMOUS is not true. Undefined when it may.
 */
export function exposureProblem(config: { S1C_GATEWAY_HOST: string; S1C_ALLOW_ANONYMOUS: boolean }, hasToken: boolean): string | undefined {
  return anonymousExposureProblem({
    hostVariable: 'S1C_GATEWAY_HOST',
    host: config.S1C_GATEWAY_HOST,
    hasToken,
    tokenVariables: TOKEN_VARIABLES,
    allowAnonymous: config.S1C_ALLOW_ANONYMOUS,
  });
}
