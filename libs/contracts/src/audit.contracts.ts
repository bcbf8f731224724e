import { isSourceEvent, sourceHistory, type Actor, type HistoryEntry, type HistoryInput } from '@s1c/domain';
import { z } from 'zod';
import { collectorIdSchema } from './source-document.schema';

/**
 * The header a NATS server adds to a request it routes through a service import with
 * `share: true`: who sent it (account, user, host, client name). The server writes it, replacing
 * any value the sender set, so it can be trusted when it is there; without NATS authentication
 * it is absent.
 */
export const NATS_REQUEST_INFO_HEADER = 'Nats-Request-Info';

/**
 * The header the HTTP gateway adds to each command: the authenticated HTTP caller and its
 * address, as JSON `{"caller","ip"}`. The registry believes it only from a trusted gateway user.
 */
export const ON_BEHALF_OF_HEADER = 'S1c-On-Behalf-Of';

const name = z.string().min(1).max(256);

/** The part of `Nats-Request-Info` we record; unknown fields are dropped. */
export const natsRequestInfoSchema = z.object({
  acc: name.optional(),
  user: name.optional(),
  host: name.optional(),
  name: z.string().max(256).optional(),
});
export type NatsRequestInfo = z.infer<typeof natsRequestInfoSchema>;

/** A caller name of the gateway: what an API token is called (`S1C_API_TOKENS`). */
export const callerNameSchema = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_", "@" or "-"');

/** The value of {@link ON_BEHALF_OF_HEADER}. */
export const onBehalfOfSchema = z.strictObject({
  caller: callerNameSchema,
  ip: z.string().max(64).nullable(),
});
export type OnBehalfOf = z.infer<typeof onBehalfOfSchema>;

const nullableName = name.nullable();
const natsIdentityShape = { account: nullableName, user: nullableName, host: nullableName, clientName: z.string().max(256).nullable() };

/** An {@link Actor} as stored in event metadata and sent in replies. */
export const actorSchema: z.ZodType<Actor> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('nats'), ...natsIdentityShape }),
  z.object({ kind: z.literal('http'), caller: z.string().max(256), ip: z.string().max(64).nullable(), verified: z.boolean(), via: z.object(natsIdentityShape) }),
  z.object({ kind: z.literal('system'), component: name }),
  z.object({ kind: z.literal('legacy'), name: z.string().max(256) }),
]);

/**
 * The actor of an event read from the log: a structured actor as is, an older bare string as a
 * `legacy` actor, anything else (missing, malformed) as the legacy actor `unknown`.
 */
export function actorFromMetadata(stored: unknown): Actor {
  if (typeof stored === 'string') return { kind: 'legacy', name: stored.slice(0, 256) };
  const parsed = actorSchema.safeParse(stored);
  return parsed.success ? parsed.data : { kind: 'legacy', name: 'unknown' };
}

/** An event as read from the log, as far as a history needs it. */
export interface LoggedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly version: number;
  readonly metadata: { readonly actor?: unknown; readonly correlationId?: unknown };
}

/**
 * The history of one source from its stream (oldest first): the one place where the log's
 * metadata becomes a history's actor and correlation id. Events that are not Source events are
 * left out.
 */
export function historyFromLog(events: readonly LoggedEvent[]): HistoryEntry[] {
  const inputs = events.filter(isSourceEvent).map(
    (event) =>
      ({
        ...event,
        actor: actorFromMetadata(event.metadata.actor),
        correlationId: typeof event.metadata.correlationId === 'string' ? event.metadata.correlationId : null,
      }) as unknown as HistoryInput,
  );
  return sourceHistory(inputs);
}

/** One line for a person naming an actor (the domain's, re-exported for clients of the contract). */
export { describeActor } from '@s1c/domain';

/** `s1c.cmd.source.history`: one source's change history. */
export const sourceHistoryCommandSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a source id'),
  collectorId: collectorIdSchema.optional(),
});
export type SourceHistoryCommand = z.infer<typeof sourceHistoryCommandSchema>;

const historyValueSchema = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string())]);

/** One entry of a source's history (see `sourceHistory` in the domain). */
export const historyEntrySchema = z.object({
  version: z.number().int().positive(),
  at: z.string(),
  type: z.string(),
  actor: actorSchema,
  correlationId: z.string().nullable(),
  changes: z.array(z.object({ path: z.string(), from: historyValueSchema, to: historyValueSchema, masked: z.literal(true).optional() })),
});

/** The reply to `s1c.cmd.source.history`, and the body of `GET /api/v1/sources/{id}/history`. */
export const sourceHistoryReplySchema = z.object({
  ok: z.literal(true),
  sourceId: z.string(),
  entries: z.array(historyEntrySchema),
});
export type SourceHistoryReply = z.infer<typeof sourceHistoryReplySchema>;

/** `s1c.cmd.source.reencrypt`: takes no parameters (an empty body or `{}`). */
export const reencryptCommandSchema = z.strictObject({});

/** What `reencrypt` did: source ids only, never a secret. */
export const reencryptReplySchema = z.object({
  ok: z.literal(true),
  /** The key every secret is now encrypted with. */
  keyId: z.string(),
  reencrypted: z.array(z.string()),
  current: z.array(z.string()),
  failed: z.array(z.object({ id: z.string(), reason: z.string() })),
});
export type ReencryptReply = z.infer<typeof reencryptReplySchema>;
