import { describe, expect, it } from 'vitest';
import { toStorableDocument } from './event-document.validator';
import { InvalidEventDocumentError } from './event-store.errors';

function rejection(value: unknown): InvalidEventDocumentError {
  try {
    toStorableDocument(value, 'data');
  } catch (error) {
    if (error instanceof InvalidEventDocumentError) return error;
    throw error;
  }
  throw new Error('expected an InvalidEventDocumentError');
}

describe('toStorableDocument', () => {
  describe('given JSON-like data with Dates', () => {
    it('when checked, then it is returned equal, minus undefined properties', () => {
      const at = new Date('2025-01-01T00:00:00Z');
      const value = { a: 1, b: 'x', c: null, d: true, e: [1, { f: [2] }], at, gone: undefined, nested: { g: -0.5 } };
      const { gone: _gone, ...expected } = value;
      expect(toStorableDocument(value, 'data')).toEqual(expected);
      expect(Object.keys(toStorableDocument(value, 'data') as object)).not.toContain('gone');
    });
  });

  describe('when data holds something FerretDB or MongoDB would reject or change', () => {
    it.each<[string, unknown, string]>([
      ['a dotted key', { fields: { 'team.name': 1 } }, 'data.fields["team.name"]'],
      ['a $-prefixed key', { list: [{ $set: 1 }] }, 'data.list[0]["$set"]'],
      ['a NUL in a key', { ['a\0b']: 1 }, 'data["a\\u0000b"]'],
      ['a nested array', { m: [1, [2]] }, 'data.m[1]'],
      ['a NUL in a string', ['ok', 'bad\0'], 'data[1]'],
      ['NaN', { n: Number.NaN }, 'data.n'],
      ['-Infinity', { n: Number.NEGATIVE_INFINITY }, 'data.n'],
      ['an invalid Date', { d: new Date('nope') }, 'data.d'],
      ['undefined in an array', { a: [undefined] }, 'data.a[0]'],
      ['a class instance', { m: new Map() }, 'data.m'],
      ['a bigint', { b: 1n }, 'data.b'],
      ['a function', { f: () => 1 }, 'data.f'],
    ])('then %s is rejected naming its path', (_, value, path) => {
      expect(rejection(value).path).toBe(path);
    });
  });
});
