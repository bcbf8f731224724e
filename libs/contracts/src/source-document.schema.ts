import { formatMicros, parseMicros, SOURCE_APIS, type CustomField, type FieldValue, type SourceConfig } from '@s1c/domain';
import { z } from 'zod';
import { normalizeBaseUrl, type BaseUrlPolicy } from './base-url';
import { sourceOptionsSchema } from './source-options.schema';
import { isSafeText, safeText } from './text';

/** What every reply shows instead of the API token. */
export const SECRET_MASK = '********';
export const SCHEMA_REF_TYPE = 'SentinelOne Mgmt API';
export const SOURCE_TYPE = 'Universal';
export const DEFAULT_COLLECTOR_ID = 'default';

/** Metadata keys the enricher writes; a custom field may not take them over. */
export const RESERVED_FIELD_KEYS: ReadonlySet<string> = new Set([
  '_source',
  '_sourceCategory',
  '_sourceName',
  '_sourceHost',
  '_collector',
  '_siemVendor',
  '_siemProduct',
  '_siemFormat',
  '_siemEventID',
  '_siemDataType',
]);
const FORBIDDEN_FIELD_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
export const SIEM_FORWARD_FIELD = '_siemForward';
const MAX_FIELDS = 100;

export const collectorIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, "-" or "_"');

export const sourceIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a source id');

const nameSchema = safeText({ min: 1, max: 128 }).refine((value) => value.trim() === value, 'must not start or end with spaces');

const apiSecretSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(4096, 'must be at most 4096 characters')
  .regex(/^[\x21-\x7E]+$/, 'must be the API token as shown by SentinelOne (printable characters, no spaces)');

/** `fields`: a map of custom metadata, kept as ordered pairs and checked key by key. */
const fieldsSchema = z.unknown().transform((value, ctx): CustomField[] => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    ctx.addIssue({ code: 'custom', message: 'must be an object of custom fields' });
    return z.NEVER;
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_FIELDS) ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_FIELDS} fields` });
  const pairs: CustomField[] = [];
  for (const [key, raw] of entries) {
    const problem = fieldProblem(key, raw);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [key] });
    else pairs.push({ key, value: raw as FieldValue });
  }
  return pairs;
});

function fieldProblem(key: string, value: unknown): string | undefined {
  if (key.length === 0 || key.length > 128) return 'field names must be 1-128 characters';
  if (!isSafeText(key)) return 'field names must not contain control, bidirectional or invisible formatting characters';
  if (FORBIDDEN_FIELD_KEYS.has(key)) return `"${key}" is not allowed as a field name`;
  if (RESERVED_FIELD_KEYS.has(key)) return `"${key}" is set by the collector and cannot be a custom field`;
  if (key === SIEM_FORWARD_FIELD) return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (typeof value === 'string') {
    if (value.length > 1024) return 'must be at most 1024 characters';
    return isSafeText(value) ? undefined : 'must not contain control, bidirectional or invisible formatting characters';
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return undefined;
  return 'must be a string, number, boolean or null';
}

function configShape(policy: BaseUrlPolicy) {
  return {
    name: nameSchema,
    description: safeText({ max: 1024, multiline: true }).nullable().optional(),
    category: safeText({ max: 1024 }).nullable().optional(),
    fields: fieldsSchema.optional(),
    base_url: z.string().transform((value, ctx) => {
      const result = normalizeBaseUrl(value, policy);
      if (result.ok) return result.value;
      ctx.addIssue({ code: 'custom', message: result.message });
      return z.NEVER;
    }),
    supported_apis: z
      .array(z.enum(SOURCE_APIS, { error: `must be one of ${SOURCE_APIS.join(', ')}` }))
      .min(1, `must name at least one of ${SOURCE_APIS.join(', ')}`)
      .superRefine((apis, ctx) => {
        apis.forEach((api, index) => {
          if (apis.indexOf(api) !== index) ctx.addIssue({ code: 'custom', message: `"${api}" is listed twice`, path: [index] });
        });
      }),
    /** Our extension (docs/COLLECTION.md "Per-source options"): the source's own timing, scope and request budget. */
    options: sourceOptionsSchema.optional(),
  };
}

const sourceTypeShape = {
  schemaRef: z.strictObject({ type: z.literal(SCHEMA_REF_TYPE, { error: `must be "${SCHEMA_REF_TYPE}" (not modifiable)` }) }),
  sourceType: z.literal(SOURCE_TYPE, { error: `must be "${SOURCE_TYPE}" (not modifiable)` }),
};

const apiVersion = z.literal('v1', { error: 'must be "v1"' }).optional();

/**
 * The parts of a source document that only a read-back carries (the hosted product's, or this
 * system's own `get` reply): `source.id`, `source.state`, the timestamps and the top-level
 * `version`. Commands accept them so a document can be sent back as read, but they are read-only:
 * they are checked only for shape and size, then dropped, so they never reach an event.
 *
 * The most a read-only part may take, as JSON (a `state` with a clipped error reason fits easily):
 */
const MAX_READ_ONLY_JSON = 8192;
const READ_ONLY_NOTE = '(read-only: it is ignored)';

/**
 * `source.state`: an object such as `{"state": "Collecting"}`, possibly with more keys (`since`,
 * `reason`, `error`...), bounded in size. With `refuseForbiddenKeys`, a `__proto__`,
 * `constructor` or `prototype` key at any depth is refused; either way the value is never copied
 * or merged anywhere, only measured and dropped.
 */
function readOnlyStateSchema(options: { refuseForbiddenKeys: boolean }) {
  return z.unknown().superRefine((value, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `must be an object such as {"state": "Collecting"} ${READ_ONLY_NOTE}` });
      return;
    }
    if (JSON.stringify(value).length > MAX_READ_ONLY_JSON) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_READ_ONLY_JSON} characters as JSON ${READ_ONLY_NOTE}` });
      return;
    }
    if (options.refuseForbiddenKeys) {
      for (const path of forbiddenKeyPaths(value)) ctx.addIssue({ code: 'custom', message: `"${String(path.at(-1))}" is not allowed as a key`, path });
    }
  });
}

