import { InvalidEventDocumentError } from './event-store.errors';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function childPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is storable unchanged on both FerretDB v1 and MongoDB 7 and returns a
 * copy without `undefined` object properties (JSON drops them too; BSON would store null).
 * Allowed: null, booleans, finite numbers, strings without NUL, Dates, arrays (not directly
 * nested) and plain objects whose keys neither contain '.' or NUL nor start with '$'.
 *
 * @throws InvalidEventDocumentError naming the path of the first offending value.
 */
export function toStorableDocument(value: unknown, path: string): unknown {
  return check(value, path, false);
}

function check(value: unknown, path: string, insideArray: boolean): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new InvalidEventDocumentError(path, 'string contains a NUL character');
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidEventDocumentError(path, `${value} is not a finite number`);
    return value;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidEventDocumentError(path, 'invalid Date');
    return value;
  }
  if (Array.isArray(value)) {
    // FerretDB v1 rejects an array directly inside an array.
    if (insideArray) throw new InvalidEventDocumentError(path, 'array nested directly in an array');
    return value.map((item: unknown, i) => {
      if (item === undefined) throw new InvalidEventDocumentError(`${path}[${i}]`, 'undefined in an array');
      return check(item, `${path}[${i}]`, true);
    });
  }
  if (typeof value === 'object' && isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const at = childPath(path, key);
      if (key.includes('.')) throw new InvalidEventDocumentError(at, "key contains '.'");
      if (key.startsWith('$')) throw new InvalidEventDocumentError(at, "key starts with '$'");
      if (key.includes('\0')) throw new InvalidEventDocumentError(at, 'key contains a NUL character');
      if (item !== undefined) out[key] = check(item, at, false);
    }
    return out;
  }
  const kind = typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  throw new InvalidEventDocumentError(path, `${kind} is not a JSON-like value`);
}
