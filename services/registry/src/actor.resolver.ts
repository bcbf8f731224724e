import { NATS_REQUEST_INFO_HEADER, natsRequestInfoSchema, ON_BEHALF_OF_HEADER, onBehalfOfSchema } from '@s1c/contracts';
import { UNKNOWN_NATS_IDENTITY, type Actor, type NatsIdentity } from '@s1c/domain';
import type { Logger } from '@s1c/logger';

/**
 * Who may speak for HTTP callers: entries of `S1C_TRUSTED_GATEWAY_USERS`, each a NATS user
 * (`gateway`, in any account) or an account and a user (`GATEWAY/gateway`).
 */
export type TrustedGateways = readonly string[];

/**
 * The actor of a command, from its headers:
 * - `Nats-Request-Info` (written by the NATS server, see {@link NATS_REQUEST_INFO_HEADER}) names
 *   the NATS user; without it (NATS without authentication) the user is unknown;
 * - `S1c-On-Behalf-Of` (written by the gateway) names the HTTP caller. It is believed from a
 *   trusted gateway user; without NATS authentication it is recorded but marked unverified; from
 *   any other authenticated user it is ignored, with a warning.
 */
export function resolveActor(header: (name: string) => string | undefined, trusted: TrustedGateways, logger: Logger): Actor {
  const identity = natsIdentityOf(header(NATS_REQUEST_INFO_HEADER), logger);
  const claim = header(ON_BEHALF_OF_HEADER);
  if (claim === undefined) return { kind: 'nats', ...identity };
  const onBehalfOf = parseJson(claim, onBehalfOfSchema.safeParse.bind(onBehalfOfSchema));
  if (!onBehalfOf) {
    logger.warn({ sender: identity }, `a command carried a malformed ${ON_BEHALF_OF_HEADER} header; it is ignored`);
    return { kind: 'nats', ...identity };
  }
  if (identity.user === null) return { kind: 'http', ...onBehalfOf, verified: false, via: identity };
  if (isTrusted(identity, trusted)) return { kind: 'http', ...onBehalfOf, verified: true, via: identity };
  logger.warn({ sender: identity }, `a NATS user that is not a trusted gateway sent ${ON_BEHALF_OF_HEADER}; it is ignored`);
  return { kind: 'nats', ...identity };
}

function natsIdentityOf(header: string | undefined, logger: Logger): NatsIdentity {
  if (header === undefined) return UNKNOWN_NATS_IDENTITY;
  const info = parseJson(header, natsRequestInfoSchema.safeParse.bind(natsRequestInfoSchema));
  if (!info) {
    // The server writes this header, so this should not happen; record the sender as unknown.
    logger.warn({}, `a command carried a malformed ${NATS_REQUEST_INFO_HEADER} header; its sender is recorded as unknown`);
    return UNKNOWN_NATS_IDENTITY;
  }
  return { account: info.acc ?? null, user: info.user ?? null, host: info.host ?? null, clientName: info.name ?? null };
}

function isTrusted(identity: NatsIdentity, trusted: TrustedGateways): boolean {
  return trusted.some((entry) => {
    const slash = entry.indexOf('/');
    if (slash < 0) return entry === identity.user;
    return entry.slice(0, slash) === identity.account && entry.slice(slash + 1) === identity.user;
  });
}

function parseJson<T>(text: string, parse: (value: unknown) => { success: true; data: T } | { success: false }): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = parse(value);
  return result.success ? result.data : undefined;
}
