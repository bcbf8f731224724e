/**
 * Who a NATS server says sent a request (from its `Nats-Request-Info` header). Every field is
 * null when the server did not say, as without NATS authentication.
 */
export interface NatsIdentity {
  readonly account: string | null;
  readonly user: string | null;
  readonly host: string | null;
  readonly clientName: string | null;
}

/**
 * Who caused an event, as recorded in its metadata:
 * - `nats`: a command sent straight over NATS (the CLI, `nats req`), as the server identified it;
 * - `http`: a caller of the HTTP gateway, named by its API token, relayed by the gateway `via`;
 *   `verified` is false when the registry could not check that the relay was a trusted gateway
 *   (NATS without authentication);
 * - `system`: one of our own components (scheduler, fetchers, the registry's deletion completer);
 * - `legacy`: an actor written before actors were structured (a bare string).
 */
export type Actor =
  | ({ readonly kind: 'nats' } & NatsIdentity)
  | { readonly kind: 'http'; readonly caller: string; readonly ip: string | null; readonly verified: boolean; readonly via: NatsIdentity }
  | { readonly kind: 'system'; readonly component: string }
  | { readonly kind: 'legacy'; readonly name: string };

/** The actor of something one of our own components did. */
export const systemActor = (component: string): Actor => ({ kind: 'system', component });

/** A NATS identity the server did not give: NATS runs without authentication. */
export const UNKNOWN_NATS_IDENTITY: NatsIdentity = { account: null, user: null, host: null, clientName: null };

/** One line for a person: `alice@OPERATORS from 10.0.0.5 (s1c-cli)`, `http ops from 10.1.2.3 via gateway@GATEWAY`, ... */
export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'nats':
      return describeNats(actor);
    case 'http': {
      const from = actor.ip ? ` from ${actor.ip}` : '';
      return `http ${actor.caller}${from} via ${describeNats(actor.via)}${actor.verified ? '' : ' (unverified)'}`;
    }
    case 'system':
      return `system ${actor.component}`;
    case 'legacy':
      return actor.name;
  }
}

function describeNats(identity: NatsIdentity): string {
  if (identity.user === null) return 'unauthenticated';
  const who = identity.account ? `${identity.user}@${identity.account}` : identity.user;
  return `${who}${identity.host ? ` from ${identity.host}` : ''}${identity.clientName ? ` (${identity.clientName})` : ''}`;
}
