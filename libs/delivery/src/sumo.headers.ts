import type { RecordMetadata } from '@s1c/domain';

/** The HTTP headers a hosted log platform's HTTP source reads its metadata from. */
export interface SumoHeaders {
  readonly 'X-Sumo-Name': string;
  readonly 'X-Sumo-Category'?: string;
  readonly 'X-Sumo-Fields'?: string;
}

/**
 * Escapes one key or value of `X-Sumo-Fields` (and the name and category headers): the bytes
 * that would break the `k=v,k=v` syntax or the header itself are percent-encoded as UTF-8 —
 * `%` → `%25`, `,` → `%2C`, `=` → `%3D`, and every character outside printable ASCII
 * (controls, DEL, non-ASCII, e.g. `é` → `%C3%A9`). Everything else is kept as is, so ordinary
 * values (`sec/s1`, `SentinelOne`, `activities - 2001`) read unchanged and
 * `decodeURIComponent` restores any value exactly.
 */
export function escapeSumoValue(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e && ch !== '%' && ch !== ',' && ch !== '=') out += ch;
    else out += encodeURIComponent(ch.toWellFormed()).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  }
  return out;
}

/** `null` becomes an empty value; numbers and booleans their JSON text. */
function scalar(value: string | number | boolean | null): string {
  return value === null ? '' : String(value);
}

/**
 * The headers for a batch whose records share `metadata`: `X-Sumo-Name` = `_source`,
 * `X-Sumo-Category` = `_sourceCategory` (absent when the source has none), `X-Sumo-Fields` = every
 * other key, `_siem*` included, as `key=value` joined by `,`, each escaped by {@link escapeSumoValue}.
 */
export function sumoHeaders(metadata: RecordMetadata): SumoHeaders {
  const fields: string[] = [];
  for (const key of Object.keys(metadata)) {
    if (key === '_source' || key === '_sourceCategory') continue;
    fields.push(`${escapeSumoValue(key)}=${escapeSumoValue(scalar(metadata[key]!))}`);
  }
  const category = metadata._sourceCategory;
  return {
    'X-Sumo-Name': escapeSumoValue(scalar(metadata._source ?? '')),
    ...(category === undefined ? {} : { 'X-Sumo-Category': escapeSumoValue(scalar(category)) }),
    ...(fields.length > 0 ? { 'X-Sumo-Fields': fields.join(',') } : {}),
  };
}

/** Parses `X-Sumo-Fields` back into pairs (tests and receivers). */
export function parseSumoFields(header: string): Array<[string, string]> {
  if (header === '') return [];
  return header.split(',').map((pair) => {
    const at = pair.indexOf('=');
    return [decodeURIComponent(pair.slice(0, at)), decodeURIComponent(pair.slice(at + 1))];
  });
}
