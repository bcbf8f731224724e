import { isAscii, isUtf8 } from 'node:buffer';
import { z } from 'zod';

/** One record of a list page. */
export interface S1Record {
  /** The record's exact UTF-8 bytes, a view into the response body (after a byte order mark, if any). */
  readonly bytes: Uint8Array;
  /** The record's exact JSON text, so ids sent as big JSON numbers keep every digit. */
  readonly json: string;
  /** The parsed record for reading fields; integers beyond 2^53 are decimal strings. */
  readonly value: Record<string, unknown>;
  /**
   * The value at `path` (object keys, from the record down), as {@link value} has it, or undefined
   * when the path leads through something that is not an object. Reading a number, a boolean or an
   * ASCII string this way costs no second parse of a record that holds non-ASCII text.
   */
  read(path: readonly string[]): unknown;
}

/** A list response, parsed and validated. */
export interface ParsedList {
  readonly records: S1Record[];
  readonly nextCursor: string | null;
  readonly totalItems?: number;
}

/** A body that is not what the API promises; the message says what is wrong (no body text). */
export class MalformedBodyError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly: invalid bytes are an error, not U+FFFD in a stored record. */
export function decodeUtf8(body: Buffer): string {
  // ASCII is valid UTF-8 with one character per byte: the same string without the decoder's pass.
  if (isAscii(body)) return body.toString('latin1');
  try {
    return utf8.decode(body);
  } catch {
    throw new MalformedBodyError('the body is not valid UTF-8');
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const errorEntrySchema = z.object({
  code: z.union([z.number(), z.string()]).optional().catch(undefined),
  title: z.string().optional().catch(undefined),
  detail: z.string().nullish().catch(undefined),
});

/** The readable entries of S1's `errors` array; entries that are not objects are dropped. */
export function errorEntriesOf(errors: readonly unknown[]): Array<{ code?: number | string; title?: string; detail?: string }> {
  return errors.flatMap((e) => {
    const parsed = errorEntrySchema.safeParse(e);
    if (!parsed.success) return [];
    const { code, title, detail } = parsed.data;
    return [{ ...(code !== undefined ? { code } : {}), ...(title !== undefined ? { title } : {}), ...(detail ? { detail } : {}) }];
  });
}

const errorEnvelopeSchema = z.object({ errors: z.array(z.unknown()) });

const listEnvelopeSchema = z.object({
  data: z.array(z.custom<Record<string, unknown>>(isPlainObject, 'must be an object')),
  pagination: z
    .object({
      nextCursor: z.string().nullable(),
      // `skipCount=true` makes S1 answer null here.
      totalItems: z.number().int().nonnegative().nullish(),
    })
    .optional(),
  errors: z.array(z.unknown()).nullish(),
});

const objectEnvelopeSchema = z.object({
  data: z.custom<Record<string, unknown>>(isPlainObject, 'must be an object'),
  errors: z.array(z.unknown()).nullish(),
});

/** A 200 whose body carries a non-empty `errors` array (S1 does this; SEKOIA treats it as a failure). */
export class ErrorsInBodyError extends Error {
  constructor(readonly entries: unknown[]) {
    super('the response reported errors');
  }
}

interface Scan {
  /** [start, end) of integer literals outside strings that a double cannot hold exactly. */
  readonly bigInts: Array<readonly [number, number]>;
  /** [start, end) of each element of the top-level `data` array (the last `data` key, as JSON.parse does). */
  readonly dataSpans: Array<readonly [number, number]> | null;
}

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isNumberChar = (c: number): boolean => (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
const INTEGER = /^-?\d{16,}$/;
/**
 * SentinelOne records are a few levels deep. JSON.parse reads any depth, but JSON.stringify (and so
 * everything downstream: publishing, enriching) overflows the stack on a few thousand levels: a
 * hostile console could send a record that crashes every consumer it reaches.
 */
export const MAX_RECORD_DEPTH = 64;

/**
 * One pass over text already known to be valid JSON: finds big integer literals and the spans of
 * the top-level `data` elements (only the big integers when `findData` is false). Needed because
 * JSON.parse in Node 20 has no access to a number's source text, so digits past 2^53 would be
 * rounded silently.
 */
function scan(text: string, findData = true): Scan {
  const bigInts: Array<readonly [number, number]> = [];
  let dataSpans: Array<readonly [number, number]> | null = null;
  const stack: number[] = [];
  let topKey: string | null = null;
  let expectTopKey = false;
  let inData = false;
  let elementStart = -1;

  const endElement = (at: number): void => {
    if (elementStart < 0 || !dataSpans) return;
    let end = at;
    while (end > elementStart && isWhitespace(text.charCodeAt(end - 1))) end -= 1;
    dataSpans.push([elementStart, end]);
    elementStart = -1;
  };
  const startValue = (at: number): void => {
    if (inData && stack.length === 2 && elementStart < 0) elementStart = at;
  };

  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote: the next quote not escaped, i.e. after an even run of backslashes
      // (indexOf skips a string's text much faster than a loop over its characters).
      let j = i + 1;
      for (;;) {
        j = text.indexOf('"', j);
        if (j < 0) {
          j = n;
          break;
        }
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k -= 1;
        if ((j - 1 - k) % 2 === 0) break;
        j += 1;
      }
      if (stack.length === 1 && expectTopKey) {
        topKey = JSON.parse(text.slice(i, j + 1)) as string;
        expectTopKey = false;
      } else {
        startValue(i);
      }
      i = j + 1;
    } else if (c === 0x7b || c === 0x5b) {
      startValue(i);
      if (stack.length === 1 && c === 0x5b && topKey === 'data') {
        inData = true;
        dataSpans = [];
      }
      stack.push(c);
      if (stack.length > MAX_RECORD_DEPTH) throw new MalformedBodyError(`the body is nested more than ${MAX_RECORD_DEPTH} levels deep`);
      if (stack.length === 1) expectTopKey = findData && c === 0x7b;
      i += 1;
    } else if (c === 0x7d || c === 0x5d) {
      if (inData && stack.length === 2) {
        endElement(i);
        inData = false;
      }
      stack.pop();
      i += 1;
    } else if (c === 0x2c) {
      if (stack.length === 1) expectTopKey = findData;
      else if (inData && stack.length === 2) endElement(i);
      i += 1;
    } else if (isNumberChar(c)) {
      startValue(i);
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j += 1;
      if (j - i >= 16) {
        const literal = text.slice(i, j);
        if (INTEGER.test(literal) && !Number.isSafeInteger(Number(literal))) bigInts.push([i, j]);
      }
      i = j;
    } else if (c >= 0x61 && c <= 0x7a) {
      startValue(i);
      while (i < n && text.charCodeAt(i) >= 0x61 && text.charCodeAt(i) <= 0x7a) i += 1;
    } else {
      i += 1;
    }
  }
  return { bigInts, dataSpans };
}

/** The text with each big integer literal wrapped in quotes, so JSON.parse yields its exact digits. */
function quoteBigInts(text: string, bigInts: ReadonlyArray<readonly [number, number]>): string {
  let out = '';
  let at = 0;
  for (const [start, end] of bigInts) {
    out += `${text.slice(at, start)}"${text.slice(start, end)}"`;
    at = end;
  }
  return out + text.slice(at);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedBodyError(text.trim() === '' ? 'the body is empty' : 'the body is not valid JSON (truncated or not JSON at all)');
  }
}

function zodProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unexpected shape';
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  return `${path}: ${issue.message}`;
}

/**
 * Parses a list response: `{data: object[], pagination?: {nextCursor, totalItems?}}`. Throws
 * {@link MalformedBodyError} for anything else (never returns part of a page) and
 * {@link ErrorsInBodyError} when a 200 carries errors.
 *
 * The body is checked to be UTF-8 and then read one character per byte (latin1), which costs a
 * copy instead of a decode: UTF-8 encodes every non-ASCII character as bytes 0x80–0xFF, which JSON
 * only allows inside strings, so the text parses exactly when the decoded one does, to the same
 * structure, numbers, ASCII strings, and offsets that are byte offsets. Only strings holding
 * non-ASCII text come out garbled: a record that holds any is parsed again from its own bytes when
 * its {@link S1Record.value} is asked for, and {@link S1Record.read} gives a string exactly when it
 * is ASCII and asks `value` otherwise.
 */
export function parseListBody(body: Buffer): ParsedList {
  const bom = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
  const bytes = bom ? body.subarray(3) : body;
  if (!isUtf8(bytes)) throw new MalformedBodyError('the body is not valid UTF-8');
  const ascii = isAscii(bytes);
  const text = bytes.toString('latin1');
  let parsed = parseJson(text);
  // JSON.parse ran first so the scanner only ever sees valid JSON.
  const { bigInts, dataSpans } = scan(text);
  if (bigInts.length > 0) parsed = parseJson(quoteBigInts(text, bigInts));
  let envelope = listEnvelopeSchema.safeParse(parsed);
  if (!envelope.success) {
    throw new MalformedBodyError(`the body is not a SentinelOne list (${zodProblem(envelope.error)})`);
  }
  // The envelope's own strings (a cursor, errors) exactly: decoded, when they hold non-ASCII text.
  if (!ascii && (!isAsciiText(envelope.data.pagination?.nextCursor ?? '') || (envelope.data.errors?.length ?? 0) > 0)) {
    const decoded = decodeUtf8(bytes);
    envelope = listEnvelopeSchema.safeParse(parseJson(bigInts.length > 0 ? quoteBigInts(decoded, bigIntsOf(decoded)) : decoded));
    if (!envelope.success) throw new MalformedBodyError(`the body is not a SentinelOne list (${zodProblem(envelope.error)})`);
  }
  const { data, pagination, errors } = envelope.data;
  if (errors && errors.length > 0) throw new ErrorsInBodyError(errors);
  if (!dataSpans || dataSpans.length !== data.length) throw new MalformedBodyError('the data array could not be split into records');
  const records = data.map((fields, index): S1Record => {
    const [start, end] = dataSpans[index]!;
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
    return new ListRecord(view, fields, ascii || isAscii(view));
  });
  const totalItems = pagination?.totalItems ?? undefined;
  return {
    records,
    // An empty cursor would restart the walk from the first page forever.
    nextCursor: pagination?.nextCursor ? pagination.nextCursor : null,
    ...(totalItems !== undefined ? { totalItems } : {}),
  };
}

