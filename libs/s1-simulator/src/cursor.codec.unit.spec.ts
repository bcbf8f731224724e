import { describe, expect, it } from 'vitest';
import { CursorCodec } from './cursor.codec.js';

const state = { key: CursorCodec.filterKey(['activities', 'demo', { sortBy: 'createdAt' }]), slot: 999, total: 12_345, issuedAt: 1_700_000_000_000_001 };

describe('CursorCodec', () => {
  it('round-trips an opaque base64 cursor', () => {
    const codec = new CursorCodec(1);
    const cursor = codec.encode(state);
    expect(cursor).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(codec.decode(cursor)).toEqual({ ok: true, state });
  });

  it('decodes a cursor whose + arrived as a space', () => {
    const codec = new CursorCodec(1);
    const cursor = codec.encode({ ...state, slot: 1 });
    expect(codec.decode(cursor.replace(/\+/g, ' '))).toMatchObject({ ok: true });
  });

  it('rejects a tampered cursor, one from another seed, and garbage', () => {
    const codec = new CursorCodec(1);
    const text = Buffer.from(codec.encode(state), 'base64').toString('utf8').replace('999', '998');
    expect(codec.decode(Buffer.from(text).toString('base64'))).toMatchObject({ ok: false });
    expect(new CursorCodec(2).decode(codec.encode(state))).toMatchObject({ ok: false });
    expect(codec.decode('YWdlbnRfaWQ6NTgwMjkzODE=')).toMatchObject({ ok: false });
    expect(codec.decode('!!!')).toMatchObject({ ok: false });
  });

  it('binds different filters to different keys', () => {
    expect(CursorCodec.filterKey(['a', { x: 1 }])).not.toBe(CursorCodec.filterKey(['a', { x: 2 }]));
  });
});
