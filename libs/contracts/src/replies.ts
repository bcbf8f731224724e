import { ERROR_TYPES, SOURCE_APIS } from '@s1c/domain';
import { z } from 'zod';
import { collectorIdSchema, SCHEMA_REF_TYPE, SECRET_MASK, SOURCE_TYPE } from './source-document.schema';
import { sourceOptionsDocumentSchema } from './source-options.schema';

export const SOURCE_STATES = ['Pending', 'Started', 'Initialized', 'Authenticated', 'Collecting', 'Error', 'Stopping', 'Deleted'] as const;
export type SourceStateName = (typeof SOURCE_STATES)[number];

export const sourceStateSchema = z.object({
  state: z.enum(SOURCE_STATES),
  since: z.string(),
  /** Why the source is in Error: the failure that made it quit. */
  error: z.object({ errorType: z.enum(ERROR_TYPES), eventName: z.string(), reason: z.string() }).optional(),
});

/** A source as every reply shows it: the hosted product's document with id, state and the secret masked. */
export const sourceDocumentSchema = z.object({
  'api.version': z.literal('v1'),
  collectorId: collectorIdSchema,
  /** The source's version in the log; send it back as `version` (or If-Match) to update safely. */
  version: z.number().int().positive(),
  source: z.object({
    id: z.string(),
    config: z.object({
      name: z.string(),
      description: z.string().nullable(),
      category: z.string().nullable(),
      fields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
      base_url: z.string(),
      api_secret: z.literal(SECRET_MASK),
      supported_apis: z.array(z.enum(SOURCE_APIS)),
      options: sourceOptionsDocumentSchema.optional(),
    }),
    schemaRef: z.object({ type: z.literal(SCHEMA_REF_TYPE) }),
    sourceType: z.literal(SOURCE_TYPE),
    state: sourceStateSchema,
    createdAt: z.string(),
    updatedAt: z.string(),
  }),
});
export type SourceDocument = z.infer<typeof sourceDocumentSchema>;

export const sourceReplySchema = sourceDocumentSchema.extend({ ok: z.literal(true) });
export type SourceReply = z.infer<typeof sourceReplySchema>;

/** `s1c.cmd.source.list`: filters and keyset paging (pass the reply's `nextCursor` back). */
export const listSourcesCommandSchema = z.strictObject({
  collectorId: collectorIdSchema.optional(),
  state: z.union([z.enum(SOURCE_STATES), z.array(z.enum(SOURCE_STATES)).min(1)]).optional(),
  name: z.string().max(128).optional(),
  limit: z.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(512).optional(),
});
export type ListSourcesCommand = z.infer<typeof listSourcesCommandSchema>;

export const listSourcesReplySchema = z.object({
  ok: z.literal(true),
  sources: z.array(sourceDocumentSchema),
  nextCursor: z.string().nullable(),
});
export type ListSourcesReply = z.infer<typeof listSourcesReplySchema>;

export const replayReplySchema = z.object({
  ok: z.literal(true),
  sourceId: z.string(),
  api: z.enum(SOURCE_APIS),
  window: z.object({ from: z.string(), to: z.string() }),
});
export type ReplayReply = z.infer<typeof replayReplySchema>;

/** `s1c.cmd.source.test`: what the console at base_url says about the token, API by API. */
export const testReplySchema = z.object({
  ok: z.literal(true),
  base_url: z.string(),
  /** The console answered at all (false: unknown host, refused address, timeouts...). */
  reachable: z.boolean(),
  /** SentinelOne accepted the token. */
  authenticated: z.boolean(),
  /** Whether the token can read each API the source collects (or, for a document, names). */
  apis: z.partialRecord(z.enum(SOURCE_APIS), z.object({ readable: z.boolean(), reason: z.string().optional() })),
  tokenExpiresAt: z.string().nullable(),
  /** Every failure met, with its error type and what to do. */
  problems: z.array(z.object({ api: z.enum(SOURCE_APIS).optional(), errorType: z.enum(ERROR_TYPES), reason: z.string(), message: z.string() })),
});
export type TestReply = z.infer<typeof testReplySchema>;