const NON_ASCII = /[\u0080-\uffff]/;
const isAsciiText = (s: string): boolean => !NON_ASCII.test(s);

/** The big integer literals of JSON text (see {@link scan}). */
const bigIntsOf = (text: string): Scan['bigInts'] => scan(text, false).bigInts;

const fieldAt = (value: unknown, path: readonly string[]): unknown => {
  let current = value;
  for (const key of path) current = isPlainObject(current) ? current[key] : undefined;
  return current;
};

/** A record of a parsed list: its bytes, and its fields as read from the body one character per byte. */
class ListRecord implements S1Record {
  #json: string | undefined;
  #value: Record<string, unknown> | undefined;

  constructor(
    readonly bytes: Uint8Array,
    /** Exact when `ascii`; otherwise exact in everything but strings holding non-ASCII text. */
    private readonly fields: Record<string, unknown>,
    private readonly ascii: boolean,
  ) {}

  get json(): string {
    this.#json ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString(this.ascii ? 'latin1' : 'utf8');
    return this.#json;
  }

  get value(): Record<string, unknown> {
    if (this.ascii) return this.fields;
    if (this.#value === undefined) {
      const json = this.json;
      const bigInts = bigIntsOf(json);
      this.#value = parseJson(bigInts.length > 0 ? quoteBigInts(json, bigInts) : json) as Record<string, unknown>;
    }
    return this.#value;
  }

