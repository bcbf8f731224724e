import { z } from 'zod';

/** Error codes of command replies; they follow the hosted product's names where it has one. */
export const ERROR_CODES = [
  'InvalidJson',
  'PayloadTooLarge',
  'ValidationError',
  'InvalidSourceType',
  'DuplicateResourceName',
  'SourceNotFound',
  'IllegalStateTransition',
  'VersionConflict',
  'ImmutableField',
  'CollectionNotPlanned',
  'ReplayPending',
  'Unavailable',
  'InternalError',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const errorDetailSchema = z.object({ path: z.string(), message: z.string() });
export type ErrorDetail = z.infer<typeof errorDetailSchema>;

export const errorBodySchema = z.object({
  code: z.string(),
  message: z.string(),
  details: z.array(errorDetailSchema).optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const errorReplySchema = z.object({ ok: z.literal(false), error: errorBodySchema });
export type ErrorReply = z.infer<typeof errorReplySchema>;

/** A refusal to carry out a command, with the code and details the reply shows. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: readonly ErrorDetail[],
  ) {
    super(message);
    this.name = 'CommandError';
  }

  toReply(): ErrorReply {
    return { ok: false, error: { code: this.code, message: this.message, ...(this.details ? { details: [...this.details] } : {}) } };
  }
}

/** Renders a zod path the way people write it: `source.config.supported_apis[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    const key = String(part);
    const plain = /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
    return out === '' ? plain : /^[A-Za-z_$]/.test(plain) ? `${out}.${plain}` : `${out}[${plain}]`;
  }, '');
}

const SOURCE_TYPE_PATHS = new Set(['source.schemaRef.type', 'source.sourceType']);

/** Turns zod issues into a structured refusal that names each bad field. */
export function commandErrorFromZod(error: z.ZodError): CommandError {
  const details: ErrorDetail[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) details.push({ path: formatPath([...issue.path, key]), message: 'is not a known field' });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      details.push({ path: formatPath(issue.path), message: 'is required' });
    } else {
      details.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  const wrongType = details.some((d) => SOURCE_TYPE_PATHS.has(d.path));
  const summary = details.map((d) => `${d.path || '(payload)'} ${d.message}`).join('; ');
  return wrongType
    ? new CommandError('InvalidSourceType', `this collector only takes "SentinelOne Mgmt API" sources of type "Universal": ${summary}`, details)
    : new CommandError('ValidationError', `invalid request: ${summary}`, details);
}
