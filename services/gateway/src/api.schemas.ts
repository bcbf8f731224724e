import { createSourceCommandSchema, replayReplySchema, replaySourceCommandSchema, sourceDocumentSchema, testReplySchema } from '@s1c/contracts';
import { z } from 'zod';

/*
 * The bodies of the HTTP source API as zod schemas: the requests are validated with them (or with
 * the registry's own, which these are), the replies are built to them, and the OpenAPI document
 * (openapi.document.ts) is generated from them, so the document cannot drift from the code.
 */

/** One entry of an error body's `errors`: a problem, with the `path` of a bad field in `meta`. */
export const apiErrorItemSchema = z.object({
  code: z.string(),
  message: z.string(),
  meta: z.record(z.string(), z.unknown()),
});

/**
 * The hosted product's error body: the HTTP status, the request id (`X-Request-Id`, also the
 * correlation id in the registry's logs), a code, a message, and one entry per problem.
 */
export const apiErrorBodySchema = z.object({
  status: z.number().int(),
  id: z.string(),
  code: z.string(),
  message: z.string(),
  errors: z.array(apiErrorItemSchema),
});

/** What create and update take: the hosted product's document (on update `api_secret` may be left out or masked). */
export const sourceInputSchema = createSourceCommandSchema({ allowInsecure: false });

/** A source as every reply shows it; its `version` is the ETag. */
export const sourceDocumentBodySchema = sourceDocumentSchema;

/** A page of sources: pass `nextCursor` back as `cursor` for the next one (`null` on the last). */
export const sourceListSchema = z.object({ sources: z.array(sourceDocumentSchema), nextCursor: z.string().nullable() });

/** What `action/test` answers: what the console said about the stored URL and token. */
export const testResultSchema = testReplySchema.omit({ ok: true });

/** What `action/replay` takes (`id` and `collectorId` come from the path). */
export const replayInputSchema = replaySourceCommandSchema;

/** What `action/replay` answers: the window recorded for the replay lane. */
export const replayResultSchema = replayReplySchema.omit({ ok: true });