  read(path: readonly string[]): unknown {
    if (this.ascii) return fieldAt(this.fields, path);
    // ASCII keys find the same fields; an ASCII string, a number, a boolean or null is the same value.
    if (path.every(isAsciiText)) {
      const field = fieldAt(this.fields, path);
      if (typeof field === 'string' ? isAsciiText(field) : field === null || typeof field !== 'object') return field;
    }
    return fieldAt(this.value, path);
  }
}

const LIST_OPEN = Buffer.from('{"data":[');
const LIST_CLOSE = Buffer.from(']}');
const COMMA = 0x2c;

/**
 * The list body `{"data":[r1,r2,...]}` of records given as their exact JSON bytes: what a fetcher
 * publishes as a raw batch. {@link parseListBody} gives each record back with the same bytes.
 */
export function listBodyOf(records: readonly Uint8Array[]): Buffer {
  let length = LIST_OPEN.length + LIST_CLOSE.length + Math.max(0, records.length - 1);
  for (const r of records) length += r.length;
  const out = Buffer.allocUnsafe(length);
  let at = LIST_OPEN.copy(out, 0);
  records.forEach((r, i) => {
    if (i > 0) out[at++] = COMMA;
    out.set(r, at);
    at += r.length;
  });
  LIST_CLOSE.copy(out, at);
  return out;
}

/**
 * The records of a list body written by {@link listBodyOf}, cut out by their byte lengths without
 * parsing (views into `body`). Checks the layout: the envelope, a comma between records, each an
 * object's braces, the lengths adding up to the body; throws {@link MalformedBodyError} naming
 * what does not fit. The records' JSON itself is not checked: whoever wrote the body parsed it.
 */
export function splitListBody(body: Uint8Array, lengths: readonly number[]): Uint8Array[] {
  let expected = LIST_OPEN.length + LIST_CLOSE.length + Math.max(lengths.length - 1, 0);
  for (const length of lengths) {
    if (!Number.isSafeInteger(length) || length < 2) throw new MalformedBodyError(`a record length is not an integer of at least 2: ${length}`);
    expected += length;
  }
  if (body.length !== expected || !bytesAt(body, LIST_OPEN, 0) || !bytesAt(body, LIST_CLOSE, body.length - LIST_CLOSE.length)) {
    throw new MalformedBodyError('the body is not the list body its record lengths describe');
  }
  const records: Uint8Array[] = [];
  let at = LIST_OPEN.length;
  for (let i = 0; i < lengths.length; i++) {
    const length = lengths[i]!;
    if (i > 0 && body[at++] !== COMMA) throw new MalformedBodyError(`the body has no comma before record ${i}`);
    if (body[at] !== 0x7b || body[at + length - 1] !== 0x7d) throw new MalformedBodyError(`record ${i} of the body is not a JSON object`);
    records.push(body.subarray(at, at + length));
    at += length;
  }
  return records;
}

function bytesAt(data: Uint8Array, expected: Uint8Array, at: number): boolean {
  if (at < 0 || at + expected.length > data.length) return false;
  for (let i = 0; i < expected.length; i++) if (data[at + i] !== expected[i]) return false;
  return true;
}

/** Parses `{"data": {...}}` (system/info, api-token-details). */
export function parseObjectBody(body: Buffer): Record<string, unknown> {
  const envelope = objectEnvelopeSchema.safeParse(parseJson(decodeUtf8(body)));
  if (!envelope.success) throw new MalformedBodyError(`the body is not a SentinelOne object response (${zodProblem(envelope.error)})`);
  if (envelope.data.errors && envelope.data.errors.length > 0) throw new ErrorsInBodyError(envelope.data.errors);
  return envelope.data.data;
}

/** The entries of an error body, or [] when it is not S1's error envelope. */
export function parseErrorBody(body: Buffer): Array<{ code?: number | string; title?: string; detail?: string }> {
  try {
    const parsed = errorEnvelopeSchema.safeParse(JSON.parse(decodeUtf8(body)));
    return parsed.success ? errorEntriesOf(parsed.data.errors) : [];
  } catch {
    return [];
  }
}