/** The paths of `__proto__`, `constructor` and `prototype` keys in a JSON value (own keys only). */
function forbiddenKeyPaths(root: unknown): PropertyKey[][] {
  const found: PropertyKey[][] = [];
  const stack: Array<{ value: unknown; path: PropertyKey[] }> = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value !== 'object' || value === null || path.length > 64) continue;
    for (const [key, inner] of Object.entries(value)) {
      const at = [...path, Array.isArray(value) ? Number(key) : key];
      if (!Array.isArray(value) && FORBIDDEN_FIELD_KEYS.has(key)) found.push(at);
      else stack.push({ value: inner, path: at });
    }
  }
  return found;
}

const readOnlyTimestampSchema = safeText({ max: 64 }).optional();

const readOnlyTimestamps = {
  createdAt: readOnlyTimestampSchema,
  modifiedAt: readOnlyTimestampSchema,
  updatedAt: readOnlyTimestampSchema,
};

/** `source.id` on create: the hosted product's (a string or a number) or this system's; ignored. */
const readOnlyIdSchema = z.union([safeText({ min: 1, max: 128 }), z.number()], {
  error: `must be a string or a number ${READ_ONLY_NOTE}`,
});

/** `version` on create: a read-back's version in the log; a new source always starts at 1. */
const readOnlyVersionSchema = z.number().int().nonnegative().optional();

/**
 * `s1c.cmd.source.create`: the hosted product's document, plus an optional collector id. A
 * read-back (the hosted product's, or this system's `get` reply without `ok`, with the real token
 * in `api_secret`) is accepted too: its read-only parts are checked for shape and size, then
 * dropped from the result. Any other unknown key is refused.
 */
