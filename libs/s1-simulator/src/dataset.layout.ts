import { hash32, pick } from './hash.util.js';

/** Kinds of ids; each gets its own digit so ids of different kinds never collide. */
export const IdKind = {
  activity: 0,
  agent: 1,
  threat: 2,
  account: 3,
  site: 4,
  group: 5,
  user: 6,
  misc: 7,
  alert: 8,
} as const;
export type IdKind = (typeof IdKind)[keyof typeof IdKind];

const ID_SPREAD = 97;
const ID_LOW_DIGITS = 12;

/**
 * Ids are 19-digit strings like S1's: `1`, the kind digit, five digits from the seed, then
 * twelve digits that grow with the index. Growing with the index keeps id order equal to
 * creation order (S1 ids are time-ordered too), and the scheme is invertible so an `ids`
 * filter maps straight to indexes.
 */
export class IdCodec {
  private readonly seedDigits: string;

  constructor(private readonly seed: number) {
    this.seedDigits = String(hash32(seed, 17, 0) % 100_000).padStart(5, '0');
  }

  encode(kind: IdKind, index: number): string {
    const low = index * ID_SPREAD + (hash32(this.seed, 31 + kind, index) % ID_SPREAD);
    return `1${kind}${this.seedDigits}${String(low).padStart(ID_LOW_DIGITS, '0')}`;
  }

  /** The index an id was made from, or undefined when it is not one of ours. */
  decode(kind: IdKind, id: string): number | undefined {
    if (id.length !== 7 + ID_LOW_DIGITS || !/^\d+$/.test(id)) return undefined;
    const index = Math.floor(Number(id.slice(7)) / ID_SPREAD);
    return this.encode(kind, index) === id ? index : undefined;
  }
}

export interface GroupInfo {
  readonly id: string;
  readonly name: string;
}

export interface SiteInfo {
  /** Global site index (0-based across all accounts). */
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly accountIndex: number;
  readonly accountId: string;
  readonly accountName: string;
  readonly groups: readonly GroupInfo[];
}

export interface AccountInfo {
  readonly index: number;
  readonly id: string;
  readonly name: string;
  readonly sites: readonly SiteInfo[];
}

const ACCOUNT_NAMES = ['Acme Corp', 'Müller & Söhne GmbH', '株式会社サンプル', 'Société Générale de Test', 'Ελληνική Εταιρεία', 'Żółć Sp. z o.o.'];
const SITE_NAMES = ['Default site', 'München HQ', 'São Paulo', '東京オフィス', 'Reykjavík DC', 'Kraków'];

/** The accounts → sites → groups tree, deterministic from the seed. */
export function buildLayout(ids: IdCodec, accounts: number, sitesPerAccount: number): AccountInfo[] {
  const result: AccountInfo[] = [];
  for (let a = 0; a < accounts; a += 1) {
    const accountId = ids.encode(IdKind.account, a);
    const accountName = `${pick(ACCOUNT_NAMES, a)}${a >= ACCOUNT_NAMES.length ? ` ${a}` : ''}`;
    const sites: SiteInfo[] = [];
    for (let s = 0; s < sitesPerAccount; s += 1) {
      const index = a * sitesPerAccount + s;
      sites.push({
        index,
        id: ids.encode(IdKind.site, index),
        name: s === 0 ? 'Default site' : `${pick(SITE_NAMES, index)} ${s}`,
        accountIndex: a,
        accountId,
        accountName,
        groups: [
          { id: ids.encode(IdKind.group, index * 2), name: 'Default Group' },
          { id: ids.encode(IdKind.group, index * 2 + 1), name: 'Servidores – Producción' },
        ],
      });
    }
    result.push({ index: a, id: accountId, name: accountName, sites });
  }
  return result;
}
