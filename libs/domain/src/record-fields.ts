/**
 * A record's fields, read by path: object keys from the record down; undefined where the path
 * leads through anything that is not an object. What the fetchers read of a record (its id, its
 * timestamp, its `_siemEventID`) goes through this, so a parser can answer without building the
 * whole record (s1-client's list records read ASCII fields without decoding the record's text).
 */
export interface RecordFields {
  read(path: readonly string[]): unknown;
}

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The value at `path` inside nested objects, or undefined. */
function valueAt(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) current = isPlainObject(current) ? current[key] : undefined;
  return current;
}

/** The fields of a record already parsed. */
export function fieldsOf(value: Readonly<Record<string, unknown>>): RecordFields {
  return { read: (path) => valueAt(value, path) };
}
