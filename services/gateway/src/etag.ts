/**
 * ETags of source documents: the source's version in the event log, quoted (`"7"`). The version
 * changes with every change to the source (state changes included), and it is exactly what the
 * registry checks when an update carries `version`, so a stale `If-Match` fails atomically there.
 */
export function etagOf(version: number): string {
  return `"${version}"`;
}

interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/** `*`, or the list of entity tags (RFC 9110 §8.8.3); undefined when the header is malformed. */
export function parseEntityTags(header: string): '*' | EntityTag[] | undefined {
  const text = header.trim();
  if (text === '*') return '*';
  const tags: EntityTag[] = [];
  // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc excludes DQUOTE, controls and space.
  const pattern = /\s*(W\/)?"([\x21\x23-\x7E\x80-\xFF]*)"\s*(,|$)/y;
  let at = 0;
  while (at < text.length) {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) return undefined;
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
    at = pattern.lastIndex;
    if (match[3] === '') break;
  }
  return tags.length > 0 ? tags : undefined;
}

function versionOf(opaque: string): number | undefined {
  return /^[1-9]\d{0,15}$/.test(opaque) ? Number(opaque) : undefined;
}

/** What an `If-Match` header asks for. */
export type IfMatch =
  | { readonly kind: 'absent' }
  | { readonly kind: 'malformed' }
  /** `*`: any current version (the source must exist). */
  | { readonly kind: 'any' }
  /** The versions its strong ETags name; empty when none could be ours (then nothing matches). */
  | { readonly kind: 'versions'; readonly versions: readonly number[] };

/** Reads `If-Match` with the strong comparison RFC 9110 requires: a weak ETag never matches. */
export function parseIfMatch(header: string | undefined): IfMatch {
  if (header === undefined || header.trim() === '') return { kind: 'absent' };
  const tags = parseEntityTags(header);
  if (tags === undefined) return { kind: 'malformed' };
  if (tags === '*') return { kind: 'any' };
  const versions = tags.filter((t) => !t.weak).map((t) => versionOf(t.opaque)).filter((v): v is number => v !== undefined);
  return { kind: 'versions', versions: [...new Set(versions)] };
}

/** Whether `If-None-Match` matches the current version (weak comparison, as RFC 9110 requires for it). */
export function ifNoneMatchMatches(header: string | undefined, version: number): boolean {
  if (header === undefined) return false;
  const tags = parseEntityTags(header);
  if (tags === undefined) return false;
  if (tags === '*') return true;
  return tags.some((t) => versionOf(t.opaque) === version);
}
