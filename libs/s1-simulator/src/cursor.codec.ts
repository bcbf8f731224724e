import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Micros } from './timestamp.util.js';

/** What a cursor carries: the filters it is bound to, where the walk stands, and its age. */
export interface CursorState {
  /** Hash of api, token and filters: a cursor is only valid for the query that issued it. */
  readonly key: string;
  /** Last slot (log position or entity index) returned. */
  readonly slot: number;
  /** totalItems computed on the first page (null with skipCount). */
  readonly total: number | null;
  readonly issuedAt: Micros;
}

export type CursorDecode = { readonly ok: true; readonly state: CursorState } | { readonly ok: false; readonly detail: string };

/**
 * Opaque base64 cursors, signed so a tampered one is rejected. The key derives from the seed,
 * so a cursor survives a restart of a simulator with the same seed and data.
 */
export class CursorCodec {
  private readonly secret: Buffer;

  constructor(seed: number) {
    this.secret = createHash('sha256').update(`s1-simulator-cursor:${seed}`).digest();
  }

  static filterKey(parts: unknown): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
  }

  encode(state: CursorState): string {
    const body = JSON.stringify([state.key, state.slot, state.total, state.issuedAt]);
    return Buffer.from(`${body}|${this.sign(body)}`, 'utf8').toString('base64');
  }

  decode(cursor: string): CursorDecode {
    // An unencoded `+` in a query string arrives as a space.
    const text = Buffer.from(cursor.replace(/ /g, '+'), 'base64').toString('utf8');
    const bar = text.lastIndexOf('|');
    const body = text.slice(0, bar);
    const signature = Buffer.from(text.slice(bar + 1), 'utf8');
    const expected = Buffer.from(this.sign(body), 'utf8');
    if (bar < 0 || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      return { ok: false, detail: 'cursor is invalid' };
    }
    const parsed: unknown = JSON.parse(body);
    if (
      !Array.isArray(parsed) ||
      typeof parsed[0] !== 'string' ||
      typeof parsed[1] !== 'number' ||
      !(typeof parsed[2] === 'number' || parsed[2] === null) ||
      typeof parsed[3] !== 'number'
    ) {
      return { ok: false, detail: 'cursor is invalid' };
    }
    return { ok: true, state: { key: parsed[0], slot: parsed[1], total: parsed[2], issuedAt: parsed[3] } };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url').slice(0, 27);
  }
}
