import type { AccountInfo } from './dataset.layout.js';
import { API_NAMES, tokenConfigSchema, type ApiName, type TokenConfig } from './simulator.options.js';
import { formatMicros, MICROS_PER_SECOND, parseTimestampMicros, type Micros } from './timestamp.util.js';

const DAY = 86_400 * MICROS_PER_SECOND;

export interface TokenEntry {
  readonly label: string;
  readonly secret: string;
  readonly apis: ReadonlySet<ApiName>;
  /** Global site indexes visible to the token; undefined = all. */
  readonly sites: ReadonlySet<number> | undefined;
  readonly createdAt: Micros;
  readonly expiresAt: Micros;
  readonly rateLimitPerSecond: number | undefined;
  revoked: boolean;
}

/** A token as shown by the admin API: never the secret. */
export interface TokenInfo {
  readonly label: string;
  readonly apis: readonly ApiName[];
  readonly accountIds: readonly string[];
  readonly siteIds: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revoked: boolean;
}

export type AuthResult =
  | { readonly kind: 'missing' }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'rejected'; readonly token: TokenEntry }
  | { readonly kind: 'ok'; readonly token: TokenEntry };

const AUTH_HEADER = /^\s*apitoken\s+(\S+)\s*$/i;

/** Tokens of all simulated consoles, each scoped to its accounts, sites and APIs. */
export class TokenRegistry {
  private readonly bySecret = new Map<string, TokenEntry>();
  private readonly byLabel = new Map<string, TokenEntry>();
  private added = 0;

  constructor(
    private readonly accounts: readonly AccountInfo[],
    private readonly start: Micros,
  ) {}

  /** Adds a token; throws on a duplicate label or secret or an unknown account/site. */
  add(config: TokenConfig): TokenEntry {
    const c = tokenConfigSchema.parse(config);
    this.added += 1;
    const label = c.label ?? `token-${this.added}`;
    if (this.byLabel.has(label)) throw new Error(`token label "${label}" already exists`);
    if (this.bySecret.has(c.token)) throw new Error(`token "${label}" duplicates the secret of another token`);
    const entry: TokenEntry = {
      label,
      secret: c.token,
      apis: new Set(c.apis ?? API_NAMES),
      sites: this.scope(c.accounts, c.sites),
      createdAt: c.createdAt ? (parseTimestampMicros(c.createdAt) ?? this.start) : this.start - 30 * DAY,
      expiresAt: c.expiresAt ? (parseTimestampMicros(c.expiresAt) ?? this.start) : this.start + 180 * DAY,
      rateLimitPerSecond: c.rateLimitPerSecond,
      revoked: false,
    };
    this.bySecret.set(entry.secret, entry);
    this.byLabel.set(label, entry);
    return entry;
  }

  remove(label: string): boolean {
    const entry = this.byLabel.get(label);
    if (!entry) return false;
    this.byLabel.delete(label);
    this.bySecret.delete(entry.secret);
    return true;
  }

  revoke(label: string): boolean {
    const entry = this.byLabel.get(label);
    if (!entry) return false;
    entry.revoked = true;
    return true;
  }

  bySecretValue(secret: string): TokenEntry | undefined {
    return this.bySecret.get(secret);
  }

  /** Reads `Authorization: ApiToken <token>` (scheme case-insensitive). */
  authenticate(header: string | undefined, now: Micros): AuthResult {
    if (header === undefined) return { kind: 'missing' };
    const secret = AUTH_HEADER.exec(header)?.[1];
    if (secret === undefined) return { kind: 'missing' };
    const token = this.bySecret.get(secret);
    if (!token) return { kind: 'unknown' };
    if (token.revoked || token.expiresAt <= now) return { kind: 'rejected', token };
    return { kind: 'ok', token };
  }

  list(): TokenInfo[] {
    return [...this.byLabel.values()].map((t) => this.info(t));
  }

  info(t: TokenEntry): TokenInfo {
    const sites = this.accounts.flatMap((a) => a.sites).filter((s) => !t.sites || t.sites.has(s.index));
    return {
      label: t.label,
      apis: [...t.apis],
      accountIds: this.accounts.filter((a) => a.sites.some((s) => sites.includes(s))).map((a) => a.id),
      siteIds: sites.map((s) => s.id),
      createdAt: formatMicros(t.createdAt),
      expiresAt: formatMicros(t.expiresAt),
      revoked: t.revoked,
    };
  }

  private scope(accounts: readonly number[] | undefined, sites: readonly number[] | undefined): Set<number> | undefined {
    if (!accounts && !sites) return undefined;
    const allSites = this.accounts.flatMap((a) => a.sites);
    for (const a of accounts ?? []) if (!this.accounts[a]) throw new Error(`account index ${a} does not exist`);
    for (const s of sites ?? []) if (!allSites[s]) throw new Error(`site index ${s} does not exist`);
    return new Set(
      allSites.filter((s) => (!accounts || accounts.includes(s.accountIndex)) && (!sites || sites.includes(s.index))).map((s) => s.index),
    );
  }
}