export function createSourceCommandSchema(policy: BaseUrlPolicy) {
  return z
    .strictObject({
      'api.version': apiVersion,
      collectorId: collectorIdSchema.optional(),
      version: readOnlyVersionSchema,
      source: z
        .strictObject({
          config: z.strictObject({
            ...configShape(policy),
            api_secret: apiSecretSchema.refine(
              (value) => value !== SECRET_MASK,
              `is the mask \`${SECRET_MASK}\` that replies show: create needs the real API token`,
            ),
          }),
          ...sourceTypeShape,
          id: readOnlyIdSchema.optional(),
          state: readOnlyStateSchema({ refuseForbiddenKeys: true }).optional(),
          ...readOnlyTimestamps,
        })
        .transform(({ config, schemaRef, sourceType }) => ({ config, schemaRef, sourceType })),
    })
    .transform(({ version: _version, ...command }) => command);
}

/**
 * `s1c.cmd.source.update`: the source id (top level, or in the document) and the full document.
 * A document read back from a reply may be sent unchanged: `source.id` must then match, and the
 * other read-only parts (state, timestamps) are checked for shape and size like on create, then
 * dropped. `version`, here, is the If-Match version.
 */
export function updateSourceCommandSchema(policy: BaseUrlPolicy) {
  return z.strictObject({
    'api.version': apiVersion,
    id: sourceIdSchema.optional(),
    collectorId: collectorIdSchema.optional(),
    version: z.number().int().nonnegative().optional(),
    source: z
      .strictObject({
        config: z.strictObject({ ...configShape(policy), api_secret: apiSecretSchema.optional() }),
        ...sourceTypeShape,
        id: sourceIdSchema.optional(),
        // Keys such as "__proto__" inside the ignored state are tolerated here (as they always
        // were): the value is only measured, never copied, so it cannot pollute anything.
        state: readOnlyStateSchema({ refuseForbiddenKeys: false }).optional(),
        ...readOnlyTimestamps,
      })
      .transform(({ config, schemaRef, sourceType, id }) => ({ config, schemaRef, sourceType, ...(id !== undefined ? { id } : {}) })),
  });
}

/** `get`, `delete` and `restart` name one source. `version`, when given, must be current (If-Match). */
export const sourceRefCommandSchema = z.strictObject({
  id: sourceIdSchema,
  collectorId: collectorIdSchema.optional(),
  version: z.number().int().nonnegative().optional(),
});

/** `s1c.cmd.source.replay`: collect one API of a source again over `[from, to)`. */
export const replaySourceCommandSchema = z
  .strictObject({
    id: sourceIdSchema,
    collectorId: collectorIdSchema.optional(),
    api: z.enum(SOURCE_APIS, { error: `must be one of ${SOURCE_APIS.join(', ')}` }),
    from: isoTimestamp(),
    to: isoTimestamp(),
  })
  .refine((command) => command.from < command.to, { message: 'must be after from', path: ['to'] });

function isoTimestamp() {
  return z.string().transform((value, ctx) => {
    const micros = parseMicros(value);
    if (micros === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 timestamp, e.g. 2026-11-27T10:00:00Z' });
      return z.NEVER;
    }
    return formatMicros(micros);
  });
}

export type ReplaySourceCommand = z.infer<typeof replaySourceCommandSchema>;
export type CreateSourceCommand = z.infer<ReturnType<typeof createSourceCommandSchema>>;
export type UpdateSourceCommand = z.infer<ReturnType<typeof updateSourceCommandSchema>>;
export type SourceRefCommand = z.infer<typeof sourceRefCommandSchema>;
type ParsedConfig = CreateSourceCommand['source']['config'] | UpdateSourceCommand['source']['config'];

/** The domain configuration of a parsed document. */
export function toSourceConfig(config: ParsedConfig): SourceConfig {
  return {
    name: config.name,
    description: config.description ?? null,
    category: config.category ?? null,
    fields: config.fields ?? [],
    baseUrl: config.base_url,
    supportedApis: config.supported_apis,
    ...(config.options ? { options: config.options } : {}),
  };
}

/** The token a command carries, or undefined when it keeps the stored one (omitted or masked). */
export function newSecretOf(config: ParsedConfig): string | undefined {
  return config.api_secret === undefined || config.api_secret === SECRET_MASK ? undefined : config.api_secret;
}
