/** What replaces a secret in logs. */
export const REDACTED = '[REDACTED]';

const SECRET_KEY = /secret|passw(or)?d|authorization|token|api[-_]?key|credential|cookie/i;
const SECRET_PATTERNS: readonly RegExp[] = [
  // "Authorization: ApiToken abc..." and friends, in free text or header dumps.
  /\b(ApiToken|Bearer|Token|Basic)(\s+)(?!(?:ApiToken|Bearer|Token|Basic)\b)[A-Za-z0-9._~+/=-]{6,}/gi,
  // A JSON or query-string rendering of a field whose name says it holds a secret.
  /(["']?(?:api_secret|apiToken|api_token|password|secret|token)["']?\s*[:=]\s*["']?)([^"'\s,&}]+)/gi,
  // JSON Web Tokens.
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g,
];
const MAX_DEPTH = 8;
const MAX_KNOWN_SECRETS = 10_000;
const knownSecrets = new Set<string>();

/**
 * Registers a value (an API token the process has seen) to be replaced wherever it appears in a
 * log line, whatever the field or message it hides in. Short values are ignored: replacing every
 * "a" would make logs useless and protect nothing.
 */
export function registerSecret(value: string): void {
  if (value.length < 6 || value === '********') return;
  if (knownSecrets.size >= MAX_KNOWN_SECRETS) knownSecrets.delete(knownSecrets.values().next().value as string);
  knownSecrets.add(value);
}

/** Replaces secret-looking parts of a string. */
export function scrubString(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  out = out.replace(SECRET_PATTERNS[0]!, `$1$2${REDACTED}`);
  out = out.replace(SECRET_PATTERNS[1]!, (_m, prefix: string) => `${prefix}${REDACTED}`);
  out = out.replace(SECRET_PATTERNS[2]!, REDACTED);
  return out;
}

/**
 * A copy of `value` safe to log: fields named like secrets are replaced, strings are scrubbed,
 * errors become plain objects (type, message, stack, code, cause, own fields), cycles are cut.
 */
export function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  if (value instanceof Error) return redactError(value, depth, seen);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, depth + 1, seen));
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.constructor.name} ${value.byteLength} bytes]`;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && inner !== null && inner !== undefined && typeof inner !== 'boolean' && typeof inner !== 'number'
      ? REDACTED
      : redactDeep(inner, depth + 1, seen);
  }
  return out;
}

function redactError(error: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: error.name, message: scrubString(error.message) };
  if (error.stack) out.stack = scrubString(error.stack);
  for (const [key, inner] of Object.entries(error)) {
    out[key] = SECRET_KEY.test(key) ? REDACTED : redactDeep(inner, depth + 1, seen);
  }
  if (error.cause !== undefined) out.cause = redactDeep(error.cause, depth + 1, seen);
  return out;
}
