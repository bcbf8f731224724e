import { callerNameSchema } from '@s1c/contracts';
import type { NamedToken } from '@s1c/http-kit';

/** The name `S1C_API_TOKEN` (a single unnamed token) is known by. */
export const SINGLE_TOKEN_NAME = 'api';

const TOKEN = /^[\x21-\x2B\x2D-\x39\x3B-\x7E]{16,512}$/;

/** A token list is unusable; the message names the entry, never its token. */
export class ApiTokensError extends Error {
  override readonly name = 'ApiTokensError';
}

/**
 * Parses a list of named API tokens: entries separated by commas or newlines, each
 * `name:token` or `name:token:expiry` (an ISO-8601 date or time, after which the token is
 * refused as expired). Blank lines and lines starting with `#` are skipped. Tokens are 16-512
 * printable characters without `,` or `:`; names and tokens must be unique.
 */
export function parseApiTokens(text: string, origin: string): NamedToken[] {
  const tokens: NamedToken[] = [];
  const entries = text.split(/[,\n]/).map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === '' || entry.startsWith('#')) return;
    const where = `${origin}, entry ${index + 1}`;
    const first = entry.indexOf(':');
    const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
    if (first < 0) throw new ApiTokensError(`${where}: must be name:token or name:token:expiry`);
    const name = entry.slice(0, first);
    const token = second < 0 ? entry.slice(first + 1) : entry.slice(first + 1, second);
    const expiry = second < 0 ? undefined : entry.slice(second + 1);
    if (!callerNameSchema.safeParse(name).success) throw new ApiTokensError(`${where}: the name must be 1-64 letters, digits, ".", "_", "@" or "-"`);
    if (!TOKEN.test(token)) throw new ApiTokensError(`${where} (${name}): the token must be 16-512 printable characters without "," or ":"`);
    let expiresAt: Date | undefined;
    if (expiry !== undefined) {
      expiresAt = new Date(expiry);
      if (!/^\d{4}-\d{2}-\d{2}/.test(expiry) || Number.isNaN(expiresAt.getTime())) {
        throw new ApiTokensError(`${where} (${name}): the expiry must be an ISO-8601 date or time, e.g. 2027-01-31 or 2027-01-31T12:00:00Z`);
      }
    }
    if (tokens.some((t) => t.name === name)) throw new ApiTokensError(`${where}: the name ${name} is used twice`);
    if (tokens.some((t) => t.token === token)) throw new ApiTokensError(`${where} (${name}): this token is already given to another name`);
    tokens.push(expiresAt ? { name, token, expiresAt } : { name, token });
  });
  return tokens;
}

/** The token settings of the gateway's configuration. */
export interface TokenSettings {
  readonly S1C_API_TOKEN?: string | undefined;
  readonly S1C_API_TOKENS?: readonly NamedToken[] | undefined;
  readonly S1C_API_TOKENS_FILE?: string | undefined;
}

/**
 * Every token the gateway accepts: `S1C_API_TOKEN` (named {@link SINGLE_TOKEN_NAME}), the list in
 * `S1C_API_TOKENS`, and the file `S1C_API_TOKENS_FILE` (read once, at start-up). Empty: no
 * authentication.
 */
export function configuredTokens(settings: TokenSettings, readFile: (path: string) => string): NamedToken[] {
  const all: NamedToken[] = [];
  if (settings.S1C_API_TOKEN) all.push({ name: SINGLE_TOKEN_NAME, token: settings.S1C_API_TOKEN });
  all.push(...(settings.S1C_API_TOKENS ?? []));
  if (settings.S1C_API_TOKENS_FILE) {
    let text: string;
    try {
      text = readFile(settings.S1C_API_TOKENS_FILE);
    } catch (error) {
      throw new ApiTokensError(`S1C_API_TOKENS_FILE: cannot read ${settings.S1C_API_TOKENS_FILE} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    all.push(...parseApiTokens(text, 'S1C_API_TOKENS_FILE'));
  }
  const names = new Set(all.map((t) => t.name));
  if (names.size !== all.length) throw new ApiTokensError('the same token name is configured twice (S1C_API_TOKEN is named "api")');
  if (new Set(all.map((t) => t.token)).size !== all.length) throw new ApiTokensError('the same token is configured under two names');
  return all;
}
