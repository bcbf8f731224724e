import { describe, expect, it } from 'vitest';
import { etagOf, ifNoneMatchMatches, parseEntityTags, parseIfMatch } from './etag';

describe('ETags', () => {
  it('quote the version', () => {
    expect(etagOf(7)).toBe('"7"');
  });

  it('parse RFC 9110 lists, weak tags and *', () => {
    expect(parseEntityTags('"3"')).toEqual([{ weak: false, opaque: '3' }]);
    expect(parseEntityTags(' W/"3" , "4"')).toEqual([
      { weak: true, opaque: '3' },
      { weak: false, opaque: '4' },
    ]);
    expect(parseEntityTags('*')).toBe('*');
    expect(parseEntityTags('3')).toBeUndefined();
    expect(parseEntityTags('"3" "4"')).toBeUndefined();
    // RFC 9110 §5.6.1: recipients accept empty list elements.
    expect(parseEntityTags('"3",')).toEqual([{ weak: false, opaque: '3' }]);
    expect(parseEntityTags('"a b"')).toBeUndefined();
  });

  describe('If-Match', () => {
    it('is absent when missing or blank', () => {
      expect(parseIfMatch(undefined)).toEqual({ kind: 'absent' });
      expect(parseIfMatch('  ')).toEqual({ kind: 'absent' });
    });

    it('names the versions of its strong tags; a weak or foreign tag matches nothing', () => {
      expect(parseIfMatch('"3"')).toEqual({ kind: 'versions', versions: [3] });
      expect(parseIfMatch('"3", "5", "3"')).toEqual({ kind: 'versions', versions: [3, 5] });
      expect(parseIfMatch('W/"3"')).toEqual({ kind: 'versions', versions: [] });
      expect(parseIfMatch('"abc"')).toEqual({ kind: 'versions', versions: [] });
      expect(parseIfMatch('"03"')).toEqual({ kind: 'versions', versions: [] });
    });

    it('takes * as any version and refuses malformed headers', () => {
      expect(parseIfMatch('*')).toEqual({ kind: 'any' });
      expect(parseIfMatch('3')).toEqual({ kind: 'malformed' });
    });
  });

  describe('If-None-Match', () => {
    it('matches the current version, weakly, or *', () => {
      expect(ifNoneMatchMatches('"3"', 3)).toBe(true);
      expect(ifNoneMatchMatches('W/"3"', 3)).toBe(true);
      expect(ifNoneMatchMatches('"2", "3"', 3)).toBe(true);
      expect(ifNoneMatchMatches('*', 3)).toBe(true);
      expect(ifNoneMatchMatches('"2"', 3)).toBe(false);
      expect(ifNoneMatchMatches(undefined, 3)).toBe(false);
      expect(ifNoneMatchMatches('garbage', 3)).toBe(false);
    });
  });
});
