import { SOURCE_STATES } from '@s1c/contracts';
import { z } from 'zod';

// The health service's API (services/health/README.md). Only the fields s1c shows are checked;
// `--json` prints the response as it came.

export const openHealthEventSchema = z.object({
  eventId: z.string(),
  eventName: z.string(),
  severityLevel: z.enum(['Error', 'Warning']),
  errorType: z.string(),
  eventTime: z.string(),
  description: z.string(),
  action: z.string(),
  occurrences: z.number(),
  api: z.string().nullable(),
});
export type OpenHealthEvent = z.infer<typeof openHealthEventSchema>;

export const apiStatusSchema = z.object({
  api: z.string(),
  checkpoint: z.string().nullable(),
  lagSeconds: z.number().nullable(),
  lastSuccessfulPollAt: z.string().nullable(),
  records: z.object({ total: z.number() }),
  backfill: z.object({ percent: z.number(), done: z.boolean() }).nullable(),
  failuresTotal: z.number(),
});
export type ApiStatus = z.infer<typeof apiStatusSchema>;

export const sourceStatusSchema = z.object({
  id: z.string(),
  name: z.string(),
  collectorId: z.string(),
  state: z.enum(SOURCE_STATES),
  since: z.string(),
  reason: z.string(),
  health: z.enum(['healthy', 'warning', 'error']),
  openErrors: z.number(),
  openWarnings: z.number(),
  openHealthEvents: z.array(openHealthEventSchema),
  apis: z.array(apiStatusSchema),
});
export type SourceStatus = z.infer<typeof sourceStatusSchema>;

export const sourceStatusPageSchema = z.object({
  items: z.array(sourceStatusSchema),
  total: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  offset: z.number().int().nonnegative(),
});
export type SourceStatusPage = z.infer<typeof sourceStatusPageSchema>;

export const healthApiErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.array(z.object({ message: z.string() }).loose()).optional() }),
});
